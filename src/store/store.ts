/**
 * The store interface. Two implementations: SQLite (embedded, always there) and Supabase
 * (system of record, when configured). One contract suite (test/store.contract.ts) runs
 * against every implementation, so they cannot drift apart.
 *
 * @example
 * await store.audit.add({ at: Date.now(), actor: "console", ... });
 * const last = await store.audit.recent(10);
 */

export const OUTCOMES = ["ok", "error", "denied", "invalid", "timeout", "limited", "planned", "confirmed", "cancelled", "expired"] as const;
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

/** A message to queue: where it goes, what it says, and the key that makes it one message. */
export interface OutboxDraft {
  chatId: string;
  text: string;
  /** Same key, same message: queued once however often it is enqueued (e.g. `incident:<uid>:open`). */
  dedupeKey?: string | null;
  /**
   * The message this one continues, by its dedupe key (an incident's opening alert): it goes as a
   * quoted reply to that message, or — with {@link OutboxDraft.edit}, while WhatsApp still allows
   * an edit — as an edit of it, so one incident stays one thread in the group.
   */
  thread?: string | null;
  /** With `thread`: the status line the threaded message gets on top when it is edited instead (e.g. "✅ resolved after 4 min"). */
  edit?: string | null;
}

/** A message waiting to go out (an alert, a digest): durable, in order, de-duplicated. */
export interface OutboxMessage {
  id: number;
  chatId: string;
  text: string;
  dedupeKey: string | null;
  createdAt: number;
  /**
   * When a send of this message began and did not end (no markSent, no markFailed): after a
   * crash it may already have been delivered, so the next send is a possible duplicate.
   */
  sendingAt: number | null;
  /** Sends begun (markSending calls). */
  attempts: number;
  lastError: string | null;
  /** The transport took it (WhatsApp: the stanza was written), and under which message ids. */
  sentAt: number | null;
  msgIds: string[];
  /** See {@link OutboxDraft.thread}. */
  thread: string | null;
  /** See {@link OutboxDraft.edit}. */
  edit: string | null;
}

/** Where a message stands, for /wa, /health and /metrics. */
export interface OutboxStats {
  /** Waiting to be sent (including ones to be retried). */
  queued: number;
  /** Written, no server ack yet (WhatsApp only). */
  unacked: number;
  /** Failed once or more and waiting for their next try. */
  retrying: number;
  /** Given up for good: a permanent error (463, 479, …) or too many tries. */
  dead: number;
  /** Epoch ms of the oldest message still queued; null when none. */
  oldestQueuedAt: number | null;
}

/** What a delivery report did to its outbox row. */
export type DeliveryChange =
  | { outboxId: number; state: "acked" | "delivered" | "read" }
  | { outboxId: number; state: "failed"; code: string; attempts: number };

/**
 * The outbox. A send goes markSending -> transport -> markSent (or markFailed): delivery is
 * at-least-once, and `sendingAt` tells a possible duplicate (crash between the transport and
 * markSent) from a first send.
 *
 * @example
 * for (const m of await outbox.pending(20)) {
 *   await outbox.markSending(m.id, now);
 *   await transport.send(m.chatId, m.text);
 *   await outbox.markSent(m.id, now);
 * }
 */
export interface Outbox {
  /** Queues a message; false when its dedupeKey was queued before (sent or not). */
  enqueue(message: OutboxDraft & { at: number }): Promise<boolean>;
  /** Unsent messages due by `now` (retries wait for their time; default: all), oldest first; never dead ones. */
  pending(limit: number, now?: number): Promise<OutboxMessage[]>;
  /** A send begins (written before the transport is called). */
  markSending(id: number, at: number): Promise<void>;
  /** The transport took it; `msgIds` are the ids it was sent under (WhatsApp), for its acks. */
  markSent(id: number, at: number, msgIds?: readonly string[]): Promise<void>;
  /** The send failed: not delivered, retried later. */
  markFailed(id: number, error: string, at: number): Promise<void>;
  /** The send failed for this message alone: retry it at `nextAt`; later messages go on meanwhile. */
  retryAt(id: number, error: string, code: string | null, nextAt: number): Promise<void>;
  /** Never re-sent: the row is kept, counted and shown, and blocks nothing. */
  deadLetter(id: number, code: string, error: string, at: number): Promise<void>;
  /** A server ack, receipt or error for a WhatsApp message id: what it changed, per outbox row (none when not the outbox's). */
  recordDelivery(msgId: string, state: "acked" | "delivered" | "read" | "failed", code: string | null, at: number): Promise<DeliveryChange[]>;
  /** Written before `before` and still without a server ack (WhatsApp), oldest first. */
  unacked(before: number, limit: number): Promise<OutboxMessage[]>;
  /** One row by id, whatever its state; null when there is none. */
  get(id: number): Promise<OutboxMessage | null>;
  /** The rows a WhatsApp message was sent for (several when alerts were coalesced), oldest first. */
  byMessageId(msgId: string): Promise<OutboxMessage[]>;
  /** The row queued under a dedupe key (a thread's first message); null when there is none. */
  byKey(dedupeKey: string): Promise<OutboxMessage | null>;
  stats(): Promise<OutboxStats>;
  /** How many messages wait to be sent. */
  backlog(): Promise<number>;
}

export const INCIDENT_STATES = ["open", "acknowledged", "resolved"] as const;
export type IncidentState = (typeof INCIDENT_STATES)[number];

/** What an incident is about. `app` is "" for the host itself (disk, memory, unreachable, DNS). */
export interface IncidentKey {
  host: string;
  app: string;
  /** What went wrong, short and stable: `restart_storm`, `cpu`, `disk`, `unreachable`, `dns`. */
  kind: string;
}

export interface Incident extends IncidentKey {
  /** Short number for chat (`/ack 12`), local to each store: consecutive there (the n-th incident is #n). */
  id: number;
  /** The same incident in every store (SQLite copy and Supabase): chosen when it opens. */
  uid: string;
  state: IncidentState;
  /** Masked one-line description, e.g. "6 restarts in 41 min". */
  summary: string;
  openedAt: number;
  acknowledgedAt: number | null;
  acknowledgedBy: string | null;
  resolvedAt: number | null;
}

/**
 * Incidents: at most one not-yet-resolved incident per (host, app, kind); the lifecycle only
 * moves forward, open -> acknowledged -> resolved (ack may be skipped).
 *
 * @example
 * const { incident, created } = await store.incidents.openOrGet({ host: "stb", app: "bot-kjp", kind: "restart_storm", summary: "6 restarts in 41 min", at });
 * // (an alert goes with it in one transaction: see AlertingIncidents)
 * await store.incidents.ack(incident.id, "Budi", at);
 */
export interface Incidents {
  /** Opens an incident for the key, or returns the one already open or acknowledged (created false). */
  openOrGet(o: IncidentKey & { summary: string; at: number; uid?: string }): Promise<{ incident: Incident; created: boolean }>;
  /** open -> acknowledged. Acknowledged or resolved incidents come back unchanged; null when no such id. */
  ack(id: number, by: string, at: number): Promise<Incident | null>;
  /** open|acknowledged -> resolved. A resolved incident comes back unchanged; null when no such id. */
  resolve(id: number, at: number): Promise<Incident | null>;
  get(id: number): Promise<Incident | null>;
  /** Open and acknowledged incidents, oldest first. */
  listOpen(): Promise<Incident[]>;
  /** Incidents opened or resolved at or after `since` (the digest's window), oldest opened first. */
  listSince(since: number): Promise<Incident[]>;
}

/**
 * The message an incident change sends, built inside the transaction that makes the change,
 * from the incident as that transaction leaves it (its number, its uid). Synchronous: whatever
 * it needs (log lines, the likely cause) is gathered before. Null sends nothing (a muted target):
 * the change is still recorded.
 */
export type AlertFor = (incident: Incident) => (OutboxDraft & { dedupeKey: string }) | null;

/**
 * Incidents of a store that has an outbox — the embedded SQLite store, alone or replicated to
 * Supabase. Every change that sends a message takes an {@link AlertFor}, and the change, its
 * outbox row (and, replicated, its replication-queue row) commit in ONE SQLite transaction: a
 * crash keeps all of them or none, so no incident exists whose alert was never queued.
 *
 * Why a separate interface rather than an optional argument on {@link Incidents}: the Supabase
 * store has no outbox (messages leave from the machine that sends them, through its own
 * embedded outbox), so it could only ignore the argument — an alert silently dropped. The
 * incident desk therefore takes AlertingIncidents, which only the local stores implement, and
 * the type system keeps it off the Supabase store. Without an AlertFor these behave exactly
 * as {@link Incidents} (the contract suite runs them both ways).
 *
 * @example
 * const { incident, created } = await local.incidents.openOrGet(
 *   { host: "stb", app: "bot-kjp", kind: "restart_storm", summary, at },
 *   (i) => ({ chatId: group, text: `… #${i.id}`, dedupeKey: `incident:${i.uid}:open` }),
 * );
 */
export interface AlertingIncidents extends Incidents {
  /**
   * As {@link Incidents.openOrGet}; `alert` runs only when the incident is created. `evidence`
   * (already bounded and masked: the caller gathered it before) and the `opened` event are
   * written in the same transaction as the incident: an incident that exists has its evidence.
   */
  openOrGet(o: IncidentKey & { summary: string; at: number; uid?: string; evidence?: readonly string[] }, alert?: AlertFor): Promise<{ incident: Incident; created: boolean }>;
  /** As {@link Incidents.ack}; `alert` runs only when the incident moved to acknowledged; so does the `acknowledged` event. */
  ack(id: number, by: string, at: number, alert?: AlertFor): Promise<Incident | null>;
  /**
   * As {@link Incidents.resolve}; `alert` runs only when the incident moved to resolved; so does
   * the `resolved` event, which keeps `quietMs` (omitted: the condition ended, e.g. a host answered).
   */
  resolve(id: number, at: number, alert?: AlertFor, quietMs?: number): Promise<Incident | null>;
  /**
   * Queues a message about an incident without changing it (a reminder), reading its state in
   * the same transaction. True when a row was queued (false: no such incident, `alert` said
   * null, or the dedupe key was queued before); only then is a `reminded` event recorded.
   */
  notify(id: number, at: number, alert: AlertFor): Promise<boolean>;
  /** Adds an event to an incident's timeline (an action someone ran for it); false when no such incident. */
  addEvent(id: number, event: IncidentEvent): Promise<boolean>;
  /** The evidence kept when it opened and its timeline, oldest event first; null when no such incident. */
  timeline(id: number): Promise<IncidentTimeline | null>;
}

export const INCIDENT_EVENT_KINDS = ["opened", "reminded", "acknowledged", "action", "resolved"] as const;
export type IncidentEventKind = (typeof INCIDENT_EVENT_KINDS)[number];

/**
 * One moment in an incident's life. Kept by the local stores only (not replicated to Supabase:
 * the evidence holds log lines, and the timeline is for the chat of the machine that watches).
 */
export interface IncidentEvent {
  at: number;
  kind: IncidentEventKind;
  /** Who: the acknowledger, the person who ran an action; null for what Jaga did itself. */
  by: string | null;
  /** `action`: the command as run (`/restart bot-kjp stb`); `resolved`: the quiet time in ms, null when the condition ended. */
  detail: string | null;
}

export interface IncidentTimeline {
  /** What was known at the moment it opened (cause, error lines, vitals), masked, at most 40 lines / 4 KB. */
  evidence: string[];
  events: IncidentEvent[];
}

/** One block of a NIK. Unblocking closes it (unblockedAt set); rows are never deleted. */
export interface BlockRecord {
  id: number;
  /** Full 16-digit NIK: only the store sees it unmasked; mask it (`redact`) before it goes anywhere. */
  nik: string;
  reason: string;
  blockedBy: string;
  blockedAt: number;
  unblockedAt: number | null;
  unblockedBy: string | null;
}

/**
 * Blocked NIKs (KTP numbers), with history. At most one active block per NIK; blocking an
 * already blocked NIK is not an error, it returns the existing block with created false.
 *
 * @example
 * const r = await store.blocked.block({ nik, reason: "fraud", blockedBy: "Budi", at });
 * if (!r.created) reply("already blocked since " + date(r.block.blockedAt));
 */
export interface BlockedKtp {
  block(b: { nik: string; reason: string; blockedBy: string; at: number }): Promise<{ block: BlockRecord; created: boolean }>;
  /** Closes the active block; null when the NIK was not blocked. */
  unblock(u: { nik: string; by: string; at: number }): Promise<BlockRecord | null>;
  /** The active block of a NIK, or null. */
  active(nik: string): Promise<BlockRecord | null>;
  /** Every block of a NIK, newest first. */
  history(nik: string, limit?: number): Promise<BlockRecord[]>;
}

/** Writes still on their way to the system of record (Supabase); /status and /health show it. */
export interface ReplicationStatus {
  /** Where the writes go, e.g. the Supabase host; null when there is no remote store. */
  readonly target: string | null;
  /** Writes waiting to be replayed, in order. 0 when everything has arrived (or no remote). */
  backlog(): Promise<number>;
  /** Writes the remote refused for good (a data error): kept, counted, logged, not retried. */
  rejected(): Promise<number>;
  /** The last replay error, masked, or null after a successful replay. */
  lastError(): string | null;
}

export interface Store {
  readonly kind: "sqlite" | "supabase" | "replicated";
  readonly audit: AuditLog;
  readonly incidents: Incidents;
  readonly blocked: BlockedKtp;
  close(): Promise<void>;
}

/** The embedded store also holds what only makes sense on this machine. */
export interface LocalStore extends Store {
  readonly outbox: Outbox;
  /** The local stores' incidents queue their alerts atomically (see {@link AlertingIncidents}). */
  readonly incidents: AlertingIncidents;
  /** Present on every store openStore() returns; backlog 0 when Supabase is not configured. */
  readonly replication?: ReplicationStatus;
}
