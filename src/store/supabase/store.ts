/**
 * The store on Supabase (supabase-js over PostgREST): the system of record for audit,
 * incidents and blocked_ktp. Same interfaces and same contract suite as the SQLite store.
 *
 * Duplicates are upserts with `ignoreDuplicates` (ON CONFLICT DO NOTHING), never errors: a
 * replayed audit record (same uid), a second open of the same incident (same open_key), a second
 * block of an active NIK (same active_nik). Errors become {@link SupabaseError}s.
 *
 * @example
 * const store = new SupabaseStore(createSupabaseClient({ url, key: serviceRoleKey }));
 * await store.blocked.block({ nik, reason: "fraud", blockedBy: "Budi", at: Date.now() });
 */
import { randomUUID } from "node:crypto";
import type {
  AuditLog,
  AuditRecord,
  BlockedKtp,
  BlockRecord,
  Incident,
  IncidentKey,
  Incidents,
  IncidentState,
  Outcome,
  Store,
  StoredAudit,
} from "../store.js";
import type { JagaSupabaseClient } from "./client.js";
import { supabaseError, type PostgrestErrorLike } from "./errors.js";
import type { OpTarget, ReplicationOp } from "./ops.js";

interface Result<T> {
  data: T | null;
  error: PostgrestErrorLike | null;
  status: number;
}

interface AuditRow {
  id: number;
  at: string;
  actor: string;
  actor_name: string;
  command: string;
  args: string;
  host: string | null;
  outcome: string;
  duration_ms: number;
  error_id: string | null;
}

interface IncidentRow {
  id: number;
  uid: string;
  host: string;
  app: string;
  kind: string;
  state: string;
  summary: string;
  opened_at: string;
  acknowledged_at: string | null;
  acknowledged_by: string | null;
  resolved_at: string | null;
}

interface BlockRow {
  id: number;
  nik: string;
  reason: string;
  blocked_by: string;
  blocked_at: string;
  unblocked_at: string | null;
  unblocked_by: string | null;
}

/** Unwraps a supabase-js result, or throws the typed error. */
function check<T>(r: Result<T>, table: string): T | null {
  if (r.error) throw supabaseError(r.error, r.status, table);
  return r.data;
}

const iso = (ms: number) => new Date(ms).toISOString();
const ms = (ts: string | null) => (ts === null ? null : Date.parse(ts));

export class SupabaseStore implements Store, OpTarget {
  readonly kind = "supabase" as const;
  readonly audit: AuditLog;
  readonly incidents: Incidents;
  readonly blocked: BlockedKtp;

  constructor(readonly client: JagaSupabaseClient) {
    this.audit = {
      add: (record) => this.addAudit(randomUUID(), record),
      recent: async (limit) => {
        const rows = check<AuditRow[]>(
          await this.client.from("command_audit").select("*").order("id", { ascending: false }).limit(limit).retry(false),
          "command_audit",
        );
        return (rows ?? []).map(auditFromRow);
      },
    };
    this.incidents = {
      openOrGet: (o) => this.openIncident({ ...o, uid: o.uid ?? randomUUID() }),
      ack: async (id, by, at) =>
        (await this.transition({ state: "acknowledged", acknowledged_at: iso(at), acknowledged_by: by }, "id", id, ["open"])) ??
        (await this.incidents.get(id)),
      resolve: async (id, at) =>
        (await this.transition({ state: "resolved", resolved_at: iso(at) }, "id", id, ["open", "acknowledged"])) ??
        (await this.incidents.get(id)),
      get: async (id) => {
        const row = check<IncidentRow>(await this.client.from("incidents").select("*").eq("id", id).maybeSingle().retry(false), "incidents");
        return row ? incidentFromRow(row) : null;
      },
      listOpen: async () => {
        const rows = check<IncidentRow[]>(
          await this.client.from("incidents").select("*").neq("state", "resolved").order("opened_at").order("id").retry(false),
          "incidents",
        );
        return (rows ?? []).map(incidentFromRow);
      },
      listSince: async (since) => {
        const t = iso(since);
        const rows = check<IncidentRow[]>(
          await this.client.from("incidents").select("*").or(`opened_at.gte.${t},resolved_at.gte.${t}`).order("opened_at").order("id").retry(false),
          "incidents",
        );
        return (rows ?? []).map(incidentFromRow);
      },
    };
    this.blocked = {
      block: (b) => this.block(b),
      unblock: async (u) => {
        const rows = check<BlockRow[]>(
          await this.client
            .from("blocked_ktp")
            .update({ unblocked_at: iso(u.at), unblocked_by: u.by })
            .eq("nik", u.nik)
            .is("unblocked_at", null)
            .select("*"),
          "blocked_ktp",
        );
        return rows?.[0] ? blockFromRow(rows[0]) : null;
      },
      active: async (nik) => {
        const row = check<BlockRow>(
          await this.client.from("blocked_ktp").select("*").eq("nik", nik).is("unblocked_at", null).maybeSingle().retry(false),
          "blocked_ktp",
        );
        return row ? blockFromRow(row) : null;
      },
      history: async (nik, limit = 20) => {
        const rows = check<BlockRow[]>(
          await this.client
            .from("blocked_ktp")
            .select("*")
            .eq("nik", nik)
            .order("blocked_at", { ascending: false })
            .order("id", { ascending: false })
            .limit(limit)
            .retry(false),
          "blocked_ktp",
        );
        return (rows ?? []).map(blockFromRow);
      },
    };
  }

  /**
   * Applies one replicated write; safe to repeat (see ops.ts).
   *
   * @example
   * await store.apply({ type: "incident.resolve", uid, at });
   */
  async apply(op: ReplicationOp): Promise<void> {
    switch (op.type) {
      case "audit.add":
        return this.addAudit(op.uid, op.record);
      case "incident.open":
        await this.openIncident(op);
        return;
      case "incident.ack":
        await this.transition({ state: "acknowledged", acknowledged_at: iso(op.at), acknowledged_by: op.by }, "uid", op.uid, ["open"]);
        return;
      case "incident.resolve":
        await this.transition({ state: "resolved", resolved_at: iso(op.at) }, "uid", op.uid, ["open", "acknowledged"]);
        return;
      case "blocked.block":
        await this.block(op);
        return;
      case "blocked.unblock":
        await this.blocked.unblock(op);
        return;
    }
  }

  /** Nothing to release: requests are one-shot, and realtime is never connected (its disconnect would arm a 10 s timer). */
  close(): Promise<void> {
    return Promise.resolve();
  }

  private async addAudit(uid: string, r: AuditRecord): Promise<void> {
    const row = {
      uid,
      at: iso(r.at),
      actor: r.actor,
      actor_name: r.actorName,
      command: r.command,
      args: r.args,
      host: r.host,
      outcome: r.outcome,
      duration_ms: Math.max(0, Math.round(r.durationMs)),
      error_id: r.errorId,
    };
    check(await this.client.from("command_audit").upsert(row, { onConflict: "uid", ignoreDuplicates: true }), "command_audit");
  }

  private async openIncident(o: IncidentKey & { uid: string; summary: string; at: number }): Promise<{ incident: Incident; created: boolean }> {
    const row = { uid: o.uid, host: o.host, app: o.app, kind: o.kind, summary: o.summary, opened_at: iso(o.at) };
    const inserted = check<IncidentRow[]>(
      await this.client.from("incidents").upsert(row, { onConflict: "open_key", ignoreDuplicates: true }).select("*"),
      "incidents",
    );
    if (inserted?.[0]) return { incident: incidentFromRow(inserted[0]), created: true };
    const current = check<IncidentRow>(
      await this.client.from("incidents").select("*").eq("host", o.host).eq("app", o.app).eq("kind", o.kind).neq("state", "resolved").maybeSingle(),
      "incidents",
    );
    // Resolved between the two calls: open a fresh one (rare, and the retry settles it).
    if (!current) return this.openIncident({ ...o, uid: randomUUID() });
    return { incident: incidentFromRow(current), created: false };
  }

  /** Moves an incident forward; null when it was not in one of `from` (or does not exist). */
  private async transition(
    change: Record<string, string>,
    column: "id" | "uid",
    value: number | string,
    from: IncidentState[],
  ): Promise<Incident | null> {
    const rows = check<IncidentRow[]>(
      await this.client.from("incidents").update(change).eq(column, value).in("state", from).select("*"),
      "incidents",
    );
    return rows?.[0] ? incidentFromRow(rows[0]) : null;
  }

  private async block(b: { nik: string; reason: string; blockedBy: string; at: number }): Promise<{ block: BlockRecord; created: boolean }> {
    const row = { nik: b.nik, reason: b.reason, blocked_by: b.blockedBy, blocked_at: iso(b.at) };
    for (let attempt = 0; ; attempt++) {
      const inserted = check<BlockRow[]>(
        await this.client.from("blocked_ktp").upsert(row, { onConflict: "active_nik", ignoreDuplicates: true }).select("*"),
        "blocked_ktp",
      );
      if (inserted?.[0]) return { block: blockFromRow(inserted[0]), created: true };
      const existing = await this.blocked.active(b.nik);
      // Unblocked between the two calls: try the insert once more.
      if (existing || attempt > 0) {
        if (!existing) throw new Error("blocked_ktp: block neither inserted nor found");
        return { block: existing, created: false };
      }
    }
  }
}

function auditFromRow(r: AuditRow): StoredAudit {
  return {
    id: r.id,
    at: Date.parse(r.at),
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

function incidentFromRow(r: IncidentRow): Incident {
  return {
    id: r.id,
    uid: r.uid,
    host: r.host,
    app: r.app,
    kind: r.kind,
    state: r.state as IncidentState,
    summary: r.summary,
    openedAt: Date.parse(r.opened_at),
    acknowledgedAt: ms(r.acknowledged_at),
    acknowledgedBy: r.acknowledged_by,
    resolvedAt: ms(r.resolved_at),
  };
}

function blockFromRow(r: BlockRow): BlockRecord {
  return {
    id: r.id,
    nik: r.nik,
    reason: r.reason,
    blockedBy: r.blocked_by,
    blockedAt: Date.parse(r.blocked_at),
    unblockedAt: ms(r.unblocked_at),
    unblockedBy: r.unblocked_by,
  };
}
