/**
 * The outbox in SQLite: every alert and digest is written here first and sent from here, so a
 * WhatsApp outage or a Jaga restart loses nothing, and a dedupe key keeps a restarted Jaga from
 * sending the same alert twice.
 */
import type { Outbox, OutboxMessage } from "../store.js";
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
];

interface Row {
  id: number;
  chat_id: string;
  text: string;
  dedupe_key: string | null;
  created_at: number;
  attempts: number;
  last_error: string | null;
}

export function sqliteOutbox(db: Db): Outbox {
  const insert = db.prepare(
    `INSERT INTO outbox (chat_id, text, dedupe_key, created_at) VALUES (?, ?, ?, ?) ON CONFLICT(dedupe_key) DO NOTHING`,
  );
  const pending = db.prepare<[number], Row>(`SELECT * FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT ?`);
  const sent = db.prepare(`UPDATE outbox SET sent_at = ?, attempts = attempts + 1 WHERE id = ?`);
  const failed = db.prepare(`UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?`);
  const backlog = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL`);
  return {
    enqueue: (m) => Promise.resolve(insert.run(m.chatId, m.text, m.dedupeKey ?? null, m.at).changes === 1),
    pending: (limit) => Promise.resolve(pending.all(limit).map(fromRow)),
    markSent: (id, at) => {
      sent.run(at, id);
      return Promise.resolve();
    },
    markFailed: (id, error, _at) => {
      failed.run(error.slice(0, 500), id);
      return Promise.resolve();
    },
    backlog: () => Promise.resolve(backlog.get()!.n),
  };
}

function fromRow(r: Row): OutboxMessage {
  return {
    id: r.id,
    chatId: r.chat_id,
    text: r.text,
    dedupeKey: r.dedupe_key,
    createdAt: r.created_at,
    attempts: r.attempts,
    lastError: r.last_error,
  };
}
