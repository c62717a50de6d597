/** `/audit [n]`: the last n commands (default 10, at most 50): who, what, where, how it went. */
import { z } from "zod";
import { count } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";

export default defineCommand({
  name: "audit",
  summary: { id: "Log audit perintah", en: "Command audit log" },
  usage: "[n]",
  role: "admin",
  args: z.object({ n: count(1, 50).default(10) }),
  positional: ["n"],
  async run(ctx, { n }) {
    const records = await ctx.store.audit.recent(n);
    if (records.length === 0) return ctx.t("audit.empty");
    const time = new Intl.DateTimeFormat("en-GB", {
      timeZone: ctx.config.timezone,
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hour12: false,
    });
    const lines = records.map((r) =>
      ctx.t("audit.line", {
        time: time.format(r.at),
        who: r.actorName,
        command: `/${r.command}${formatArgs(r.args)}`,
        host: r.host ? ` @${r.host}` : "",
        outcome: r.outcome,
        ms: r.durationMs,
      }),
    );
    return [ctx.t("audit.header", { count: records.length }), ...lines].join("\n");
  },
});

function formatArgs(json: string): string {
  try {
    const values = Object.entries(JSON.parse(json) as Record<string, unknown>)
      .filter(([k, v]) => k !== "host" && v !== undefined)
      .map(([, v]) => String(v));
    return values.length ? ` ${values.join(" ").slice(0, 60)}` : "";
  } catch {
    return "";
  }
}
