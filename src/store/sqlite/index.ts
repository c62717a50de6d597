/**
 * The embedded store: every table module's migrations applied on open, every table behind the
 * {@link Store} interface.
 *
 * @example
 * const store = openSqliteStore("data/jaga.db"); // or ":memory:"
 * await store.audit.recent(10);
 */
import type { AuditLog, Store } from "../store.js";
import { auditMigrations, sqliteAuditLog } from "./audit.js";
import { migrate, openDb, type Db, type Migration } from "./db.js";

/** Every table module's migrations, in the order they were introduced. */
export const SQLITE_MIGRATIONS: readonly Migration[] = [...auditMigrations];

export class SqliteStore implements Store {
  readonly kind = "sqlite" as const;
  readonly audit: AuditLog;

  constructor(readonly db: Db) {
    this.audit = sqliteAuditLog(db);
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
