/**
 * `/wa`: the WhatsApp connection as /health sees it; `/wa reconnect`: connect now (skips a
 * backoff or DNS wait, lets one trial through an open breaker, resumes after a logout once
 * re-paired). The chat twins of GET /health and POST /whatsapp/reconnect, for admins.
 *
 * @example
 * /wa
 * /wa reconnect
 */
import { z } from "zod";
import { formatDuration } from "../src/duration.js";
import { groupLine } from "../src/reconnect/control.js";
import { defineCommand } from "../src/pipeline/command.js";

export default defineCommand({
  name: "wa",
  summary: { id: "Status koneksi WhatsApp; `reconnect` untuk menyambung ulang", en: "WhatsApp connection status; `reconnect` to reconnect" },
  usage: "[reconnect]",
  role: "admin",
  args: z.object({ action: z.enum(["reconnect"]).optional() }),
  positional: ["action"],
  async run(ctx, { action }) {
    const wa = ctx.services.whatsapp;
    if (!wa) return ctx.t("wa.not_active", { transport: ctx.config.transport });
    if (action === "reconnect") {
      wa.reconnectNow();
      return ctx.t("wa.reconnecting");
    }
    const s = wa.status();
    const now = ctx.clock.now();
    const queued = await wa.backlog().catch(() => -1);
    const breaker = s.breaker.state === "closed" ? `closed (${s.breaker.recentFailures})` : s.breaker.state;
    const lines = [
      ctx.t("wa.status", { state: s.state, since: formatDuration(now - s.since), attempts: s.attempts, breaker, queued }),
    ];
    if (s.lastClose) {
      lines.push(
        ctx.t("wa.status_last_close", {
          code: s.lastClose.code ?? "-",
          reason: s.lastClose.errorCode ?? s.lastClose.kind,
          ago: formatDuration(now - s.lastClose.at),
        }),
      );
    }
    if (s.nextAttemptAt !== null) lines.push(ctx.t("wa.status_next", { in: formatDuration(Math.max(0, s.nextAttemptAt - now)) }));
    if (s.systemDnsBroken) lines.push(ctx.t("wa.status_dns", { resolver: s.resolver }));
    const d = await wa.delivery?.().catch(() => null);
    if (d) {
      const oldest = d.oldestQueuedAt === null ? "—" : formatDuration(now - d.oldestQueuedAt);
      lines.push(ctx.t("wa.delivery", { queued: d.queued, unacked: d.unacked, retrying: d.retrying, dead: d.dead, oldest }));
    }
    const group = wa.alertGroup?.();
    if (group) lines.push(groupLine(group, ctx.t));
    return lines.join("\n");
  },
});
