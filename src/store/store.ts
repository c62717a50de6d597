/**
 * The store interface. Two implementations: SQLite (embedded, always there) and Supabase
 * (system of record, when configured). One contract suite (test/store.contract.ts) runs
 * against every implementation, so they cannot drift apart.
 *
 * @example
 * await store.audit.add({ at: Date.now(), actor: "console", ... });
 * const last = await store.audit.recent(10);
 */

export const OUTCOMES = ["ok", "error", "denied", "invalid", "timeout"] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface AuditRecord {
  /** Epoch ms when the command was received. */
  at: number;
  /** Phone number of the sender, or `console`. */
  actor: string;
  actorName: string;
  /** Command name without prefix, e.g. `restart`. */
  command: string;
  /** Validated arguments as JSON, already masked (no NIK, no secrets). */
  args: string;
  host: string | null;
  outcome: Outcome;
  durationMs: number;
  /** Links the record to the log line of a failure. */
  errorId: string | null;
}

export interface StoredAudit extends AuditRecord {
  id: number;
}

export interface AuditLog {
  add(record: AuditRecord): Promise<void>;
  /** Newest first. */
  recent(limit: number): Promise<StoredAudit[]>;
}

/** A message waiting to go out (an alert, a digest): durable, in order, de-duplicated. */
export interface OutboxMessage {
  id: number;
  chatId: string;
  text: string;
  /** Same key, same message: queued once however often it is enqueued (e.g. `incident:42:open`). */
  dedupeKey: string | null;
  createdAt: number;
  attempts: number;
  lastError: string | null;
}

export interface Outbox {
  /** Queues a message; false when its dedupeKey was queued before (sent or not). */
  enqueue(message: { chatId: string; text: string; dedupeKey?: string; at: number }): Promise<boolean>;
  /** Unsent messages, oldest first. */
  pending(limit: number): Promise<OutboxMessage[]>;
  markSent(id: number, at: number): Promise<void>;
  markFailed(id: number, error: string, at: number): Promise<void>;
  /** How many messages wait to be sent. */
  backlog(): Promise<number>;
}

export interface Store {
  readonly kind: "sqlite" | "supabase";
  readonly audit: AuditLog;
  close(): Promise<void>;
}

/** The embedded store also holds what only makes sense on this machine. */
export interface LocalStore extends Store {
  readonly outbox: Outbox;
}
