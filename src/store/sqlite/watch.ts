/**
 * What the watchers remember across Jaga restarts, kept only on this machine: restarts as they
 * were counted (so a storm spans a Jaga restart, and the digest can say "33 restarts in 24 h"),
 * and small named values (restart-count baselines, mutes, the digest's last day).
 */
import type { Db, Migration } from "./db.js";

export const watchMigrations: Migration[] = [
  {
    name: "watch.001.create",
    sql: `CREATE TABLE restart_events (
            id    INTEGER PRIMARY KEY AUTOINCREMENT,
            host  TEXT    NOT NULL,
            app   TEXT    NOT NULL,
            at    INTEGER NOT NULL,
            count INTEGER NOT NULL CHECK (count > 0)
          );
          CREATE INDEX restart_events_app ON restart_events(host, app, at);
          CREATE TABLE watch_state (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
          );`,
  },
];

export interface RestartRecord {
  at: number;
  count: number;
}

/**
 * @example
 * state.recordRestarts("stb", "bot-kjp", now, 2);
 * state.restartsSince("stb", "bot-kjp", now - 3_600_000); // 2
 * state.set("digest.lastSent", "2026-11-22");
 */
export interface WatchState {
  recordRestarts(host: string, app: string, at: number, count: number): void;
  /** Restart records of one app since `since`, oldest first. */
  restarts(host: string, app: string, since: number): RestartRecord[];
  /** Sum of restarts per app since `since`. */
  restartTotals(since: number): { host: string; app: string; count: number }[];
  /** Drops restart records older than `before` (kept a few days for the digest). */
  prune(before: number): void;
  get<T>(key: string): T | undefined;
  set(key: string, value: unknown): void;
  delete(key: string): void;
  /** Every key with the given prefix, e.g. `mute:`. */
  entries<T>(prefix: string): [string, T][];
}

export function sqliteWatchState(db: Db): WatchState {
  const insert = db.prepare(`INSERT INTO restart_events (host, app, at, count) VALUES (?, ?, ?, ?)`);
  const since = db.prepare<[string, string, number], RestartRecord>(
    `SELECT at, count FROM restart_events WHERE host = ? AND app = ? AND at >= ? ORDER BY at, id`,
  );
  const totals = db.prepare<[number], { host: string; app: string; count: number }>(
    `SELECT host, app, sum(count) AS count FROM restart_events WHERE at >= ? GROUP BY host, app ORDER BY host, app`,
  );
  const prune = db.prepare(`DELETE FROM restart_events WHERE at < ?`);
  const get = db.prepare<[string], { value: string }>(`SELECT value FROM watch_state WHERE key = ?`);
  const set = db.prepare(`INSERT INTO watch_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`);
  const del = db.prepare(`DELETE FROM watch_state WHERE key = ?`);
  const prefixed = db.prepare<[string], { key: string; value: string }>(
    `SELECT key, value FROM watch_state WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key`,
  );
  return {
    recordRestarts: (host, app, at, count) => void insert.run(host, app, at, count),
    restarts: (host, app, from) => since.all(host, app, from),
    restartTotals: (from) => totals.all(from),
    prune: (before) => void prune.run(before),
    get<T>(key: string) {
      const row = get.get(key);
      return row ? (JSON.parse(row.value) as T) : undefined;
    },
    set: (key, value) => void set.run(key, JSON.stringify(value)),
    delete: (key) => void del.run(key),
    entries<T>(prefix: string) {
      return prefixed.all(prefix).map((r) => [r.key, JSON.parse(r.value) as T] as [string, T]);
    },
  };
}
