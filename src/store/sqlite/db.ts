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

/** Opens the file (creating its folder), tuned for a small box: WAL, NORMAL sync, a busy timeout. */
export function openDb(file: string): Db {
  if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  return db;
}
