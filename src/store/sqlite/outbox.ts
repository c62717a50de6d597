/**
 * The outbox in SQLite: every alert and digest is written here first and sent from here, so a
 * WhatsApp outage or a Jaga restart loses nothing, and a dedupe key keeps a restarted Jaga from
 * queueing the same alert twice.
 *
 * A send has three recorded steps: queued (the row), sending (`sending_at`, written just before
 * the transport is called) and sent (`sent_at`). A row found with `sending_at` but no `sent_at`
 * after a crash may already have been delivered: it is sent again (at-least-once; an alert is
 * never dropped on a guess) and the pump says so. That resend is the only way a message can
 * arrive twice; WhatsApp sends it under the same message id so the receiver drops the copy.
 *
 * {@link outboxTable} is synchronous so an incident change and its alert can commit in one
 * transaction (see incidents.ts); everyone else uses {@link sqliteOutbox}.
 */
import type { DeliveryChange, Outbox, OutboxDraft, OutboxMessage } from "../store.js";
import type { Db, Migration } from "./db.js";

export const outboxMigrations: Migration[] = [
  {
    name: "outbox.001.create",
    sql: `CREATE TABLE outbox (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            chat_id    TEXT    NOT NULL,
            text       TEXT    NOT NULL,
            dedupe_key TEXT    UNIQUE,
            created_at INTEGER NOT NULL,
            sent_at    INTEGER,
            attempts   INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
          );
          CREATE INDEX outbox_unsent ON outbox(id) WHERE sent_at IS NULL;`,
  },
  {
    name: "outbox.002.sending",
    sql: `ALTER TABLE outbox ADD COLUMN sending_at INTEGER;`,
  },
  {
    // Delivery you can verify: queued → sending → sent (written) → acked → delivered/read, or
    // retried later (next_at), or dead (dead_at, error_code). One row may be several WhatsApp
    // messages (alerts to each admin when there is no group), and one message may carry several
    // rows (alerts coalesced under pacing); outbox_wa maps ids and rows both ways.
    name: "outbox.003.delivery",
    sql: `ALTER TABLE outbox ADD COLUMN next_at INTEGER;
          ALTER TABLE outbox ADD COLUMN acked_at INTEGER;
          ALTER TABLE outbox ADD COLUMN delivered_at INTEGER;
          ALTER TABLE outbox ADD COLUMN dead_at INTEGER;
          ALTER TABLE outbox ADD COLUMN error_code TEXT;
          CREATE TABLE outbox_wa (
            msg_id    TEXT    NOT NULL,
            outbox_id INTEGER NOT NULL REFERENCES outbox(id),
            state     TEXT    NOT NULL DEFAULT 'written',
            code      TEXT,
            at        INTEGER NOT NULL,
            PRIMARY KEY (msg_id, outbox_id)
          ) WITHOUT ROWID;
          CREATE INDEX outbox_wa_row ON outbox_wa(outbox_id);
          DROP INDEX outbox_unsent;
          CREATE INDEX outbox_unsent ON outbox(id) WHERE sent_at IS NULL AND dead_at IS NULL;
          CREATE INDEX outbox_unacked ON outbox(sent_at) WHERE sent_at IS NOT NULL AND acked_at IS NULL AND dead_at IS NULL;`,
  },
  {
    // Threads: a later message of an incident names its opening alert (by dedupe key) and is sent
    // as an edit of it while WhatsApp allows, else as a quoted reply to it.
    name: "outbox.004.thread",
    sql: `ALTER TABLE outbox ADD COLUMN thread_key TEXT;
          ALTER TABLE outbox ADD COLUMN edit_head TEXT;`,
  },
];

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
  msg_ids: string | null;
  thread_key: string | null;
  edit_head: string | null;
}

/** Ranks of a WhatsApp message's states: a late "acked" never undoes "read". */
const RANK: Record<string, number> = { written: 0, acked: 1, delivered: 2, read: 3, failed: 4 };

/** The outbox's writes, synchronous, for use inside another table's transaction. */
export interface OutboxTable {
  /** Queues a message; false when its dedupeKey was queued before (sent or not). */
  enqueue(m: OutboxDraft & { at: number }): boolean;
}

/**
 * @example
 * const outbox = outboxTable(db);
 * db.transaction(() => { change(); outbox.enqueue({ chatId, text, dedupeKey, at }); })();
 */
export function outboxTable(db: Db): OutboxTable {
  const exists = db.prepare<[string], { id: number }>(`SELECT id FROM outbox WHERE dedupe_key = ?`);
  const insert = db.prepare(`INSERT INTO outbox (chat_id, text, dedupe_key, created_at, thread_key, edit_head) VALUES (?, ?, ?, ?, ?, ?)`);
  return {
    // Look first rather than INSERT … ON CONFLICT DO NOTHING: a conflicting insert still burns an
    // AUTOINCREMENT id (the same cause as the skipped incident numbers, see incidents.ts).
    enqueue: (m) => {
      if (m.dedupeKey != null && exists.get(m.dedupeKey)) return false;
      insert.run(m.chatId, m.text, m.dedupeKey ?? null, m.at, m.thread ?? null, m.thread ? (m.edit ?? null) : null);
      return true;
    },
  };
}

/**
 * @example
 * const outbox = sqliteOutbox(db);
 * await outbox.enqueue({ chatId, text, dedupeKey: "incident:…:open", at });
 */
export function sqliteOutbox(db: Db): Outbox {
  const table = outboxTable(db);
  const enqueue = db.transaction((m: OutboxDraft & { at: number }) => table.enqueue(m));
  const select = `SELECT o.*, (SELECT group_concat(msg_id) FROM outbox_wa w WHERE w.outbox_id = o.id) AS msg_ids FROM outbox o`;
  const pending = db.prepare<[number, number], Row>(
    `${select} WHERE sent_at IS NULL AND dead_at IS NULL AND coalesce(next_at, 0) <= ? ORDER BY id LIMIT ?`,
  );
  const sending = db.prepare(`UPDATE outbox SET sending_at = ?, attempts = attempts + 1 WHERE id = ?`);
  const sent = db.prepare(`UPDATE outbox SET sent_at = ?, next_at = NULL WHERE id = ?`);
  const mapId = db.prepare(`INSERT INTO outbox_wa (msg_id, outbox_id, state, at) VALUES (?, ?, 'written', ?)
                            ON CONFLICT(msg_id, outbox_id) DO UPDATE SET state = 'written', code = NULL, at = excluded.at`);
  // A failed send ended: known not delivered, so the row is no longer "maybe sent".
  const failed = db.prepare(`UPDATE outbox SET last_error = ?, sending_at = NULL WHERE id = ?`);
  const retry = db.prepare(`UPDATE outbox SET last_error = ?, error_code = ?, next_at = ?, sending_at = NULL, sent_at = NULL WHERE id = ?`);
  const dead = db.prepare(`UPDATE outbox SET error_code = ?, last_error = ?, dead_at = ?, sending_at = NULL WHERE id = ?`);
  const msgs = db.prepare<[string], { outbox_id: number; state: string }>(`SELECT outbox_id, state FROM outbox_wa WHERE msg_id = ?`);
  const setMsg = db.prepare(`UPDATE outbox_wa SET state = ?, code = ?, at = ? WHERE msg_id = ? AND outbox_id = ?`);
  const rowOf = db.prepare<[number], { attempts: number; acked_at: number | null; dead_at: number | null }>(
    `SELECT attempts, acked_at, dead_at FROM outbox WHERE id = ?`,
  );
  const lowest = db.prepare<[number], { r: number | null }>(
    `SELECT min(CASE state WHEN 'written' THEN 0 WHEN 'acked' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 ELSE 4 END) AS r FROM outbox_wa WHERE outbox_id = ?`,
  );
  const acked = db.prepare(`UPDATE outbox SET acked_at = coalesce(acked_at, ?) WHERE id = ?`);
  const delivered = db.prepare(`UPDATE outbox SET delivered_at = coalesce(delivered_at, ?) WHERE id = ?`);
  const unacked = db.prepare<[number, number], Row>(
    `${select} WHERE sent_at IS NOT NULL AND sent_at < ? AND acked_at IS NULL AND dead_at IS NULL
       AND EXISTS (SELECT 1 FROM outbox_wa w WHERE w.outbox_id = o.id) ORDER BY id LIMIT ?`,
  );
  const byId = db.prepare<[number], Row>(`${select} WHERE o.id = ?`);
  const byKey = db.prepare<[string], Row>(`${select} WHERE o.dedupe_key = ?`);
  const byMsg = db.prepare<[string], Row>(`${select} WHERE o.id IN (SELECT outbox_id FROM outbox_wa WHERE msg_id = ?) ORDER BY o.id`);
  const stats = db.prepare<[], { queued: number; unacked: number; retrying: number; dead: number; oldest: number | null }>(
    `SELECT count(*) FILTER (WHERE sent_at IS NULL AND dead_at IS NULL) AS queued,
            count(*) FILTER (WHERE sent_at IS NOT NULL AND acked_at IS NULL AND dead_at IS NULL
                             AND EXISTS (SELECT 1 FROM outbox_wa w WHERE w.outbox_id = outbox.id)) AS unacked,
            count(*) FILTER (WHERE sent_at IS NULL AND dead_at IS NULL AND next_at IS NOT NULL) AS retrying,
            count(*) FILTER (WHERE dead_at IS NOT NULL) AS dead,
            min(created_at) FILTER (WHERE sent_at IS NULL AND dead_at IS NULL) AS oldest
       FROM outbox`,
  );
  const backlog = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL`);
  const run = <T>(f: () => T) => new Promise<T>((resolve) => resolve(f()));

  const markSent = db.transaction((id: number, at: number, msgIds: readonly string[]) => {
    sent.run(at, id);
    for (const m of msgIds) mapId.run(m, id, at);
  });
  const record = db.transaction((msgId: string, state: string, code: string | null, at: number) => {
    const changes: DeliveryChange[] = [];
    for (const m of msgs.all(msgId)) {
      // States only move forward (a late ack after a read changes nothing), failure aside.
      if (state !== "failed" && RANK[state]! <= RANK[m.state]!) continue;
      setMsg.run(state, code, at, msgId, m.outbox_id);
      const row = rowOf.get(m.outbox_id)!;
      if (state === "failed") {
        changes.push({ outboxId: m.outbox_id, state: "failed", code: code ?? "error", attempts: row.attempts });
        continue;
      }
      const r = lowest.get(m.outbox_id)!.r ?? 0;
      // The row is acked once every message of it is; delivered once every one is.
      if (r >= 1 && row.acked_at === null) acked.run(at, m.outbox_id);
      if (r >= 2) delivered.run(at, m.outbox_id);
      changes.push({ outboxId: m.outbox_id, state: state as "acked" | "delivered" | "read" });
    }
    return changes;
  });
  return {
    enqueue: (m) => run(() => enqueue(m)),
    pending: (limit, now = Number.MAX_SAFE_INTEGER) => run(() => pending.all(now, limit).map(fromRow)),
    markSending: (id, at) => run(() => void sending.run(at, id)),
    markSent: (id, at, msgIds = []) => run(() => void markSent(id, at, msgIds)),
    markFailed: (id, error, _at) => run(() => void failed.run(error.slice(0, 500), id)),
    retryAt: (id, error, code, nextAt) => run(() => void retry.run(error.slice(0, 500), code, nextAt, id)),
    deadLetter: (id, code, error, at) => run(() => void dead.run(code, error.slice(0, 500), at, id)),
    recordDelivery: (msgId, state, code, at) => run(() => record(msgId, state, code, at)),
    unacked: (before, limit) => run(() => unacked.all(before, limit).map(fromRow)),
    get: (id) =>
      run(() => {
        const row = byId.get(id);
        return row ? fromRow(row) : null;
      }),
    byMessageId: (msgId) => run(() => byMsg.all(msgId).map(fromRow)),
    byKey: (key) =>
      run(() => {
        const r = byKey.get(key);
        return r ? fromRow(r) : null;
      }),
    stats: () =>
      run(() => {
        const r = stats.get()!;
        return { queued: r.queued, unacked: r.unacked, retrying: r.retrying, dead: r.dead, oldestQueuedAt: r.oldest };
      }),
    backlog: () => run(() => backlog.get()!.n),
  };
}

function fromRow(r: Row): OutboxMessage {
  return {
    id: r.id,
    chatId: r.chat_id,
    text: r.text,
    dedupeKey: r.dedupe_key,
    createdAt: r.created_at,
    sendingAt: r.sending_at,
    attempts: r.attempts,
    lastError: r.last_error,
    sentAt: r.sent_at,
    msgIds: r.msg_ids ? r.msg_ids.split(",") : [],
    thread: r.thread_key,
    edit: r.edit_head,
  };
}
