/**
 * What the health endpoint and the `/wa` command may see and do with the WhatsApp connection.
 * The pipeline hands it to commands as `ctx.services.whatsapp` (absent with the console), so
 * the pipeline itself still knows nothing of transports.
 *
 * @example
 * ctx.services.whatsapp?.reconnectNow();
 */
import type { GroupReport } from "../chat/baileys/group.js";
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
