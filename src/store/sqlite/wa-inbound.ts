/**
 * Which WhatsApp messages Jaga has already taken, by (chat, message id), kept across restarts.
 * WhatsApp delivers at least once: a decrypt retry, an offline batch replayed after a reconnect,
 * or a placeholder resend (up to 14 days later) can bring the same message again, and a
 * `/restart` must not run twice because of it. A message is marked before it is run, so a
 * crash mid-command never re-runs it either (at most once, which is right for commands).
 *
 * @example
 * const seen = sqliteInboundLedger(db);
 * seen.first("1203…@g.us", "3EB0ABC", Date.now()); // true the first time, false ever after
 */
import type { Db, Migration } from "./db.js";

export const waInboundMigrations: Migration[] = [
  {
    name: "wa-inbound.001.create",
    sql: `CREATE TABLE wa_inbound_seen (
            chat_id TEXT    NOT NULL,
            msg_id  TEXT    NOT NULL,
            seen_at INTEGER NOT NULL,
            PRIMARY KEY (chat_id, msg_id)
          ) WITHOUT ROWID;
          CREATE INDEX wa_inbound_seen_at ON wa_inbound_seen(seen_at);`,
  },
];

/** Longer than WhatsApp's oldest redelivery (placeholder resends: 14 days). */
export const INBOUND_KEEP_MS = 15 * 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;

export interface InboundLedger {
  /** Records the message; true only the first time this (chat, id) is seen. */
  first(chatId: string, msgId: string, at: number): boolean;
  /** Forgets entries seen before `before`. */
  prune(before: number): number;
}

export function sqliteInboundLedger(db: Db): InboundLedger {
  const insert = db.prepare(`INSERT INTO wa_inbound_seen (chat_id, msg_id, seen_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`);
  const prune = db.prepare(`DELETE FROM wa_inbound_seen WHERE seen_at < ?`);
  let prunedAt = 0;
  return {
    first(chatId, msgId, at) {
      if (at - prunedAt >= PRUNE_EVERY_MS) {
        prunedAt = at;
        prune.run(at - INBOUND_KEEP_MS);
      }
      return insert.run(chatId, msgId, at).changes === 1;
    },
    prune: (before) => prune.run(before).changes,
  };
}
