/**
 * The path around the outbox, for when the outbox itself cannot be written (Jaga's disk is
 * full): messages go straight to the transport, each dedupe key once per process, and what
 * the transport cannot take now is kept in memory (bounded) until {@link DirectSend.requeue}
 * hands it to the outbox once the store can write again.
 *
 * @example
 * const direct = new DirectSend(transport, log, clock);
 * const alert = queueOrSendDirect(queue, direct, alertChat);
 * await alert("🛑 Jaga cannot write its data …", "incident:…:open"); // outbox, or straight out
 */
import type { Clock } from "../clock.js";
import { LogLimit } from "../log-limit.js";
import type { Logger } from "../log.js";
import { isStorageError } from "../store/sqlite/db.js";
import type { Transport } from "./transport.js";

interface Held {
  chatId: string;
  text: string;
  dedupeKey?: string;
}

/** Kept for the outbox when the transport is down too; the oldest go first when it overflows. */
const MAX_HELD = 100;
/** Dedupe keys remembered; an outage long enough to pass this repeats nothing that matters. */
const MAX_KEYS = 5_000;

export class DirectSend {
  private readonly keys = new Set<string>();
  private held: Held[] = [];
  private readonly limit: LogLimit;

  constructor(
    private readonly transport: Pick<Transport, "send">,
    private readonly log: Logger,
    clock: Clock,
  ) {
    this.limit = new LogLimit(log, clock);
  }

  /** Messages the transport refused, waiting for the outbox. */
  get waiting(): number {
    return this.held.length;
  }

  /** Sends now; false when this dedupe key went out (or was held) before. */
  async send(chatId: string, text: string, dedupeKey?: string): Promise<boolean> {
    if (dedupeKey !== undefined) {
      if (this.keys.has(dedupeKey)) return false;
      if (this.keys.size >= MAX_KEYS) this.keys.delete(this.keys.values().next().value!);
      this.keys.add(dedupeKey);
    }
    try {
      await this.transport.send(chatId, text);
      this.log.warn({ chatId, dedupeKey }, "sent directly, not through the outbox (the store cannot be written)");
    } catch (err) {
      this.held.push({ chatId, text, dedupeKey });
      if (this.held.length > MAX_HELD) this.held.shift();
      this.limit.warn("direct.send", err, "direct send failed; kept in memory for the outbox");
    }
    return true;
  }

  /** Moves what the transport refused into the outbox (once the store writes again). */
  async requeue(enqueue: (m: Held) => Promise<unknown>): Promise<void> {
    while (this.held.length > 0) {
      await enqueue(this.held[0]!);
      this.held.shift();
    }
  }
}

/**
 * An alert sink that queues durably and, only when the store cannot be written, sends directly.
 *
 * @example
 * const alert = queueOrSendDirect((text, key) => outbox.enqueue({ chatId, text, dedupeKey: key, at: clock.now() }), direct, chatId);
 */
export function queueOrSendDirect(
  queue: (text: string, dedupeKey?: string) => Promise<boolean>,
  direct: DirectSend,
  chatId: string,
): (text: string, dedupeKey?: string) => Promise<boolean> {
  return async (text, dedupeKey) => {
    try {
      return await queue(text, dedupeKey);
    } catch (err) {
      if (!isStorageError(err)) throw err;
      return direct.send(chatId, text, dedupeKey);
    }
  };
}
