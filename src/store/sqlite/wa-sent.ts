/**
 * Every message Jaga sent over WhatsApp — alerts, replies, reactions — with where it stands
 * (written → acked → delivered → read, or failed with the server's code), kept for 14 days
 * (bounded in count), so that when a phone cannot
 * decrypt one and asks for a retry — minutes later, or after Jaga reconnected — Baileys'
 * `getMessage` can hand the same content back and the recipient stops seeing "Waiting for
 * this message". Values are Baileys' BufferJSON text; this module never loads Baileys.
 *
 * @example
 * const sent = sqliteSentMessages(db);
 * sent.keep("3EB0…", "1203…@g.us", Date.now(), json);
 * sent.get("3EB0…"); // json or undefined
 */
import type { Db, Migration } from "./db.js";

export const waSentMigrations: Migration[] = [
  {
    name: "wa-sent.001.create",
    sql: `CREATE TABLE wa_sent (
            msg_id  TEXT    PRIMARY KEY,
            chat_id TEXT    NOT NULL,
            sent_at INTEGER NOT NULL,
            message TEXT    NOT NULL,
            state   TEXT    NOT NULL DEFAULT 'written',
            code    TEXT
          ) WITHOUT ROWID;
          CREATE INDEX wa_sent_at ON wa_sent(sent_at);`,
  },
];

/** WhatsApp's own horizon for retries and resends. */
export const SENT_KEEP_MS = 14 * 86_400_000;
export const SENT_KEEP_MAX = 5_000;

export interface SentMessages {
  keep(msgId: string, chatId: string, at: number, message: string): void;
  get(msgId: string): string | undefined;
  /** The chat a message was sent to (to edit or quote it later). */
  chatOf(msgId: string): string | undefined;
  /** A server ack, receipt or error for the message; states only move forward (failure aside). */
  mark(msgId: string, state: "acked" | "delivered" | "read" | "failed", code: string | null): void;
  state(msgId: string): { state: string; code: string | null } | undefined;
  count(): number;
}

const RANK: Record<string, number> = { written: 0, acked: 1, delivered: 2, read: 3, failed: 4 };

export function sqliteSentMessages(db: Db, maxRows = SENT_KEEP_MAX): SentMessages {
  const put = db.prepare(`INSERT INTO wa_sent (msg_id, chat_id, sent_at, message) VALUES (?, ?, ?, ?)
                          ON CONFLICT(msg_id) DO UPDATE SET message = excluded.message, sent_at = excluded.sent_at`);
  const get = db.prepare<[string], { message: string }>(`SELECT message FROM wa_sent WHERE msg_id = ?`);
  const chatOf = db.prepare<[string], { chat_id: string }>(`SELECT chat_id FROM wa_sent WHERE msg_id = ?`);
  const count = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM wa_sent`);
  const stateOf = db.prepare<[string], { state: string; code: string | null }>(`SELECT state, code FROM wa_sent WHERE msg_id = ?`);
  const setState = db.prepare(`UPDATE wa_sent SET state = ?, code = ? WHERE msg_id = ?`);
  const pruneOld = db.prepare(`DELETE FROM wa_sent WHERE sent_at < ?`);
  const pruneOver = db.prepare(`DELETE FROM wa_sent WHERE msg_id IN (SELECT msg_id FROM wa_sent ORDER BY sent_at DESC LIMIT -1 OFFSET ?)`);
  let writes = 0;
  return {
    keep(msgId, chatId, at, message) {
      put.run(msgId, chatId, at, message);
      // Pruning every 100 writes keeps the table within bounds without a timer.
      if (++writes % 100 === 1) {
        pruneOld.run(at - SENT_KEEP_MS);
        pruneOver.run(maxRows);
      }
    },
    get: (msgId) => get.get(msgId)?.message,
    chatOf: (msgId) => chatOf.get(msgId)?.chat_id,
    mark(msgId, state, code) {
      const now = stateOf.get(msgId);
      if (!now || (state !== "failed" && RANK[state]! <= RANK[now.state]!)) return;
      setState.run(state, code, msgId);
    },
    state: (msgId) => stateOf.get(msgId),
    count: () => count.get()!.n,
  };
}
