/**
 * The embedded store: every table module's migrations applied on open, every table behind the
 * {@link Store} interface.
 *
 * @example
 * const store = openSqliteStore("data/jaga.db"); // or ":memory:"
 * await store.audit.recent(10);
 */
import type { AlertingIncidents, AuditLog, BlockedKtp, LocalStore, Outbox } from "../store.js";
import { auditMigrations, sqliteAuditLog } from "./audit.js";
import { blockedMigrations, sqliteBlocked } from "./blocked.js";
import { migrate, openDb, type Db, type Migration } from "./db.js";
import { incidentsMigrations, sqliteIncidents } from "./incidents.js";
import { outboxMigrations, sqliteOutbox } from "./outbox.js";
import { sqliteWaAuth, waAuthMigrations, type LocalWaAuth } from "./wa-auth.js";
import { sqliteInboundLedger, waInboundMigrations, type InboundLedger } from "./wa-inbound.js";
import { sqliteSentMessages, waSentMigrations, type SentMessages } from "./wa-sent.js";
import { replicationMigrations } from "./replication.js";
import { sqliteWatchState, watchMigrations, type WatchState } from "./watch.js";

/** Every table module's migrations, in the order they were introduced. */
export const SQLITE_MIGRATIONS: readonly Migration[] = [
  ...auditMigrations,
  ...outboxMigrations,
  ...incidentsMigrations,
  ...blockedMigrations,
  ...replicationMigrations,
  ...waAuthMigrations,
  ...watchMigrations,
  ...waInboundMigrations,
  ...waSentMigrations,
];

export class SqliteStore implements LocalStore {
  readonly kind = "sqlite" as const;
  readonly audit: AuditLog;
  readonly outbox: Outbox;
  readonly incidents: AlertingIncidents;
  readonly blocked: BlockedKtp;
  /** WhatsApp's session and LID map (only the WhatsApp transport reads it). */
  readonly waAuth: LocalWaAuth;
  /** WhatsApp messages already taken, so a redelivered one never runs twice. */
  readonly waInbound: InboundLedger;
  /** What Jaga sent over WhatsApp, for retry requests (Baileys' getMessage). */
  readonly waSent: SentMessages;
  /** Restart history and small named values the watchers keep across restarts. */
  readonly watch: WatchState;

  constructor(readonly db: Db) {
    this.audit = sqliteAuditLog(db);
    this.outbox = sqliteOutbox(db);
    this.incidents = sqliteIncidents(db);
    this.blocked = sqliteBlocked(db);
    this.waAuth = sqliteWaAuth(db);
    this.waInbound = sqliteInboundLedger(db);
    this.waSent = sqliteSentMessages(db);
    this.watch = sqliteWatchState(db);
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
