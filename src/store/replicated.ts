/**
 * The store Jaga uses when Supabase is configured: every write lands in the embedded SQLite
 * store first, together with a row in the replication queue (one SQLite transaction), and a
 * replayer sends the queue to Supabase in order. Supabase down or failing costs nothing but
 * delay: commands keep working, the backlog grows, and it drains when Supabase answers again —
 * also after a restart, because the queue is on disk.
 *
 * Reads come from the local copy, which holds every write Jaga made. For blocked NIKs, which
 * other writers (the KJP bot) add straight to Supabase, a local miss asks Supabase too.
 *
 * @example
 * const store = new ReplicatedStore(openSqliteStore("data/jaga.db"), new SupabaseStore(client), clock, log);
 * store.start();
 * await store.replication.backlog(); // 0 when Supabase has everything
 */
import { randomUUID } from "node:crypto";
import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import { exponentialBackoff } from "../policy/backoff.js";
import { redact } from "../text.js";
import { blockedTable } from "./sqlite/blocked.js";
import { isStorageError } from "./sqlite/db.js";
import type { SqliteStore } from "./sqlite/index.js";
import { incidentsTable } from "./sqlite/incidents.js";
import { replicationQueue, type ReplicationQueue } from "./sqlite/replication.js";
import type {
  AlertFor,
  AlertingIncidents,
  AuditLog,
  BlockedKtp,
  BlockRecord,
  LocalStore,
  Outbox,
  ReplicationStatus,
  Store,
} from "./store.js";
import { isRetryable } from "./supabase/errors.js";
import { describeOp, type OpTarget, type ReplicationOp } from "./supabase/ops.js";

export interface ReplicaOptions {
  /** First wait after a failed replay; doubles up to `maxRetryMs`. Default 1 s. */
  retryMs?: number;
  maxRetryMs?: number;
  /** How often an idle replayer looks anyway (writes also wake it). Default 30 s. */
  idleMs?: number;
  /** Shown in /status: where the writes go. */
  target?: string;
  /** How long a read-through to Supabase may take before the local answer is used. Default 3 s. */
  readTimeoutMs?: number;
}

/** The remote side: applies replicated ops and answers blocked-NIK lookups. */
export type Remote = OpTarget & Pick<Store, "blocked" | "close">;

export class ReplicatedStore implements LocalStore {
  readonly kind = "replicated" as const;
  readonly audit: AuditLog;
  readonly incidents: AlertingIncidents;
  readonly blocked: BlockedKtp;
  readonly outbox: Outbox;
  readonly replication: ReplicationStatus;

  private readonly queue: ReplicationQueue;
  private lastError: string | null = null;
  private running: Promise<void> | null = null;
  private draining: Promise<boolean> | null = null;
  private wake: AbortController | null = null;
  private stopped = false;
  private failures = 0;

  constructor(
    readonly local: SqliteStore,
    readonly remote: Remote,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly options: ReplicaOptions = {},
  ) {
    const db = local.db;
    const queue = (this.queue = replicationQueue(db));
    const incidents = incidentsTable(db);
    const blocked = blockedTable(db);
    const push = (op: ReplicationOp) => queue.push(JSON.stringify(op), clock.now());
    // Each write and its queue row commit together, or neither does.
    const tx = <A extends unknown[], R>(f: (...a: A) => R) => {
      const inTx = db.transaction(f);
      return (...a: A): Promise<R> =>
        new Promise<R>((resolve) => resolve(inTx(...a))).then((r) => {
          this.kick();
          return r;
        });
    };

    this.outbox = local.outbox;
    this.audit = {
      // better-sqlite3 is synchronous: the local insert inside add() runs within this transaction.
      add: tx((record) => {
        void local.audit.add(record);
        push({ type: "audit.add", uid: randomUUID(), record });
      }),
      recent: (limit) => local.audit.recent(limit),
    };
    // An incident change, its alert (outbox row, see AlertingIncidents) and its replication row
    // commit together: incidentsTable's own transaction nests inside tx as a savepoint.
    this.incidents = {
      openOrGet: tx((o, alert?: AlertFor) => {
        const r = incidents.openOrGet(o, alert);
        if (r.created) {
          const i = r.incident;
          push({ type: "incident.open", uid: i.uid, host: i.host, app: i.app, kind: i.kind, summary: i.summary, at: i.openedAt });
        }
        return r;
      }),
      ack: tx((id: number, by: string, at: number, alert?: AlertFor) => {
        const r = incidents.ack(id, by, at, alert);
        if (r?.changed) push({ type: "incident.ack", uid: r.incident.uid, by, at });
        return r?.incident ?? null;
      }),
      resolve: tx((id: number, at: number, alert?: AlertFor, quietMs?: number) => {
        const r = incidents.resolve(id, at, alert, quietMs);
        if (r?.changed) push({ type: "incident.resolve", uid: r.incident.uid, at });
        return r?.incident ?? null;
      }),
      // A reminder changes no incident: nothing to replicate.
      notify: (id, at, alert) => local.incidents.notify(id, at, alert),
      // Evidence and timeline stay local (see IncidentEvent): the ops above carry neither, and
      // Supabase has no columns for them. Replicating them would mean a migration and an op per
      // event for what only this machine's /incident shows.
      addEvent: (id, event) => local.incidents.addEvent(id, event),
      timeline: (id) => local.incidents.timeline(id),
      get: (id) => local.incidents.get(id),
      listOpen: () => local.incidents.listOpen(),
      listSince: (since) => local.incidents.listSince(since),
    };
    const blockLocal = tx((b: { nik: string; reason: string; blockedBy: string; at: number }) => {
      const r = blocked.block(b);
      if (r.created) push({ type: "blocked.block", ...b });
      return r;
    });
    const unblockLocal = tx((u: { nik: string; by: string; at: number }, remoteActive: boolean) => {
      const r = blocked.unblock(u);
      if (r || remoteActive) push({ type: "blocked.unblock", ...u });
      return r;
    });
    this.blocked = {
      block: async (b) => {
        const remote = blocked.active(b.nik) ? null : await this.remoteActive(b.nik);
        if (remote) return { block: remote, created: false };
        return blockLocal(b);
      },
      unblock: async (u) => {
        const localActive = blocked.active(u.nik);
        const remote = localActive ? null : await this.remoteActive(u.nik);
        const r = await unblockLocal(u, remote !== null);
        return r ?? (remote ? { ...remote, unblockedAt: u.at, unblockedBy: u.by } : null);
      },
      active: async (nik) => blocked.active(nik) ?? (await this.remoteActive(nik)),
      history: (nik, limit) => local.blocked.history(nik, limit),
    };
    this.replication = {
      target: options.target ?? "supabase",
      backlog: () => new Promise((resolve) => resolve(queue.backlog())),
      rejected: () => new Promise((resolve) => resolve(queue.rejected())),
      lastError: () => this.lastError,
    };
  }

  /**
   * Starts the replayer: drains now, then whenever a write arrives, retrying with backoff
   * while Supabase fails.
   *
   * @example
   * store.start(); ... await store.close();
   */
  start(): void {
    this.running ??= this.loop();
  }

  /** Wakes the replayer now (after a write). */
  kick(): void {
    this.wake?.abort();
  }

  /**
   * Sends everything queued, in order, stopping at the first retryable failure.
   * Resolves true when the queue is empty. Never runs twice at once.
   *
   * @example
   * await store.sync(); // tests, and shutdown's last attempt
   */
  sync(): Promise<boolean> {
    this.draining ??= this.drain().finally(() => (this.draining = null));
    return this.draining;
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.kick();
    await this.running;
    await this.draining;
    await this.remote.close().catch(() => undefined);
    await this.local.close();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const empty = await this.sync();
      if (this.stopped) break;
      const wait = empty
        ? (this.options.idleMs ?? 30_000)
        : exponentialBackoff({ baseMs: this.options.retryMs ?? 1_000, capMs: this.options.maxRetryMs ?? 60_000 }).delay(this.failures);
      this.wake = new AbortController();
      await this.clock.sleep(wait, this.wake.signal).catch(() => undefined);
      this.wake = null;
    }
  }

  private async drain(): Promise<boolean> {
    for (;;) {
      if (this.local.db.open === false) return false;
      const batch = this.queue.peek(50);
      if (batch.length === 0) {
        if (this.failures > 0) this.log.info({ target: this.replication.target }, "replication caught up");
        this.failures = 0;
        this.lastError = null;
        return true;
      }
      for (const row of batch) {
        const op = JSON.parse(row.op) as ReplicationOp;
        try {
          await this.remote.apply(op);
          this.queue.done(row.id);
        } catch (err) {
          const message = redact(err instanceof Error ? err.message : String(err));
          this.lastError = message;
          // Jaga's own disk, not Supabase: try again later (ops are idempotent, see ops.ts).
          if (isStorageError(err)) {
            this.failures++;
            return false;
          }
          if (!isRetryable(err)) {
            this.queue.reject(row.id, message, this.clock.now());
            this.log.error({ op: describeOp(op), error: message }, "Supabase refused a replicated write for good; kept aside");
            continue;
          }
          this.queue.failed(row.id, message);
          if (this.failures++ === 0) this.log.warn({ op: describeOp(op), error: message }, "replication to Supabase failing; writes queue locally");
          return false;
        }
      }
    }
  }

  /** Supabase's answer for a NIK, or null when it has none, is down, or is too slow. */
  private async remoteActive(nik: string): Promise<BlockRecord | null> {
    const timeout = this.options.readTimeoutMs ?? 3_000;
    const abort = new AbortController();
    try {
      return await Promise.race([
        this.remote.blocked.active(nik),
        this.clock.sleep(timeout, abort.signal).then(() => null),
      ]);
    } catch (err) {
      this.log.debug({ error: redact(String(err)) }, "blocked NIK read-through to Supabase failed; local answer used");
      return null;
    } finally {
      abort.abort();
    }
  }
}
