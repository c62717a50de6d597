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
import { exponentialBackoff } from "../policy/backoff.js";
import type { Outbox } from "../store/store.js";
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

  constructor(
    private readonly outbox: Outbox,
    private readonly transport: PumpTransport,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** Pause before retrying after a failed send; doubles while sends keep failing. */
    private readonly retryMs = 5_000,
    private readonly maxRetryMs = 60_000,
  ) {}

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
    this.running = this.round().finally(() => {
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
      const batch = await this.outbox.pending(20);
      if (batch.length === 0) return;
      for (const m of batch) {
        if (this.stopped) return;
        try {
          if (m.sendingAt !== null) this.log.warn({ outboxId: m.id }, "resending a message whose last send was cut short; it may arrive twice");
          await this.outbox.markSending(m.id, this.clock.now());
          if (this.transport.sendOnce) await this.transport.sendOnce(m.chatId, m.text, `outbox:${m.id}`);
          else await this.transport.send(m.chatId, m.text);
          failpoint("outbox.after-send");
          await this.outbox.markSent(m.id, this.clock.now());
          this.failures = 0;
        } catch (err) {
          await this.outbox.markFailed(m.id, err instanceof Error ? err.message : String(err), this.clock.now());
          this.failures++;
          // Say it once per outage, not every few seconds while WhatsApp is away.
          if (this.failures === 1) this.log.warn({ err, outboxId: m.id }, "outbox send failed; will retry");
          else this.log.debug({ outboxId: m.id, failures: this.failures }, "outbox send failed again");
          const wait = exponentialBackoff({ baseMs: this.retryMs, capMs: this.maxRetryMs }).delay(this.failures);
          this.pause = new AbortController();
          await this.clock.sleep(wait, AbortSignal.any([this.stopSignal.signal, this.pause.signal])).catch(() => undefined);
          this.pause = undefined;
          this.again = true;
          return;
        }
      }
    }
  }
}
