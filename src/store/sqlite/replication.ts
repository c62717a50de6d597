/**
 * The replication queue: every write meant for Supabase is first a row here, written in the
 * same SQLite transaction as the local copy, so a crash, a restart or a Supabase outage loses
 * nothing. The replayer sends rows oldest first and deletes each once Supabase has it.
 *
 * A row Supabase refuses for good (a data error, not an outage) is set aside as `rejected`:
 * kept for an admin to look at, counted, and no longer blocking the rows behind it.
 */
import type { Db, Migration } from "./db.js";

export const replicationMigrations: Migration[] = [
  {
    name: "replication.001.create",
    sql: `CREATE TABLE replication_queue (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            op          TEXT    NOT NULL,
            created_at  INTEGER NOT NULL,
            attempts    INTEGER NOT NULL DEFAULT 0,
            last_error  TEXT,
            rejected_at INTEGER
          );
          CREATE INDEX replication_queue_pending ON replication_queue(id) WHERE rejected_at IS NULL;`,
  },
];

export interface QueuedOp {
  id: number;
  /** The operation as JSON (see src/store/supabase/ops.ts). */
  op: string;
  createdAt: number;
  attempts: number;
}

/** Synchronous on purpose: `push` runs inside the caller's SQLite transaction. */
export interface ReplicationQueue {
  push(op: string, at: number): void;
  /** Oldest first, rejected rows excluded. */
  peek(limit: number): QueuedOp[];
  done(id: number): void;
  failed(id: number, error: string): void;
  reject(id: number, error: string, at: number): void;
  backlog(): number;
  rejected(): number;
}

/**
 * @example
 * const q = replicationQueue(db);
 * db.transaction(() => { table.block(b); q.push(JSON.stringify(op), at); })();
 */
export function replicationQueue(db: Db): ReplicationQueue {
  const push = db.prepare(`INSERT INTO replication_queue (op, created_at) VALUES (?, ?)`);
  const peek = db.prepare<[number], { id: number; op: string; created_at: number; attempts: number }>(
    `SELECT id, op, created_at, attempts FROM replication_queue WHERE rejected_at IS NULL ORDER BY id LIMIT ?`,
  );
  const done = db.prepare(`DELETE FROM replication_queue WHERE id = ?`);
  const failed = db.prepare(`UPDATE replication_queue SET attempts = attempts + 1, last_error = ? WHERE id = ?`);
  const reject = db.prepare(`UPDATE replication_queue SET attempts = attempts + 1, last_error = ?, rejected_at = ? WHERE id = ?`);
  const backlog = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM replication_queue WHERE rejected_at IS NULL`);
  const rejected = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM replication_queue WHERE rejected_at IS NOT NULL`);
  return {
    push: (op, at) => void push.run(op, at),
    peek: (limit) => peek.all(limit).map((r) => ({ id: r.id, op: r.op, createdAt: r.created_at, attempts: r.attempts })),
    done: (id) => void done.run(id),
    failed: (id, error) => void failed.run(error.slice(0, 500), id),
    reject: (id, error, at) => void reject.run(error.slice(0, 500), at, id),
    backlog: () => backlog.get()!.n,
    rejected: () => rejected.get()!.n,
  };
}
