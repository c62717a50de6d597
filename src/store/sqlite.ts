/**
 * The embedded store: one SQLite file (better-sqlite3, WAL mode) that is always there, even
 * when nothing else is. It is created and migrated on open; migrations are append-only and
 * tracked with `PRAGMA user_version`.
 *
 * @example
 * const store = openSqliteStore("data/jaga.db");
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type { AuditLog, AuditRecord, Outcome, Store, StoredAudit } from "./store.js";

/** Append only: never edit a shipped entry, add a new one. */
const MIGRATIONS: string[] = [
  `CREATE TABLE audit (
     id          INTEGER PRIMARY KEY AUTOINCREMENT,
     at          INTEGER NOT NULL,
     actor       TEXT    NOT NULL,
     actor_name  TEXT    NOT NULL,
     command     TEXT    NOT NULL,
     args        TEXT    NOT NULL,
     host        TEXT,
     outcome     TEXT    NOT NULL,
     duration_ms INTEGER NOT NULL,
     error_id    TEXT
   );
   CREATE INDEX audit_at ON audit(at);`,
];

export function migrate(db: Database.Database): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`the store at ${db.name} is from a newer Jaga (schema ${current}, this one knows ${MIGRATIONS.length})`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

interface AuditRow {
  id: number;
  at: number;
  actor: string;
  actor_name: string;
  command: string;
  args: string;
  host: string | null;
  outcome: string;
  duration_ms: number;
  error_id: string | null;
}

export class SqliteStore implements Store {
  readonly kind = "sqlite" as const;
  readonly audit: AuditLog;

  constructor(readonly db: Database.Database) {
    const insert = db.prepare(
      `INSERT INTO audit (at, actor, actor_name, command, args, host, outcome, duration_ms, error_id)
       VALUES (@at, @actor, @actorName, @command, @args, @host, @outcome, @durationMs, @errorId)`,
    );
    const recent = db.prepare<[number], AuditRow>(`SELECT * FROM audit ORDER BY id DESC LIMIT ?`);
    this.audit = {
      add: (r: AuditRecord) => {
        insert.run(r);
        return Promise.resolve();
      },
      recent: (limit: number) => Promise.resolve(recent.all(limit).map(fromRow)),
    };
  }

  close(): Promise<void> {
    if (this.db.open) this.db.close();
    return Promise.resolve();
  }
}

function fromRow(r: AuditRow): StoredAudit {
  return {
    id: r.id,
    at: r.at,
    actor: r.actor,
    actorName: r.actor_name,
    command: r.command,
    args: r.args,
    host: r.host,
    outcome: r.outcome as Outcome,
    durationMs: r.duration_ms,
    errorId: r.error_id,
  };
}

/** Opens (creating the folder and file if needed) and migrates the store. `:memory:` works too. */
export function openSqliteStore(file: string): SqliteStore {
  if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  migrate(db);
  return new SqliteStore(db);
}
