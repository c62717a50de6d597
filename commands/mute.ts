/**
 * `/mute <app|host> <duration>`: no alerts about it for a while (planned maintenance, a known
 * flapping app). Incidents are still recorded; at most 7 days, so nothing stays muted by accident.
 * Only a configured host or an app some host runs can be muted: a typo must not answer "muted"
 * while the real app keeps alerting (nor leave a stray key in the store).
 */
import { z } from "zod";
import { parseDuration } from "../src/duration.js";
import { JagaError, isJagaError } from "../src/errors.js";
import { appName } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";
import type { Context } from "../src/pipeline/context.js";
import { findApp } from "../src/pipeline/host-call.js";

const MAX_MUTE_MS = 7 * 86_400_000;

const duration = z
  .string()
  .refine((s) => /[smhd]$/i.test(s) && (parseDuration(s) ?? 0) > 0 && parseDuration(s)! <= MAX_MUTE_MS, { message: "args.duration" })
  .transform((s) => parseDuration(s)!);

/**
 * Throws `mute.unknown` unless `target` is a configured host, Jaga's own pseudo-host, or an app
 * that a host runs (on several hosts is fine: a mute is by name).
 *
 * @example
 * await mustExist(ctx, "bot-kjp");
 */
export async function mustExist(ctx: Context, target: string): Promise<void> {
  if (ctx.config.hosts.some((h) => h.name === target)) return;
  if (ctx.services.watch?.self && target === "jaga") return;
  try {
    await findApp(ctx, target, undefined, "mute");
  } catch (err) {
    if (isJagaError(err) && err.code === "app.ambiguous") return;
    if (isJagaError(err) && (err.code === "app.unknown" || err.code === "host.no_apps")) {
      const params: Record<string, string> = { target, hosts: ctx.config.hosts.map((h) => `*${h.name}*`).join(", ") };
      if (typeof err.params.suggestions === "string" && err.params.suggestions) params.suggestions = err.params.suggestions;
      throw new JagaError("mute.unknown", params);
    }
    throw err;
  }
}

export default defineCommand({
  name: "mute",
  summary: { id: "Bisukan alert untuk sementara", en: "Mute alerts for a while" },
  usage: "<app|host> <duration>",
  role: "operator",
  args: z.object({ target: appName, duration }),
  positional: ["target", "duration"],
  async run(ctx, { target, duration: ms }) {
    const watch = ctx.services.watch;
    if (!watch) throw new JagaError("watch.off");
    await mustExist(ctx, target);
    const until = ctx.clock.now() + ms;
    watch.state.set(`mute:${target}`, until);
    // The date too: "until Tue 21:39" is ambiguous for a mute of up to seven days.
    const time = new Intl.DateTimeFormat(ctx.lang === "id" ? "id-ID" : "en-GB", {
      timeZone: ctx.config.timezone,
      weekday: "short",
      day: "numeric",
      month: "short",
      hour: "2-digit",
      minute: "2-digit",
    }).format(until);
    return ctx.t("mute.done", { target, until: time });
  },
});
