/**
 * The embedded store: every table module's migrations applied on open, every table behind the
 * {@link Store} interface.
 *
 * @example
 * const store = openSqliteStore("data/jaga.db"); // or ":memory:"
 * await store.audit.recent(10);
 */
import type { AuditLog, LocalStore, Outbox } from "../store.js";
import { auditMigrations, sqliteAuditLog } from "./audit.js";
import { migrate, openDb, type Db, type Migration } from "./db.js";
import { outboxMigrations, sqliteOutbox } from "./outbox.js";

/** Every table module's migrations, in the order they were introduced. */
export const SQLITE_MIGRATIONS: readonly Migration[] = [...auditMigrations, ...outboxMigrations];

export class SqliteStore implements LocalStore {
  readonly kind = "sqlite" as const;
  readonly audit: AuditLog;
  readonly outbox: Outbox;

  constructor(readonly db: Db) {
    this.audit = sqliteAuditLog(db);
    this.outbox = sqliteOutbox(db);
  }

  close(): Promise<void> {
    if (this.db.open) this.db.close();
    return Promise.resolve();
  }
}

export function openSqliteStore(file: string): SqliteStore {
  const db = openDb(file);
  migrate(db, SQLITE_MIGRATIONS);
  return new SqliteStore(db);
}
