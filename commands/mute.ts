/**
 * `/mute <app|host> <duration>`: no alerts about it for a while (planned maintenance, a known
 * flapping app). Incidents are still recorded; at most 7 days, so nothing stays muted by accident.
 */
import { z } from "zod";
import { parseDuration } from "../src/duration.js";
import { JagaError } from "../src/errors.js";
import { appName } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";

const MAX_MUTE_MS = 7 * 86_400_000;

const duration = z
  .string()
  .refine((s) => /[smhd]$/i.test(s) && (parseDuration(s) ?? 0) > 0 && parseDuration(s)! <= MAX_MUTE_MS, { message: "args.duration" })
  .transform((s) => parseDuration(s)!);

export default defineCommand({
  name: "mute",
  summary: { id: "Bisukan alert untuk sementara", en: "Mute alerts for a while" },
  usage: "<app|host> <duration>",
  role: "operator",
  args: z.object({ target: appName, duration }),
  positional: ["target", "duration"],
  run(ctx, { target, duration: ms }) {
    const watch = ctx.services.watch;
    if (!watch) throw new JagaError("watch.off");
    const until = ctx.clock.now() + ms;
    watch.state.set(`mute:${target}`, until);
    const time = new Intl.DateTimeFormat(ctx.lang === "id" ? "id-ID" : "en-GB", {
      timeZone: ctx.config.timezone,
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
    }).format(until);
    return Promise.resolve(ctx.t("mute.done", { target, until: time }));
  },
});
