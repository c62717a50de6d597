/**
 * The embedded store's database: one SQLite file (better-sqlite3, WAL mode) that is always
 * there, even when nothing else is.
 *
 * Migrations are named, append-only, and recorded in `_migrations`; each table module
 * (audit.ts, ...) brings its own. Named rather than numbered so modules can be added
 * independently without renumbering anyone else's.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";

export type Db = Database.Database;

export interface Migration {
  /** Unique and stable forever, e.g. `audit.001.create`. */
  name: string;
  sql: string;
}

/** Applies every migration not yet recorded, each in its own transaction, in the order given. */
export function migrate(db: Db, migrations: readonly Migration[]): string[] {
  db.exec(`CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`);
  const done = new Set(db.prepare<[], { name: string }>(`SELECT name FROM _migrations`).all().map((r) => r.name));
  const record = db.prepare(`INSERT INTO _migrations (name, applied_at) VALUES (?, ?)`);
  const applied: string[] = [];
  for (const m of migrations) {
    if (done.has(m.name)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.name, Date.now());
    })();
    applied.push(m.name);
  }
  return applied;
}

/**
 * Opens the file (creating its folder), tuned for a small box: WAL, NORMAL sync, a busy timeout.
 * Every statement, exec and transaction reports storage failures to {@link onStorageError}.
 */
export function openDb(file: string): Db {
  if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("busy_timeout = 5000");
    db.pragma("foreign_keys = ON");
  } catch (err) {
    db.close();
    throw err;
  }
  return reportStorageErrors(db);
}

/**
 * Storage failures, as opposed to the caller's mistakes (a constraint, a syntax error): the disk
 * is full, read-only, gone or failing. These are what Jaga watches in itself (store/health.ts).
 *
 * @example
 * isStorageError(Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" })); // true
 */
export function isStorageError(err: unknown): err is Error & { code: string } {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && STORAGE_CODES.test(code);
}

const STORAGE_CODES = /^(SQLITE_(FULL|IOERR|READONLY|CANTOPEN|PERM|NOLFS)|ENOSPC|EROFS|EACCES|EPERM|EIO|EDQUOT)/;

type StorageListener = (err: Error & { code: string }) => void;
const listeners = new WeakMap<Db, Set<StorageListener>>();

/**
 * Calls `listener` with every storage failure of `db` (the failure is still thrown to the
 * caller). Returns the unsubscribe function.
 *
 * @example
 * const off = onStorageError(db, (err) => health.failed(err));
 */
export function onStorageError(db: Db, listener: StorageListener): () => void {
  let set = listeners.get(db);
  if (!set) listeners.set(db, (set = new Set()));
  set.add(listener);
  return () => set.delete(listener);
}

/**
 * Wraps the ways a write reaches SQLite — statements, exec, transactions (whose COMMIT is where
 * WAL mode meets a full disk) — so that storage failures are seen in one place.
 */
function reportStorageErrors(db: Db): Db {
  const report = (err: unknown) => {
    if (isStorageError(err)) for (const l of listeners.get(db) ?? []) l(err);
  };
  const guard =
    <A extends unknown[], R>(fn: (...a: A) => R) =>
    (...args: A): R => {
      try {
        return fn(...args);
      } catch (err) {
        report(err);
        throw err;
      }
    };
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    const stmt = prepare(sql);
    const methods = stmt as unknown as Record<"run" | "get" | "all" | "iterate", (...a: unknown[]) => unknown>;
    for (const method of ["run", "get", "all", "iterate"] as const) methods[method] = guard(methods[method].bind(stmt));
    return stmt;
  }) as Db["prepare"];
  db.exec = guard(db.exec.bind(db));
  const transaction = db.transaction.bind(db);
  db.transaction = ((fn: (...a: unknown[]) => unknown) => {
    const tx = transaction(fn);
    const wrapped = guard((...a: unknown[]) => tx(...a));
    return Object.assign(wrapped, {
      default: wrapped,
      deferred: guard((...a: unknown[]) => tx.deferred(...a)),
      immediate: guard((...a: unknown[]) => tx.immediate(...a)),
      exclusive: guard((...a: unknown[]) => tx.exclusive(...a)),
      database: db,
    });
  }) as unknown as Db["transaction"];
  return db;
}
