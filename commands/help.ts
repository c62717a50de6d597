/** `/help`: only the commands the sender's role may run, each with its usage. */
import { z } from "zod";
import { allows, defineCommand } from "../src/pipeline/command.js";

export default defineCommand({
  name: "help",
  aliases: ["h", "menu", "bantuan"],
  summary: { id: "Daftar perintah", en: "List of commands" },
  role: "viewer",
  args: z.object({}),
  run(ctx) {
    const lines = ctx.commands
      .filter((c) => allows(ctx.sender.role, c.role))
      .map((c) => `\`${c.usage}\` — ${c.summary[ctx.lang]}`);
    return Promise.resolve(
      [ctx.t("help.header", { role: ctx.t(`role.${ctx.sender.role}`) }), ...lines, "", `_${ctx.t("help.footer")}_`].join("\n"),
    );
  },
});
