/**
 * What the health endpoint and the `/wa` command may see and do with the WhatsApp connection.
 * The pipeline hands it to commands as `ctx.services.whatsapp` (absent with the console), so
 * the pipeline itself still knows nothing of transports.
 *
 * @example
 * ctx.services.whatsapp?.reconnectNow();
 */
import type { GroupReport } from "../chat/baileys/group.js";
import type { Translate } from "../i18n/index.js";
import type { OutboxStats } from "../store/store.js";
import type { ReconnectorStatus } from "./reconnector.js";

export interface WhatsAppControl {
  status(): ReconnectorStatus;
  /** Connect now (skips waits, lets one trial through an open breaker, resumes after a halt). */
  reconnectNow(): void;
  resetBreaker(): void;
  /** Outgoing messages waiting in the outbox. */
  backlog(): Promise<number>;
  /** Where outgoing messages stand: queued, unacked, retrying, dead-lettered, oldest queued. */
  delivery?(): Promise<OutboxStats>;
  /** Messages ignored by the transport, by reason. */
  ignored(): Record<string, number>;
  /** Whether Jaga is in the alert group and may post there; null without one. */
  alertGroup?(): GroupReport | null;
  /** The WhatsApp host, for messages and /health. */
  readonly host: string;
}

/**
 * One line on the alert group for the start-up log and `/wa`.
 *
 * @example
 * groupLine(report, t); // "👥 Alert group *Ops*: Jaga is a member and may post · admins in it: Budi · not in it: Sari"
 */
export function groupLine(r: GroupReport, t: Translate): string {
  if (r.subject === null) return t("wa.group_unknown", { group: r.jid, reason: r.lastError ?? "—" });
  const where = !r.member ? t("wa.group_not_member") : r.canPost ? t("wa.group_can_post") : t("wa.group_announce_only");
  const admins = [
    r.adminsIn.length ? t("wa.group_admins_in", { names: r.adminsIn.join(", ") }) : "",
    r.adminsMissing.length ? t("wa.group_admins_missing", { names: r.adminsMissing.join(", ") }) : "",
  ].filter(Boolean);
  return [t("wa.group", { subject: r.subject, where }), ...admins].join(" · ");
}
