/**
 * What the watchers remember across Jaga restarts, kept only on this machine: restarts as they
 * were counted (so a storm spans a Jaga restart, and the digest can say "33 restarts in 24 h"),
 * and small named values (restart-count baselines, mutes, the digest's last day).
 */
import { isStorageError, type Db, type Migration } from "./db.js";

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
  /**
   * Writes what is kept only in memory, then a probe row; throws when the store still cannot
   * be written (store/health.ts asks this to know when the disk has room again).
   */
  probe(at: number): void;
  /** Writes kept in memory because the store could not take them (0 when all is on disk). */
  pending(): number;
}

/** Restart records kept in memory while the disk is full: enough for any storm window. */
const MAX_PENDING_RESTARTS = 10_000;

/**
 * The watch state in SQLite. A write the disk refuses (full, read-only, failing) is kept in
 * memory instead of thrown, and every read sees it, so storm detection goes on while the disk
 * is full; the next write that works (or {@link WatchState.probe}) puts it on disk. Other errors
 * are the caller's and are thrown.
 */
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

  // What the disk could not take yet: values (undefined = deleted) and restart records.
  const values = new Map<string, unknown>();
  let restarts: { host: string; app: string; at: number; count: number }[] = [];
  const flush = db.transaction(() => {
    for (const [key, value] of values) {
      if (value === undefined) del.run(key);
      else set.run(key, JSON.stringify(value));
    }
    for (const r of restarts) insert.run(r.host, r.app, r.at, r.count);
  });
  /** Keeps a value (undefined: deleted) until it is on disk; returns how to take it back. */
  const remember = (key: string, value: unknown) => {
    const had = values.has(key);
    const before = values.get(key);
    values.set(key, value);
    return () => void (had ? values.set(key, before) : values.delete(key));
  };
  const persist = () => {
    flush();
    values.clear();
    restarts = [];
  };
  /**
   * Keeps the change in memory, then tries to put everything kept on disk. A change the store
   * refuses for its own sake (not the disk's) is dropped again and thrown, so it cannot block
   * every later write.
   */
  const write = (keep: () => () => void) => {
    const undo = keep();
    try {
      persist();
    } catch (err) {
      if (isStorageError(err)) return;
      undo();
      throw err;
    }
  };

  return {
    recordRestarts: (host, app, at, count) =>
      write(() => {
        const record = { host, app, at, count };
        restarts.push(record);
        if (restarts.length > MAX_PENDING_RESTARTS) restarts = restarts.slice(-MAX_PENDING_RESTARTS);
        return () => (restarts = restarts.filter((r) => r !== record));
      }),
    restarts(host, app, from) {
      const kept = restarts.filter((r) => r.host === host && r.app === app && r.at >= from);
      const rows = since.all(host, app, from);
      return kept.length ? [...rows, ...kept.map(({ at, count }) => ({ at, count }))].sort((a, b) => a.at - b.at) : rows;
    },
    restartTotals(from) {
      const rows = totals.all(from);
      if (restarts.length === 0) return rows;
      const sum = new Map(rows.map((r) => [`${r.host}\u0000${r.app}`, { ...r }]));
      for (const r of restarts.filter((x) => x.at >= from)) {
        const k = `${r.host}\u0000${r.app}`;
        const row = sum.get(k) ?? { host: r.host, app: r.app, count: 0 };
        row.count += r.count;
        sum.set(k, row);
      }
      return [...sum.values()].sort((a, b) => a.host.localeCompare(b.host) || a.app.localeCompare(b.app));
    },
    prune(before) {
      restarts = restarts.filter((r) => r.at >= before);
      try {
        prune.run(before);
      } catch (err) {
        if (!isStorageError(err)) throw err;
      }
    },
    get<T>(key: string) {
      if (values.has(key)) return values.get(key) as T | undefined;
      const row = get.get(key);
      return row ? (JSON.parse(row.value) as T) : undefined;
    },
    set: (key, value) => write(() => remember(key, value)),
    delete: (key) => write(() => remember(key, undefined)),
    entries<T>(prefix: string) {
      const all = new Map(prefixed.all(prefix).map((r) => [r.key, JSON.parse(r.value) as T]));
      for (const [key, value] of values) {
        if (!key.startsWith(prefix)) continue;
        if (value === undefined) all.delete(key);
        else all.set(key, value as T);
      }
      return [...all].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    },
    probe(at) {
      persist();
      set.run("store.probe", JSON.stringify(at));
    },
    pending: () => values.size + restarts.length,
  };
}
