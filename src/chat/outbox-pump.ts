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
import type { Outbox, OutboxMessage } from "../store/store.js";
import { SendError, type DeliveryReport, type PumpTransport } from "./transport.js";

export type { PumpTransport };

/**
 * How hard the pump tries one message, and what it does when a message cannot be delivered.
 * Defaults: 5 tries, a server ack expected within 60 s of the write.
 */
export interface DeliveryPolicy {
  /** Tries of one message before it is given up (dead-lettered). */
  maxAttempts?: number;
  /** No server ack this long after the write: unknown, so it is sent again under the same id. */
  ackTimeoutMs?: number;
  /** A message given up for good (a permanent error, or out of tries): raise an incident here. */
  onDeadLetter?: (m: OutboxMessage, code: string, error: string) => void;
}

export class OutboxPump {
  private running?: Promise<void>;
  /** Aborted by kick() to cut a retry pause short (e.g. WhatsApp just reconnected). */
  private pause?: AbortController;
  private again = false;
  /** Stopping: no new round starts (a final flush aside). */
  private closing = false;
  /** Stopped: the round under way ends before its next message. */
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
    private readonly policy: DeliveryPolicy = {},
  ) {
    transport.onDelivery?.((e) => void this.reported(e).catch((err: unknown) => this.log.warn({ err }, "recording a delivery report failed")));
  }

  private get maxAttempts(): number {
    return this.policy.maxAttempts ?? 5;
  }

  private get ackTimeoutMs(): number {
    return this.policy.ackTimeoutMs ?? 60_000;
  }

  start(): void {
    this.kick();
  }

  /** Asks for a round now; rounds never overlap. */
  kick(): void {
    if (this.closing) return;
    if (this.running) {
      this.again = true;
      this.pause?.abort();
      return;
    }
    this.run();
  }

  private run(): void {
    const round = this.round().catch((err: unknown) => {
      // After stop the store may be closed under a send that outlived the budget: nothing to say.
      if (!this.stopped) this.log.error({ err }, "outbox round failed");
    });
    this.running = round.finally(() => {
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

  /**
   * Stops the pump, flushing first: what waits in the outbox goes on being sent, oldest first,
   * until the outbox is empty, a send fails (no retry pause while stopping) or `flushFor`
   * aborts. A send in progress is never cut: it finishes and is marked sent.
   *
   * @example
   * await pump.stop(AbortSignal.timeout(1_000));
   */
  async stop(flushFor?: AbortSignal): Promise<void> {
    this.closing = true;
    const halt = () => {
      this.stopped = true;
      this.stopSignal.abort();
    };
    if (!flushFor || flushFor.aborted) halt();
    else flushFor.addEventListener("abort", halt, { once: true });
    this.pause?.abort();
    if (!this.running && !this.stopped) this.run();
    await this.idle();
    flushFor?.removeEventListener("abort", halt);
    halt();
  }

  /**
   * A message failed on its own: given up when re-sending cannot help or it is out of tries
   * (dead-lettered, `onDeadLetter`), else retried later with backoff; never blocks the rest.
   */
  private async failed(m: OutboxMessage, attempts: number, code: string, error: string, permanent: boolean): Promise<void> {
    const now = this.clock.now();
    if (permanent || attempts >= this.maxAttempts) {
      await this.outbox.deadLetter(m.id, code, error, now);
      this.log.error({ outboxId: m.id, chat: m.chatId, code, attempts }, permanent ? "message cannot be delivered; not sent again" : "message given up after its last try");
      this.policy.onDeadLetter?.(m, code, error);
      return;
    }
    const wait = Math.min(this.maxRetryMs, this.retryMs * 2 ** (attempts - 1));
    await this.outbox.retryAt(m.id, error, code, now + wait);
    this.log.warn({ outboxId: m.id, code, attempts, retryInMs: wait }, "message failed; will retry it");
  }

  /** An ack, a receipt or an error ack came for a message the pump sent. */
  private async reported(e: DeliveryReport): Promise<void> {
    if (e.state === "written" || this.stopped) return;
    const change = await this.outbox.recordDelivery(e.msgId, e.state, e.code ?? null, this.clock.now());
    if (change?.state !== "failed") return;
    const [m] = await this.outbox.unacked(Number.MAX_SAFE_INTEGER, 1_000).then((rows) => rows.filter((r) => r.id === change.outboxId));
    const row = m ?? ({ id: change.outboxId, chatId: "?", text: "", attempts: change.attempts } as OutboxMessage);
    await this.failed(row, change.attempts, change.code, `error ack ${change.code}`, e.permanent === true);
    this.kick();
  }

  /** Written but never acked within the ack timeout: unknown, so sent again under the same id. */
  private async resendUnacked(): Promise<void> {
    for (const m of await this.outbox.unacked(this.clock.now() - this.ackTimeoutMs, 20)) {
      const seconds = Math.round(this.ackTimeoutMs / 1000);
      await this.failed(m, m.attempts, "no-ack", `no server ack in ${seconds} s`, false);
    }
  }

  /** Retries and unacked messages wait for their time: look again then, not in a loop. */
  private async comeBackLater(): Promise<void> {
    const s = await this.outbox.stats();
    // Stopping: what waits for a later time waits for the next start, not for this stop.
    if (this.closing || (s.queued === 0 && s.unacked === 0)) return;
    const wait = s.unacked > 0 ? Math.min(this.retryMs, this.ackTimeoutMs / 2) : this.retryMs;
    this.pause = new AbortController();
    await this.clock.sleep(wait, AbortSignal.any([this.stopSignal.signal, this.pause.signal])).catch(() => undefined);
    this.pause = undefined;
    if (!this.stopped) this.again = true;
  }

  private async round(): Promise<void> {
    for (;;) {
      if (this.transport.confirmsDelivery) await this.resendUnacked();
      const batch = await this.outbox.pending(20, this.clock.now());
      if (batch.length === 0) return this.comeBackLater();
      for (const m of batch) {
        if (this.stopped) return;
        try {
          if (m.sendingAt !== null) this.log.warn({ outboxId: m.id }, "resending a message whose last send was cut short; it may arrive twice");
          await this.outbox.markSending(m.id, this.clock.now());
          let ids: string[] | void = undefined;
          if (this.transport.sendOnce) ids = await this.transport.sendOnce(m.chatId, m.text, `outbox:${m.id}`);
          else await this.transport.send(m.chatId, m.text);
          failpoint("outbox.after-send");
          await this.outbox.markSent(m.id, this.clock.now(), ids ?? []);
          this.failures = 0;
        } catch (err) {
          // This message's own failure: the others go on (no head-of-line block).
          if (err instanceof SendError && err.scope === "message") {
            await this.failed(m, m.attempts + 1, err.code ?? "error", err.message, err.permanent);
            continue;
          }
          await this.outbox.markFailed(m.id, err instanceof Error ? err.message : String(err), this.clock.now());
          this.failures++;
          // Say it once per outage, not every few seconds while WhatsApp is away.
          if (this.failures === 1) this.log.warn({ err, outboxId: m.id }, "outbox send failed; will retry");
          else this.log.debug({ outboxId: m.id, failures: this.failures }, "outbox send failed again");
          if (this.closing) return; // kept for the next start
          const wait = Math.min(this.maxRetryMs, this.retryMs * 2 ** (this.failures - 1));
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
