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

export interface Store {
  readonly kind: "sqlite" | "supabase";
  readonly audit: AuditLog;
  close(): Promise<void>;
}
