/**
 * `/incident <id>`: one incident on one phone screen — what and where, its state and summary,
 * the evidence kept when it opened (newest lines kept when it does not fit), and its timeline in
 * the configured timezone: "14:02 opened · 14:32 reminded · 14:35 acked by Oki · 14:36
 * /restart bot-kjp stb by Oki · 15:10 resolved after 30m quiet".
 */
import { z } from "zod";
import { formatClock, formatDuration } from "../src/duration.js";
import { JagaError } from "../src/errors.js";
import { isMessageKey, type Translate } from "../src/i18n/index.js";
import { count } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";
import type { IncidentEvent } from "../src/store/store.js";
import { KIND_ICONS } from "../src/watch/desk.js";
import { fit } from "./logs.js";

/** The evidence block's share of the message; the rest is headline and timeline. */
const EVIDENCE_CHARS = 2_000;
/** More events than this (reminders of a long incident) show the first and the newest. */
const MAX_EVENTS = 12;

export default defineCommand({
  name: "incident",
  summary: { id: "Bukti dan kronologi satu insiden", en: "One incident's evidence and timeline" },
  usage: "<id>",
  role: "viewer",
  args: z.object({ id: count(1, 1_000_000_000) }),
  parse: (tokens) => (tokens.length > 1 ? "too_many" : { id: tokens[0]?.replace(/^#/, "") }),
  async run(ctx, { id }) {
    const watch = ctx.services.watch;
    if (!watch) throw new JagaError("watch.off");
    const incident = await watch.incidents.get(id);
    const story = incident && (await watch.incidents.timeline(id));
    if (!incident || !story) return ctx.t("ack.unknown", { id });
    const { t } = ctx;
    const kindKey = `kind.${incident.kind}`;
    const where = incident.app ? t("alert.where_app", { app: incident.app, host: incident.host }) : t("alert.where_host", { host: incident.host });
    const lines = [
      t("incident.headline", {
        icon: KIND_ICONS[incident.kind] ?? "🚨",
        kind: isMessageKey(kindKey) ? t(kindKey) : incident.kind,
        where,
        state: t(`incident.state.${incident.state}`),
      }),
      t("incident.summary", { id, summary: incident.summary || "-" }),
    ];
    if (story.evidence.length) {
      const { kept, trimmed } = fit(story.evidence, EVIDENCE_CHARS);
      lines.push(t("incident.evidence"), "```", ...kept, "```", ...(trimmed ? [t("logs.trimmed")] : []));
    } else {
      lines.push(t("incident.no_evidence"));
    }
    lines.push(t("incident.timeline", { events: timeline(story.events, t, ctx.config.timezone) }));
    return { host: incident.host, text: lines.join("\n") };
  },
});

/**
 * The events as one line; a long one keeps the first two and the newest.
 *
 * @example
 * timeline([{ at, kind: "opened", by: null, detail: null }], t, "Asia/Jakarta"); // "14:02 opened"
 */
export function timeline(events: readonly IncidentEvent[], t: Translate, timeZone: string): string {
  const shown = events.map((e) => eventText(e, t, timeZone));
  if (shown.length <= MAX_EVENTS) return shown.join(" · ") || "-";
  const tail = shown.slice(-(MAX_EVENTS - 3));
  return [...shown.slice(0, 2), t("incident.ev.more", { count: shown.length - 2 - tail.length }), ...tail].join(" · ");
}

function eventText(e: IncidentEvent, t: Translate, timeZone: string): string {
  const time = formatClock(e.at, timeZone);
  const who = e.by ?? "?";
  switch (e.kind) {
    case "opened":
      return t("incident.ev.opened", { time });
    case "reminded":
      return t("incident.ev.reminded", { time });
    case "acknowledged":
      return t("incident.ev.acknowledged", { time, who });
    case "action":
      return t("incident.ev.action", { time, command: e.detail ?? "?", who });
    case "resolved": {
      const quiet = e.detail === null ? NaN : Number(e.detail);
      return Number.isFinite(quiet) ? t("incident.ev.resolved_quiet", { time, duration: formatDuration(quiet) }) : t("incident.ev.resolved", { time });
    }
  }
}
