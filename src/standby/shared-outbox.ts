/**
 * The outbox shared by the instances of one Jaga (`jaga.outbox`, migrations/20261216080000_standby_outbox.sql):
 * the {@link Outbox} contract of the embedded one (src/store/sqlite/outbox.ts), over
 * {@link SharedDb} — PostgREST RPC or a direct connection, the same SQL either way.
 *
 * Every write names the epoch it is made under ({@link SharedOutboxOptions.epoch}, the term held
 * now), and the database refuses it unless that is the lease's current epoch: an instance that
 * lost the lease without knowing it can neither queue nor mark a message sent in the queue the
 * new holder owns. A refused write calls `onFenced` (the keeper gives the lease up at once) and
 * throws {@link FencedError}; a write with no term held throws {@link NotActiveError} and never
 * reaches the database. Reads are not fenced: they change nothing.
 *
 * What this buys: the queue outlives the instance that filled it. An alert queued by the old
 * active instance and not yet sent is in `pending()` for the new one, and one marked sent is
 * not; the only duplicate left is the one the embedded outbox has too (a crash between the
 * transport and markSent: `sendingAt` says so, and the resend carries the same message id).
 *
 * @example
 * const outbox = new SharedOutbox({ db: standby.db, lease: "jaga", epoch: () => standby.keeper.currentEpoch(), onFenced: (d) => standby.keeper.fenced(d) });
 * await outbox.enqueue({ chatId, text, dedupeKey: "incident:…:open", at });
 * const pump = new OutboxPump(outbox, transport, clock, log);
 */
import type { DeliveryChange, Outbox, OutboxDraft, OutboxMessage, OutboxStats } from "../store/store.js";
import type { DbArg, SharedDb } from "./db.js";
import { NotActiveError, underTerm, type TermSource } from "./term.js";

export interface SharedOutboxOptions extends TermSource {
  db: SharedDb;
  lease: string;
}

interface Row {
  id: number;
  chat_id: string;
  text: string;
  dedupe_key: string | null;
  created_at: number;
  sending_at: number | null;
  sent_at: number | null;
  attempts: number;
  last_error: string | null;
  thread_key: string | null;
  edit_head: string | null;
  msg_ids: string[];
}

type Step = "sending" | "sent" | "failed" | "retry" | "dead";

export class SharedOutbox implements Outbox {
  constructor(private readonly o: SharedOutboxOptions) {}

  async enqueue(m: OutboxDraft & { at: number }): Promise<boolean> {
    return this.write("enqueue", (epoch) =>
      this.o.db.value<boolean>("jaga_outbox_enqueue", {
        p_name: this.o.lease,
        p_epoch: epoch,
        p_chat_id: m.chatId,
        p_text: m.text,
        p_dedupe_key: m.dedupeKey ?? null,
        p_at: m.at,
        p_thread: m.thread ?? null,
        p_edit: m.edit ?? null,
      }),
    );
  }

  pending(limit: number, now = Number.MAX_SAFE_INTEGER): Promise<OutboxMessage[]> {
    return this.select("pending", { p_at: now, p_limit: limit });
  }

  markSending(id: number, at: number): Promise<void> {
    return this.mark(id, "sending", at);
  }

  markSent(id: number, at: number, msgIds: readonly string[] = []): Promise<void> {
    return this.mark(id, "sent", at, { p_msg_ids: msgIds });
  }

  markFailed(id: number, error: string, at: number): Promise<void> {
    return this.mark(id, "failed", at, { p_error: error });
  }

  retryAt(id: number, error: string, code: string | null, nextAt: number): Promise<void> {
    return this.mark(id, "retry", nextAt, { p_error: error, p_code: code });
  }

  deadLetter(id: number, code: string, error: string, at: number): Promise<void> {
    return this.mark(id, "dead", at, { p_error: error, p_code: code });
  }

  async recordDelivery(msgId: string, state: "acked" | "delivered" | "read" | "failed", code: string | null, at: number): Promise<DeliveryChange[]> {
    const rows = await this.write("delivery", (epoch) =>
      this.o.db.value<{ outbox_id: number; state: DeliveryChange["state"]; code?: string; attempts?: number }[]>("jaga_outbox_record", {
        p_name: this.o.lease,
        p_epoch: epoch,
        p_msg_id: msgId,
        p_state: state,
        p_code: code,
        p_at: at,
      }),
    );
    return rows.map((r) =>
      r.state === "failed" ? { outboxId: r.outbox_id, state: "failed", code: r.code ?? "error", attempts: r.attempts ?? 0 } : { outboxId: r.outbox_id, state: r.state },
    );
  }

  unacked(before: number, limit: number): Promise<OutboxMessage[]> {
    return this.select("unacked", { p_at: before, p_limit: limit });
  }

  async get(id: number): Promise<OutboxMessage | null> {
    return (await this.select("id", { p_id: id, p_limit: 1 }))[0] ?? null;
  }

  byMessageId(msgId: string): Promise<OutboxMessage[]> {
    return this.select("msg", { p_key: msgId, p_limit: 1000 });
  }

  async byKey(dedupeKey: string): Promise<OutboxMessage | null> {
    return (await this.select("key", { p_key: dedupeKey, p_limit: 1 }))[0] ?? null;
  }

  async stats(): Promise<OutboxStats> {
    const s = await this.o.db.value<{ queued: number; unacked: number; retrying: number; dead: number; oldest: number | null }>("jaga_outbox_stats", { p_name: this.o.lease });
    return { queued: s.queued, unacked: s.unacked, retrying: s.retrying, dead: s.dead, oldestQueuedAt: s.oldest };
  }

  async backlog(): Promise<number> {
    return (await this.stats()).queued;
  }

  private async mark(id: number, step: Step, at: number, extra: Record<string, DbArg> = {}): Promise<void> {
    await this.write(step, (epoch) =>
      this.o.db.value<boolean>("jaga_outbox_mark", { p_name: this.o.lease, p_epoch: epoch, p_id: id, p_step: step, p_at: at, ...extra }),
    );
  }

  private async select(what: string, args: Record<string, DbArg>): Promise<OutboxMessage[]> {
    const rows = await this.o.db.value<Row[]>("jaga_outbox_select", { p_name: this.o.lease, p_what: what, ...args });
    return rows.map(fromRow);
  }

  /** A write under the epoch held now; fencing loses the lease. */
  private write<T>(what: string, call: (epoch: number) => Promise<T>): Promise<T> {
    return underTerm(this.o, `outbox ${what}`, call);
  }
}

function fromRow(r: Row): OutboxMessage {
  return {
    id: Number(r.id),
    chatId: r.chat_id,
    text: r.text,
    dedupeKey: r.dedupe_key,
    createdAt: Number(r.created_at),
    sendingAt: r.sending_at === null ? null : Number(r.sending_at),
    attempts: r.attempts,
    lastError: r.last_error,
    sentAt: r.sent_at === null ? null : Number(r.sent_at),
    msgIds: r.msg_ids,
    thread: r.thread_key,
    edit: r.edit_head,
  };
}

/**
 * What the active instance's pump sends from, with a standby: the shared outbox, fed from the
 * local one. Everything Jaga queues still goes to the embedded outbox first — the incident desk
 * commits an alert in the same SQLite transaction as the incident change (AlertingIncidents), a
 * reply that could not go out waits there — and each round begins by moving what waits there
 * into the shared outbox, under the term's epoch, oldest first; only then is the local row
 * marked done. A crash between the two moves it again on the next round, and the dedupe key
 * (its own, or `local:<instance>:<id>` — local ids are never reused) makes that the same row.
 * From there on the row is the lease's: whichever instance holds the next term sends it.
 *
 * @example
 * const pumpOutbox = new ForwardingOutbox(store.outbox, shared, "box-a", clock);
 * new OutboxPump(pumpOutbox, transport, clock, log);
 */
export class ForwardingOutbox implements Outbox {
  constructor(
    private readonly local: Outbox,
    private readonly shared: Outbox,
    private readonly instance: string,
    private readonly clock: { now(): number },
  ) {}

  /** Moves every locally queued message into the shared outbox; how many. */
  async forward(): Promise<number> {
    let moved = 0;
    for (;;) {
      const batch = await this.local.pending(100);
      if (batch.length === 0) return moved;
      for (const m of batch) {
        await this.shared.enqueue({
          chatId: m.chatId,
          text: m.text,
          dedupeKey: m.dedupeKey ?? `local:${this.instance}:${m.id}`,
          at: m.createdAt,
          thread: m.thread,
          edit: m.edit,
        });
        await this.local.markSent(m.id, this.clock.now());
        moved++;
      }
    }
  }

  enqueue(message: OutboxDraft & { at: number }): Promise<boolean> {
    return this.shared.enqueue(message);
  }

  /** What to send now: nothing while no term is held (a pump's last flush after the lease went). */
  async pending(limit: number, now?: number): Promise<OutboxMessage[]> {
    try {
      await this.forward();
    } catch (err) {
      if (err instanceof NotActiveError) return [];
      throw err;
    }
    return this.shared.pending(limit, now);
  }

  markSending(id: number, at: number): Promise<void> {
    return this.shared.markSending(id, at);
  }
  markSent(id: number, at: number, msgIds?: readonly string[]): Promise<void> {
    return this.shared.markSent(id, at, msgIds);
  }
  markFailed(id: number, error: string, at: number): Promise<void> {
    return this.shared.markFailed(id, error, at);
  }
  retryAt(id: number, error: string, code: string | null, nextAt: number): Promise<void> {
    return this.shared.retryAt(id, error, code, nextAt);
  }
  deadLetter(id: number, code: string, error: string, at: number): Promise<void> {
    return this.shared.deadLetter(id, code, error, at);
  }
  recordDelivery(msgId: string, state: "acked" | "delivered" | "read" | "failed", code: string | null, at: number): Promise<DeliveryChange[]> {
    return this.shared.recordDelivery(msgId, state, code, at);
  }
  unacked(before: number, limit: number): Promise<OutboxMessage[]> {
    return this.shared.unacked(before, limit);
  }
  get(id: number): Promise<OutboxMessage | null> {
    return this.shared.get(id);
  }
  byMessageId(msgId: string): Promise<OutboxMessage[]> {
    return this.shared.byMessageId(msgId);
  }
  byKey(dedupeKey: string): Promise<OutboxMessage | null> {
    return this.shared.byKey(dedupeKey);
  }
  /** The shared queue's, plus what still waits locally to be moved. */
  async stats(): Promise<OutboxStats> {
    const [s, l] = await Promise.all([this.shared.stats(), this.local.stats()]);
    const oldest = [s.oldestQueuedAt, l.oldestQueuedAt].filter((x): x is number => x !== null);
    return { ...s, queued: s.queued + l.queued, oldestQueuedAt: oldest.length ? Math.min(...oldest) : null };
  }
  async backlog(): Promise<number> {
    return (await this.shared.backlog()) + (await this.local.backlog());
  }
}
