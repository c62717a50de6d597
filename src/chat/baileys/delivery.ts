/**
 * What happened to a message after Jaga wrote it to the socket, read from what Baileys 7
 * actually emits (its sendMessage resolves once the stanza is written, nothing more):
 *
 * - the server's `ack` stanza for the message id (`CB:ack,class:message` on the socket's
 *   WebSocket client): without `error` the server took it (acked);
 * - an error ack: Baileys' handleBadAck emits `messages.update` with `status: ERROR (0)` and
 *   `messageStubParameters: [code]` — 463 (account restricted / missing tctoken), 479 (stanza
 *   rejected: a group Jaga may not post to, a stale device session), …;
 * - receipts: `messages.update` with DELIVERY_ACK (3) / READ (4) / PLAYED (5) in direct chats,
 *   `message-receipt.update` per participant in groups.
 *
 * @example
 * watchDelivery(sock, (e) => outbox.recordDelivery(e)); // { msgId, state: "acked", at }
 * isPermanent("463"); // true: never re-send blindly
 */
import type { WASocket } from "@whiskeysockets/baileys";
import { proto } from "./lib.js";


import type { DeliveryReport } from "../transport.js";

export type DeliveryEvent = DeliveryReport;

/**
 * Codes that re-sending cannot fix: 463 (restricted account: retrying counts as another reach-out
 * and worsens it, Baileys' own comment), 479 (rejected stanza), 403/401 (not allowed in that
 * chat / not a participant), 404 (no such chat), and Jaga's own "not a WhatsApp chat".
 */
const PERMANENT = new Set(["463", "479", "401", "403", "404", "406", "not-whatsapp", "not-participant"]);

export function isPermanent(code: string | undefined): boolean {
  return code !== undefined && PERMANENT.has(code);
}

const Status = proto.WebMessageInfo.Status;

/** Attaches the listeners; returns nothing to undo, they die with the socket. */
export function watchDelivery(sock: Pick<WASocket, "ev" | "ws">, emit: (e: DeliveryEvent) => void): void {
  sock.ws.on("CB:ack,class:message", (node: { attrs?: Record<string, string> }) => {
    const { id, error } = node.attrs ?? {};
    // Error acks arrive again, with their code, as messages.update ERROR (below).
    if (id && !error) emit({ msgId: id, state: "acked" });
  });
  sock.ev.on("messages.update", (updates) => {
    for (const { key, update } of updates) {
      if (!key?.fromMe || !key.id || update.status === undefined || update.status === null) continue;
      const status = update.status;
      const first: unknown = (update.messageStubParameters as unknown[] | null | undefined)?.[0];
      if (status === Status.ERROR) {
        const code = typeof first === "string" || typeof first === "number" ? String(first) : "error";
        emit({ msgId: key.id, state: "failed", code, permanent: isPermanent(code) });
      }
      else if (status === Status.SERVER_ACK) emit({ msgId: key.id, state: "acked" });
      else if (status === Status.DELIVERY_ACK) emit({ msgId: key.id, state: "delivered" });
      else if (status === Status.READ || status === Status.PLAYED) emit({ msgId: key.id, state: "read" });
    }
  });
  sock.ev.on("message-receipt.update", (receipts) => {
    for (const { key, receipt } of receipts) {
      if (!key?.id) continue;
      emit({ msgId: key.id, state: receipt.readTimestamp ? "read" : "delivered" });
    }
  });
}
