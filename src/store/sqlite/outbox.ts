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
import type { Outbox, OutboxDraft, OutboxMessage } from "../store.js";
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
];

interface Row {
  id: number;
  chat_id: string;
  text: string;
  dedupe_key: string | null;
  created_at: number;
  sending_at: number | null;
  attempts: number;
  last_error: string | null;
}

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
  const insert = db.prepare(`INSERT INTO outbox (chat_id, text, dedupe_key, created_at) VALUES (?, ?, ?, ?)`);
  return {
    // Look first rather than INSERT … ON CONFLICT DO NOTHING: a conflicting insert still burns an
    // AUTOINCREMENT id (the same cause as the skipped incident numbers, see incidents.ts).
    enqueue: (m) => {
      if (m.dedupeKey != null && exists.get(m.dedupeKey)) return false;
      insert.run(m.chatId, m.text, m.dedupeKey ?? null, m.at);
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
  const pending = db.prepare<[number], Row>(`SELECT * FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT ?`);
  const sending = db.prepare(`UPDATE outbox SET sending_at = ?, attempts = attempts + 1 WHERE id = ?`);
  const sent = db.prepare(`UPDATE outbox SET sent_at = ? WHERE id = ?`);
  // A failed send ended: known not delivered, so the row is no longer "maybe sent".
  const failed = db.prepare(`UPDATE outbox SET last_error = ?, sending_at = NULL WHERE id = ?`);
  const backlog = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL`);
  const run = <T>(f: () => T) => new Promise<T>((resolve) => resolve(f()));
  return {
    enqueue: (m) => run(() => enqueue(m)),
    pending: (limit) => run(() => pending.all(limit).map(fromRow)),
    markSending: (id, at) => run(() => void sending.run(at, id)),
    markSent: (id, at) => run(() => void sent.run(at, id)),
    markFailed: (id, error, _at) => run(() => void failed.run(error.slice(0, 500), id)),
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
  };
}
