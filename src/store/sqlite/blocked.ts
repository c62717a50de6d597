/**
 * Blocked NIKs in SQLite: the local copy (and, without Supabase, the only one). Same design as
 * the Supabase table: unblocking closes a row, never deletes it; a partial unique index keeps
 * one active block per NIK.
 *
 * The synchronous {@link blockedTable} exists so the replicating store can write a block and
 * queue its replication in one SQLite transaction; everyone else uses {@link sqliteBlocked}.
 */
import type { BlockedKtp, BlockRecord } from "../store.js";
import type { Db, Migration } from "./db.js";

export const blockedMigrations: Migration[] = [
  {
    name: "blocked_ktp.001.create",
    sql: `CREATE TABLE blocked_ktp (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            nik          TEXT    NOT NULL CHECK (length(nik) = 16 AND nik NOT GLOB '*[^0-9]*'),
            reason       TEXT    NOT NULL DEFAULT '',
            blocked_by   TEXT    NOT NULL,
            blocked_at   INTEGER NOT NULL,
            unblocked_at INTEGER,
            unblocked_by TEXT
          );
          CREATE UNIQUE INDEX blocked_ktp_one_active_per_nik ON blocked_ktp(nik) WHERE unblocked_at IS NULL;
          CREATE INDEX blocked_ktp_nik_history ON blocked_ktp(nik, blocked_at);`,
  },
];

interface Row {
  id: number;
  nik: string;
  reason: string;
  blocked_by: string;
  blocked_at: number;
  unblocked_at: number | null;
  unblocked_by: string | null;
}

/** The same operations as {@link BlockedKtp}, synchronous. */
export interface BlockedTable {
  block(b: { nik: string; reason: string; blockedBy: string; at: number }): { block: BlockRecord; created: boolean };
  unblock(u: { nik: string; by: string; at: number }): BlockRecord | null;
  active(nik: string): BlockRecord | null;
  history(nik: string, limit?: number): BlockRecord[];
}

/**
 * @example
 * const table = blockedTable(db);
 * db.transaction(() => { table.block({ nik, reason, blockedBy, at }); queue.push(op); })();
 */
export function blockedTable(db: Db): BlockedTable {
  const insert = db.prepare<[string, string, string, number], Row>(
    `INSERT INTO blocked_ktp (nik, reason, blocked_by, blocked_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (nik) WHERE unblocked_at IS NULL DO NOTHING RETURNING *`,
  );
  const active = db.prepare<[string], Row>(`SELECT * FROM blocked_ktp WHERE nik = ? AND unblocked_at IS NULL`);
  const close = db.prepare<[number, string, string], Row>(
    `UPDATE blocked_ktp SET unblocked_at = ?, unblocked_by = ? WHERE nik = ? AND unblocked_at IS NULL RETURNING *`,
  );
  const history = db.prepare<[string, number], Row>(`SELECT * FROM blocked_ktp WHERE nik = ? ORDER BY blocked_at DESC, id DESC LIMIT ?`);
  return {
    block: db.transaction((b: { nik: string; reason: string; blockedBy: string; at: number }) => {
      const row = insert.get(b.nik, b.reason, b.blockedBy, b.at);
      return row ? { block: fromRow(row), created: true } : { block: fromRow(active.get(b.nik)!), created: false };
    }),
    unblock: (u) => {
      const row = close.get(u.at, u.by, u.nik);
      return row ? fromRow(row) : null;
    },
    active: (nik) => {
      const row = active.get(nik);
      return row ? fromRow(row) : null;
    },
    history: (nik, limit = 20) => history.all(nik, limit).map(fromRow),
  };
}

/**
 * @example
 * const blocked = sqliteBlocked(db);
 * await blocked.active("3174015501900001"); // null or the active block
 */
export function sqliteBlocked(db: Db): BlockedKtp {
  const t = blockedTable(db);
  return {
    block: (b) => later(() => t.block(b)),
    unblock: (u) => later(() => t.unblock(u)),
    active: (nik) => later(() => t.active(nik)),
    history: (nik, limit) => later(() => t.history(nik, limit)),
  };
}

function fromRow(r: Row): BlockRecord {
  return {
    id: r.id,
    nik: r.nik,
    reason: r.reason,
    blockedBy: r.blocked_by,
    blockedAt: r.blocked_at,
    unblockedAt: r.unblocked_at,
    unblockedBy: r.unblocked_by,
  };
}

/** Runs a synchronous query as a promise; a throw becomes a rejection, as callers expect. */
function later<T>(f: () => T): Promise<T> {
  return new Promise((resolve) => resolve(f()));
}
