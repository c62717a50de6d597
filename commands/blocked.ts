/** `/blocked <nik>` (operator): is this NIK blocked, since when, by whom, why — NIK masked. */
import { z } from "zod";
import { maskNik, nikArg, nikTokens } from "../src/nik.js";
import type { Context } from "../src/pipeline/context.js";
import { defineCommand } from "../src/pipeline/command.js";
import { echo, redact, stripControls } from "../src/text.js";

/**
 * A block's date for chat, in the configured time zone.
 *
 * @example
 * when(ctx, Date.parse("2026-02-26T00:10:00Z")); // "26-02-2026 07:10" in Asia/Jakarta
 */
export function when(ctx: Context, at: number): string {
  const parts = new Intl.DateTimeFormat("en-GB", {
    timeZone: ctx.config.timezone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  }).format(at);
  return parts.replace(/\//g, "-").replace(",", "");
}

/** A reason as it may be shown: one line, bounded, no control characters (older rows may hold some), any NIK in it masked. */
export function shownReason(ctx: Context, reason: string): string {
  return reason.trim() ? redact(echo(stripControls(reason), 200)) : ctx.t("block.no_reason");
}

export default defineCommand({
  name: "blocked",
  summary: { id: "Cek apakah NIK diblokir", en: "Is a NIK blocked?" },
  usage: "<nik>",
  role: "operator",
  args: z.object({ nik: nikArg }),
  parse(tokens) {
    // A NIK typed in spaced groups is one argument.
    const { nik, rest } = nikTokens(tokens);
    return rest.length > 0 ? "too_many" : { nik };
  },
  async run(ctx, { nik }) {
    const masked = maskNik(nik);
    const active = await ctx.store.blocked.active(nik);
    if (active) {
      return ctx.t("blocked.yes", { nik: masked, date: when(ctx, active.blockedAt), by: active.blockedBy, reason: shownReason(ctx, active.reason) });
    }
    const past = (await ctx.store.blocked.history(nik, 20)).filter((b) => b.unblockedAt !== null);
    const lines = [ctx.t("blocked.no", { nik: masked })];
    const last = past[0];
    if (last?.unblockedAt) lines.push(ctx.t("blocked.history", { count: past.length, date: when(ctx, last.unblockedAt), by: last.unblockedBy ?? "?" }));
    return lines.join("\n");
  },
});
