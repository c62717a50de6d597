/**
 * The /health document: one JSON snapshot of what an admin asks first when the bot is quiet —
 * is WhatsApp connected (since when, how many attempts, why it last closed, the breaker, the
 * next attempt), what waits to be sent, which hosts answer, can Jaga write its own data (and how
 * full its disk is), how long Jaga has run, which version. `status` is "degraded" whenever one
 * of those is wrong, and `reasons` says which, in one line each (the server answers 503 then).
 *
 * @example
 * const snap = await healthSnapshot(sources); // { status: "ok", reasons: [], whatsapp: { state: "open", ... }, ... }
 */
import { formatBytes } from "../duration.js";
import { describeProblem, type StoreCondition } from "../store/health.js";
import type { ReplicationStatus } from "../store/store.js";
import type { Clock } from "../clock.js";
import type { WhatsAppControl } from "../reconnect/control.js";
import type { ReconnectorStatus } from "../reconnect/reconnector.js";
import type { LeaseStatus } from "../standby/lease.js";

export interface HealthSources {
  clock: Clock;
  startedAt: number;
  version: string;
  transport: string;
  whatsapp?: WhatsAppControl;
  /** Outgoing messages waiting in the outbox. */
  backlog(): Promise<number>;
  /** Reachability per host: true/false once checked, null while unknown. */
  hosts(): { name: string; reachable: boolean | null }[];
  /** Writes waiting for Supabase (absent without a remote store). */
  replication?: ReplicationStatus;
  /** Can Jaga write its data, and its data disk (store/health.ts). */
  store?: () => StoreCondition;
  /** Data disk use (percent) at which Jaga counts as degraded: watch.disk.critical. Default 90. */
  diskCritical?: number;
  /** With `standby:` configured: this instance's role, the lease, the other instances. */
  standby?: () => LeaseStatus;
}

export interface HealthSnapshot {
  status: "ok" | "degraded";
  /** Why it is degraded, one line each; empty when ok. */
  reasons: string[];
  version: string;
  transport: string;
  uptimeSeconds: number;
  queuedOutgoing: number;
  /** Supabase replication: target, writes waiting, writes refused for good, last error. */
  replication: { target: string | null; backlog: number; rejected: number; lastError: string | null } | null;
  hosts: { name: string; reachable: boolean | null }[];
  /**
   * With a standby configured: this instance's role and since when, the lease's holder and its
   * last renewal, and every instance heard of (role, how long silent); null without one.
   */
  standby: {
    role: "active" | "standby" | "stopped";
    instance: string;
    lease: string;
    epoch: number | null;
    since: string;
    via: "postgrest" | "direct";
    holder: { instance: string; epoch: number; renewedAt: string; expiresAt: string; silent: boolean } | null;
    instances: { instance: string; role: string; self: boolean; startedAt: string; seenAt: string; silentSeconds: number }[];
    lastError: string | null;
  } | null;
  /** The embedded store: writable or not since when and why, and its disk; null when unknown. */
  store: {
    writable: boolean;
    since: string | null;
    problem: string | null;
    lastError: string | null;
    dataDir: { path: string; usedPercent: number; freeBytes: number; sizeBytes: number } | null;
  } | null;
  whatsapp: (Omit<ReconnectorStatus, "since" | "nextAttemptAt" | "lastClose"> & {
    since: string;
    nextAttemptAt: string | null;
    lastClose: { code: number | null; reason: string | null; kind: string; at: string } | null;
    ignored: Record<string, number>;
    /** Outgoing messages: queued, written without a server ack, retrying, dead-lettered; the oldest queued. */
    delivery: { queued: number; unacked: number; retrying: number; dead: number; oldestQueuedAgeSeconds: number | null } | null;
  }) | null;
}

export async function healthSnapshot(s: HealthSources): Promise<HealthSnapshot> {
  const now = s.clock.now();
  const queuedOutgoing = await s.backlog().catch(() => -1);
  const hosts = safeHosts(s);
  const r = s.replication;
  const replication =
    r && r.target !== null
      ? { target: r.target, backlog: await r.backlog().catch(() => -1), rejected: await r.rejected().catch(() => -1), lastError: r.lastError() }
      : null;
  let whatsapp: HealthSnapshot["whatsapp"] = null;
  if (s.whatsapp) {
    const st = s.whatsapp.status();
    const d = await s.whatsapp.delivery?.().catch(() => null);
    whatsapp = {
      ...st,
      since: iso(st.since),
      nextAttemptAt: st.nextAttemptAt === null ? null : iso(st.nextAttemptAt),
      lastClose: st.lastClose
        ? { code: st.lastClose.code ?? null, reason: st.lastClose.errorCode ?? st.lastClose.message ?? null, kind: st.lastClose.kind, at: iso(st.lastClose.at) }
        : null,
      ignored: s.whatsapp.ignored(),
      delivery: d
        ? { queued: d.queued, unacked: d.unacked, retrying: d.retrying, dead: d.dead, oldestQueuedAgeSeconds: d.oldestQueuedAt === null ? null : Math.round((now - d.oldestQueuedAt) / 1000) }
        : null,
    };
  }
  const store = safeStore(s);
  const lease = safeStandby(s);
  const standby: HealthSnapshot["standby"] = lease && {
    role: lease.role,
    instance: lease.instance,
    lease: lease.lease,
    epoch: lease.epoch,
    since: iso(lease.since),
    via: lease.via,
    holder: lease.holder && {
      instance: lease.holder.instance,
      epoch: lease.holder.epoch,
      renewedAt: iso(lease.holder.renewedAt),
      expiresAt: iso(lease.holder.expiresAt),
      silent: lease.holderSilent,
    },
    instances: lease.members.map((m) => ({
      instance: m.instance,
      role: m.role,
      self: m.self,
      startedAt: iso(m.startedAt),
      seenAt: iso(m.seenAt),
      silentSeconds: Math.round(m.silentForMs / 1000),
    })),
    lastError: lease.lastError,
  };
  const reasons: string[] = [];
  if (store && !store.writable && store.problem) reasons.push(`Jaga cannot write its data (${describeProblem(store.problem, store.disk, store.disk?.path ?? "data directory")})`);
  const critical = s.diskCritical ?? 90;
  if (store?.disk && store.disk.usedPercent >= critical) {
    reasons.push(`data disk ${store.disk.path} at ${store.disk.usedPercent}% (critical ${critical}%), ${formatBytes(store.disk.freeBytes)} free`);
  }
  // A standby has no socket on purpose; what would make it degraded is the active one gone quiet.
  const standingBy = standby !== null && standby.role !== "active";
  if (whatsapp !== null && whatsapp.state !== "open" && !standingBy) reasons.push(`whatsapp ${whatsapp.state}`);
  if (standby?.holder?.silent && standingBy) reasons.push(`active instance ${standby.holder.instance} silent since ${standby.holder.renewedAt}`);
  if (standby?.lastError) reasons.push(`standby: the lease database cannot be reached (${standby.lastError})`);
  if (whatsapp?.delivery && whatsapp.delivery.dead > 0) reasons.push(`${whatsapp.delivery.dead} WhatsApp message(s) could not be delivered`);
  for (const h of hosts) if (h.reachable === false) reasons.push(`host ${h.name} unreachable`);
  return {
    status: reasons.length > 0 ? "degraded" : "ok",
    reasons,
    version: s.version,
    transport: s.transport,
    uptimeSeconds: Math.round((now - s.startedAt) / 1000),
    queuedOutgoing,
    replication,
    hosts,
    standby,
    store: store && {
      writable: store.writable,
      since: store.since === null ? null : iso(store.since),
      problem: store.problem,
      lastError: store.lastError,
      dataDir: store.disk && { path: store.disk.path, usedPercent: store.disk.usedPercent, freeBytes: store.disk.freeBytes, sizeBytes: store.disk.sizeBytes },
    },
    whatsapp,
  };
}

function safeStore(s: HealthSources): StoreCondition | null {
  try {
    return s.store?.() ?? null;
  } catch {
    return null;
  }
}

function safeStandby(s: HealthSources): LeaseStatus | null {
  try {
    return s.standby?.() ?? null;
  } catch {
    return null;
  }
}

function safeHosts(s: HealthSources): HealthSnapshot["hosts"] {
  try {
    return s.hosts();
  } catch {
    return [];
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
