/**
 * Sends what waits in the outbox, oldest first, one at a time, through the transport. A send
 * that fails stops the round (order matters more than speed) and is retried after a pause;
 * `kick()` starts a round at once (after an enqueue, or when WhatsApp reconnects).
 *
 * Delivery is at-least-once by construction (mark sent only after the send succeeds) and
 * de-duplicated upstream by the outbox's dedupe keys. Each send is recorded as begun
 * (markSending) before the transport is called, so a crash between the transport and markSent
 * — the one window in which a message can arrive twice — is recognised on the next start: the
 * resend is logged as a possible duplicate, and goes out under the same key (`outbox:<id>`).
 *
 * @example
 * const pump = new OutboxPump(store.outbox, transport, clock, log);
 * pump.start();
 * await store.outbox.enqueue({ chatId, text, dedupeKey: "incident:7:open", at: clock.now() });
 * pump.kick();
 */
import type { Clock } from "../clock.js";
import { failpoint } from "../failpoint.js";
import type { Logger } from "../log.js";
import { LogLimit } from "../log-limit.js";
import { isStorageError } from "../store/sqlite/db.js";
import type { Outbox, OutboxMessage } from "../store/store.js";
import type { Transport } from "./transport.js";

/**
 * What the pump sends through. `sendOnce`, when the transport has it, carries the outbox row's
 * key so a re-send after a crash (sent, not yet marked) is recognisably the same message
 * (WhatsApp: the same message id) instead of a duplicate.
 */
export type PumpTransport = Pick<Transport, "send"> & { sendOnce?(chatId: string, text: string, key: string): Promise<void> };

export class OutboxPump {
  private running?: Promise<void>;
  /** Aborted by kick() to cut a retry pause short (e.g. WhatsApp just reconnected). */
  private pause?: AbortController;
  private again = false;
  private stopped = false;
  /** Failed sends in a row: the pause doubles with each, so a long outage is not a busy loop. */
  private failures = 0;
  private readonly stopSignal = new AbortController();
  /** Sent, but the store could not record it (disk full): never sent twice by this process. */
  private readonly sentUnrecorded = new Set<number>();
  private readonly limit: LogLimit;

  constructor(
    private readonly outbox: Outbox,
    private readonly transport: PumpTransport,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** Pause before retrying after a failed send; doubles while sends keep failing. */
    private readonly retryMs = 5_000,
    private readonly maxRetryMs = 60_000,
  ) {
    this.limit = new LogLimit(log, clock);
  }

  start(): void {
    this.kick();
  }

  /** Asks for a round now; rounds never overlap. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      this.pause?.abort();
      return;
    }
    this.running = this.round()
      .catch((err: unknown) => void this.limit.error("outbox.round", err, "outbox round failed"))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Resolves once the current round is over. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopSignal.abort();
    await this.idle();
  }

  private async round(): Promise<void> {
    for (;;) {
      const batch = await this.pending();
      if (batch.length === 0) return;
      for (const m of batch) {
        if (this.stopped) return;
        try {
          if (m.sendingAt !== null) this.log.warn({ outboxId: m.id }, "resending a message whose last send was cut short; it may arrive twice");
          await this.outbox.markSending(m.id, this.clock.now()).catch((err: unknown) => {
            // A full disk must not hold alerts back: send unmarked (only a crash now could repeat it).
            if (!isStorageError(err)) throw err;
          });
          if (this.transport.sendOnce) await this.transport.sendOnce(m.chatId, m.text, `outbox:${m.id}`);
          else await this.transport.send(m.chatId, m.text);
          failpoint("outbox.after-send");
          this.failures = 0;
        } catch (err) {
          await this.outbox.markFailed(m.id, err instanceof Error ? err.message : String(err), this.clock.now()).catch(() => undefined);
          this.failures++;
          // Once a minute at most, not every few seconds while WhatsApp is away.
          if (!this.limit.warn("outbox.send", err, "outbox send failed; will retry", { outboxId: m.id })) {
            this.log.debug({ outboxId: m.id, failures: this.failures }, "outbox send failed again");
          }
          const wait = Math.min(this.maxRetryMs, this.retryMs * 2 ** (this.failures - 1));
          this.pause = new AbortController();
          await this.clock.sleep(wait, AbortSignal.any([this.stopSignal.signal, this.pause.signal])).catch(() => undefined);
          this.pause = undefined;
          this.again = true;
          return;
        }
        await this.markSent(m.id);
      }
    }
  }

  /** Records a sent message; when the store cannot (disk full), remembers it in memory instead. */
  private async markSent(id: number): Promise<void> {
    try {
      await this.outbox.markSent(id, this.clock.now());
      this.sentUnrecorded.delete(id);
    } catch (err) {
      this.sentUnrecorded.add(id);
      this.limit.error("outbox.record", err, "outbox: a sent message could not be recorded", { outboxId: id });
    }
  }

  /** The unsent messages, less those sent already but not yet recorded (recording them again). */
  private async pending(): Promise<OutboxMessage[]> {
    const batch = await this.outbox.pending(20 + this.sentUnrecorded.size);
    const fresh: OutboxMessage[] = [];
    for (const m of batch) {
      if (this.sentUnrecorded.has(m.id)) await this.markSent(m.id);
      else fresh.push(m);
    }
    return fresh;
  }
}
