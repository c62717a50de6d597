/**
 * `/logs <app> [lines] [host]`: the app's last error lines (default 20, at most 200), newest
 * kept when they do not all fit one WhatsApp message. Lines are masked like everything else.
 */
import { z } from "zod";
import { appName, count, hostName } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";
import { findApp } from "../src/pipeline/host-call.js";
import { stripControls } from "../src/text.js";

/** Room for one message on a phone screen, well under WhatsApp's own limit. */
const MAX_CHARS = 3_500;
const MAX_LINE = 300;

export default defineCommand({
  name: "logs",
  aliases: ["log"],
  summary: { id: "Baris error terakhir aplikasi", en: "An app's last error lines" },
  usage: "<app> [lines] [host]",
  role: "operator",
  args: z.object({ app: appName, lines: count(1, 200).default(20), host: hostName.optional() }),
  parse(tokens) {
    if (tokens.length > 3) return "too_many";
    const [app, ...rest] = tokens;
    const raw: Record<string, unknown> = { app };
    for (const tok of rest) {
      // A signed number is a (wrong) line count, not a host: `-1` is answered as such.
      if (/^[-+]?\d+$/.test(tok) && raw.lines === undefined) raw.lines = tok;
      else if (raw.host === undefined) raw.host = tok;
      else return "too_many";
    }
    return raw;
  },
  async run(ctx, { app, lines, host }) {
    const found = await findApp(ctx, app, host, "logs");
    const all = await found.host.pm2.errorLines(app, lines, ctx.exec);
    const where = { app, host: found.host.name };
    if (all.length === 0) return { host: found.host.name, text: ctx.t("logs.empty", where) };
    const { kept, trimmed } = fit(all.slice(-lines));
    const text = [
      ctx.t("logs.header", { ...where, count: kept.length }),
      "```",
      ...kept,
      "```",
      ...(trimmed ? [ctx.t("logs.trimmed")] : []),
    ].join("\n");
    return { host: found.host.name, text };
  },
});

/**
 * Keeps the newest lines that fit in one message (or in `maxChars`); long lines are cut,
 * backticks defused, terminal escapes removed.
 *
 * @example
 * fit(["old", "new"], 4); // { kept: ["new"], trimmed: true }
 */
export function fit(lines: string[], maxChars = MAX_CHARS): { kept: string[]; trimmed: boolean } {
  const kept: string[] = [];
  let size = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    let line = stripControls(lines[i]!).replace(/```/g, "'''");
    if (line.length > MAX_LINE) line = `${line.slice(0, MAX_LINE - 1)}…`;
    if (size + line.length + 1 > maxChars) return { kept: kept.reverse(), trimmed: true };
    kept.push(line);
    size += line.length + 1;
  }
  return { kept: kept.reverse(), trimmed: false };
}
