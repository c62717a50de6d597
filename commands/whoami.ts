/** `/whoami`: who Jaga thinks you are and what you may do. */
import { z } from "zod";
import { defineCommand } from "../src/pipeline/command.js";

export default defineCommand({
  name: "whoami",
  summary: { id: "Identitas dan peran Anda", en: "Who you are to Jaga" },
  role: "viewer",
  args: z.object({}),
  run(ctx) {
    const { name, id, role, language } = ctx.sender;
    return Promise.resolve(ctx.t("whoami", { name, phone: id, role: ctx.t(`role.${role}`), language }));
  },
});
