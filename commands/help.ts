/**
 * `/help`: only the commands the sender may run (their role and the config's per-command
 * rules), each with its usage; ⚠️ marks those that ask for a `/yes` first.
 */
import { z } from "zod";
import { defineCommand } from "../src/pipeline/command.js";
import { mayRun } from "../src/pipeline/steps/authorise.js";

export default defineCommand({
  name: "help",
  aliases: ["h", "menu", "bantuan"],
  summary: { id: "Daftar perintah", en: "List of commands" },
  role: "viewer",
  args: z.object({}),
  run(ctx) {
    const lines = ctx.commands
      .filter((c) => mayRun(ctx.config, c, ctx.sender) === true)
      .map((c) => `\`${c.usage}\` — ${c.summary[ctx.lang]}${c.destructive ? " ⚠️" : ""}`);
    return Promise.resolve(
      [ctx.t("help.header", { role: ctx.t(`role.${ctx.sender.role}`) }), ...lines, "", `_${ctx.t("help.footer")}_`, `_${ctx.t("help.confirm")}_`].join("\n"),
    );
  },
});
