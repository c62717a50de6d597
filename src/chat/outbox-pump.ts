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
import { exponentialBackoff } from "../policy/backoff.js";
import { isStorageError } from "../store/sqlite/db.js";
import type { Outbox, OutboxMessage } from "../store/store.js";
import type { Pacer } from "./pacing.js";
import { SendError, type DeliveryReport, type PumpTransport, type Thread } from "./transport.js";

export type { PumpTransport };

/**
 * How long after its first send a message is still edited rather than answered. WhatsApp allows
 * edits for 15 minutes from the message's own timestamp; two minutes of margin cover a slow send,
 * a queue behind pacing and clocks that disagree, so an edit never arrives refused as too late.
 */
export const EDIT_WINDOW_MS = 13 * 60_000;

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
  /** Per-chat send budget and coalescing (WhatsApp); none: everything goes as fast as it can. */
  pacer?: Pacer;
}

export class OutboxPump {
  private running?: Promise<void>;
  /** The planned look at retries and unacked messages (comeBackLater). */
  private wake?: AbortController;
  private wakeAt = 0;
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
  /** Sent, but the store could not record it (disk full): never sent twice by this process. */
  private readonly sentUnrecorded = new Set<number>();
  private readonly limit: LogLimit;
  /**
   * Reports that came while a send was being written and recorded, replayed once it is recorded
   * (or failed): the server's ack can outrun the "sent" mark (a shared outbox's is a database
   * call per row), and would find no message id to mark — the row would then count as unacked,
   * and be sent again after the ack timeout.
   */
  private held?: DeliveryReport[];

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
    this.limit = new LogLimit(log, clock);
    transport.onDelivery?.((e) => {
      if (this.held && e.state !== "written") this.held.push(e);
      else this.report(e);
    });
  }

  /** One backoff for the pump: pauses while the transport is away, and per-message retries. */
  private get backoff() {
    return exponentialBackoff({ baseMs: this.retryMs, capMs: this.maxRetryMs });
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
      if (this.stopped) return;
      this.limit.error("outbox.round", err, "outbox round failed");
      // The outbox itself could not be read (a shared outbox's database out of reach): look
      // again later, or what waits would wait for the next message to be queued.
      if (!this.closing) this.retryLater();
    });
    this.running = round.finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** A round after the retry pause. */
  private retryLater(): void {
    this.wakeIn(this.retryMs);
  }

  /** A round in `wait` ms: one wake-up planned at a time, the earlier one wins. */
  private wakeIn(wait: number): void {
    const at = this.clock.now() + wait;
    if (this.wake && this.wakeAt <= at) return;
    this.wake?.abort();
    const wake = new AbortController();
    this.wake = wake;
    this.wakeAt = at;
    this.clock.sleep(wait, AbortSignal.any([this.stopSignal.signal, wake.signal])).then(
      () => {
        if (this.wake === wake) this.wake = undefined;
        this.kick();
      },
      () => {
        if (this.wake === wake) this.wake = undefined;
      },
    );
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
    const wait = this.backoff.delay(attempts);
    await this.outbox.retryAt(m.id, error, code, now + wait);
    this.log.warn({ outboxId: m.id, code, attempts, retryInMs: wait }, "message failed; will retry it");
  }

  private report(e: DeliveryReport): void {
    void this.reported(e).catch((err: unknown) => this.limit.warn("outbox.delivery", err, "recording a delivery report failed"));
  }

  /** The send is recorded (or failed): what came for it meanwhile is recorded now. */
  private release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const e of held) this.report(e);
  }

  /** An ack, a receipt or an error ack came for a message the pump sent. */
  private async reported(e: DeliveryReport): Promise<void> {
    if (e.state === "written" || this.stopped) return;
    const changes = await this.outbox.recordDelivery(e.msgId, e.state, e.code ?? null, this.clock.now());
    for (const change of changes) {
      if (change.state !== "failed") continue;
      const row = (await this.outbox.get(change.outboxId)) ?? ({ id: change.outboxId, chatId: "?", text: "", attempts: change.attempts } as OutboxMessage);
      await this.failed(row, change.attempts, change.code, `error ack ${change.code}`, e.permanent === true);
    }
    if (changes.some((c) => c.state === "failed")) this.kick();
  }

  /** Written but never acked within the ack timeout: unknown, so sent again under the same id. */
  private async resendUnacked(): Promise<void> {
    for (const m of await this.outbox.unacked(this.clock.now() - this.ackTimeoutMs, 20)) {
      const seconds = Math.round(this.ackTimeoutMs / 1000);
      await this.failed(m, m.attempts, "no-ack", `no server ack in ${seconds} s`, false);
    }
  }

  /**
   * Retries and unacked messages wait for their time: one wake-up is planned for then (outside
   * the round, so `idle()` does not wait for it), never a busy loop.
   */
  private async comeBackLater(slotAt: number | null = null): Promise<void> {
    if (this.stopped) return;
    const s = await this.outbox.stats();
    // Stopping: what waits for a later time waits for the next start, not for this stop.
    if (this.closing || (s.queued === 0 && s.unacked === 0)) return;
    let wait = s.unacked > 0 ? Math.min(this.retryMs, this.ackTimeoutMs / 2) : this.retryMs;
    // Held back by pacing: wake when the slot opens (a spent daily budget: at least once a minute).
    if (slotAt !== null) wait = s.unacked > 0 ? Math.min(wait, Math.max(0, slotAt - this.clock.now())) : Math.min(60_000, Math.max(0, slotAt - this.clock.now()));
    this.wakeIn(wait);
  }

  private async round(): Promise<void> {
    for (;;) {
      if (this.transport.confirmsDelivery) await this.resendUnacked();
      const batch = await this.pending();
      if (batch.length === 0) return this.comeBackLater();
      const now = this.clock.now();
      const { sends, nextAt } = this.policy.pacer
        ? this.policy.pacer.plan(batch, now, this.transport.lastOutage?.() ?? null)
        : { sends: batch.map((m) => ({ chatId: m.chatId, rows: [m], text: m.text })), nextAt: null };
      // Every chat waits for its slot: look again when the first one opens.
      if (sends.length === 0) return this.comeBackLater(nextAt);
      for (const s of sends) {
        if (this.stopped) return;
        let ids: string[] | void = undefined;
        const first = s.rows[0]!;
        this.held ??= [];
        try {
          for (const m of s.rows) {
            if (m.sendingAt !== null) this.log.warn({ outboxId: m.id }, "resending a message whose last send was cut short; it may arrive twice");
            await this.outbox.markSending(m.id, this.clock.now()).catch((err: unknown) => {
              // A full disk must not hold alerts back: send unmarked (only a crash now could repeat it).
              if (!isStorageError(err)) throw err;
            });
          }
          // One row keeps its own key (a re-send is the same WhatsApp message); a coalesced
          // message is keyed by the rows it carries.
          const key = s.rows.length === 1 ? `outbox:${first.id}` : `outbox:${first.id}+${s.rows.length}`;
          const thread = s.rows.length === 1 ? await this.threadOf(first) : null;
          const text = thread?.mode === "edit" ? `${first.edit}\n\n${thread.text}` : s.text;
          if (this.transport.sendOnce) ids = await this.transport.sendOnce(s.chatId, text, key, thread ?? undefined);
          else await this.transport.send(s.chatId, text);
          failpoint("outbox.after-send");
          this.failures = 0;
        } catch (err) {
          this.release();
          // This message's own failure: the others go on (no head-of-line block).
          if (err instanceof SendError && err.scope === "message") {
            for (const m of s.rows) await this.failed(m, m.attempts + 1, err.code ?? "error", err.message, err.permanent);
            continue;
          }
          for (const m of s.rows) {
            await this.outbox.markFailed(m.id, err instanceof Error ? err.message : String(err), this.clock.now()).catch(() => undefined);
          }
          this.failures++;
          // Once a minute at most, not every few seconds while WhatsApp is away.
          if (!this.limit.warn("outbox.send", err, "outbox send failed; will retry", { outboxId: first.id })) {
            this.log.debug({ outboxId: first.id, failures: this.failures }, "outbox send failed again");
          }
          if (this.closing) return; // kept for the next start
          const wait = this.backoff.delay(this.failures);
          this.pause = new AbortController();
          await this.clock.sleep(wait, AbortSignal.any([this.stopSignal.signal, this.pause.signal])).catch(() => undefined);
          this.pause = undefined;
          this.again = true;
          return;
        }
        this.policy.pacer?.sent(s.chatId, this.clock.now());
        for (const m of s.rows) await this.markSent(m.id, ids ?? []);
        this.release();
      }
    }
  }

  /**
   * How a message continues its thread, or null to send it on its own: its first message went
   * out (else there is nothing to attach it to), and it is an edit only while WhatsApp still
   * allows one and the first message carried nothing else (an edit of a coalesced message would
   * erase the alerts it shared that message with).
   */
  private async threadOf(m: OutboxMessage): Promise<Thread | null> {
    if (!m.thread) return null;
    const first = await this.outbox.byKey(m.thread);
    if (!first || first.sentAt === null || first.chatId !== m.chatId) return null;
    const shared = (await Promise.all(first.msgIds.map((id) => this.outbox.byMessageId(id)))).some((rows) => rows.length > 1);
    const editable = m.edit !== null && !shared && this.clock.now() - first.sentAt < EDIT_WINDOW_MS;
    return { mode: editable ? "edit" : "quote", ids: first.msgIds, text: first.text };
  }

  /** Records a sent message; when the store cannot (disk full), remembers it in memory instead. */
  private async markSent(id: number, msgIds: readonly string[] = []): Promise<void> {
    try {
      await this.outbox.markSent(id, this.clock.now(), msgIds);
      this.sentUnrecorded.delete(id);
    } catch (err) {
      this.sentUnrecorded.add(id);
      this.limit.error("outbox.record", err, "outbox: a sent message could not be recorded", { outboxId: id });
    }
  }

  /** The unsent messages, less those sent already but not yet recorded (recording them again). */
  private async pending(): Promise<OutboxMessage[]> {
    const batch = await this.outbox.pending(20 + this.sentUnrecorded.size, this.clock.now());
    const fresh: OutboxMessage[] = [];
    for (const m of batch) {
      if (this.sentUnrecorded.has(m.id)) await this.markSent(m.id);
      else fresh.push(m);
    }
    return fresh;
  }
}
