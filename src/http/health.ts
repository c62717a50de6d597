/**
 * The /health document: one JSON snapshot of what an admin asks first when the bot is quiet —
 * is WhatsApp connected (since when, how many attempts, why it last closed, the breaker, the
 * next attempt), what waits to be sent, which hosts answer, how long Jaga has run, which version.
 *
 * @example
 * const snap = await healthSnapshot(sources); // { status: "ok", whatsapp: { state: "open", ... }, ... }
 */
import type { ReplicationStatus } from "../store/store.js";
import type { Clock } from "../clock.js";
import type { WhatsAppControl } from "../reconnect/control.js";
import type { ReconnectorStatus } from "../reconnect/reconnector.js";

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
}

export interface HealthSnapshot {
  status: "ok" | "degraded";
  version: string;
  transport: string;
  uptimeSeconds: number;
  queuedOutgoing: number;
  /** Supabase replication: target, writes waiting, writes refused for good, last error. */
  replication: { target: string | null; backlog: number; rejected: number; lastError: string | null } | null;
  hosts: { name: string; reachable: boolean | null }[];
  whatsapp: (Omit<ReconnectorStatus, "since" | "nextAttemptAt" | "lastClose"> & {
    since: string;
    nextAttemptAt: string | null;
    lastClose: { code: number | null; reason: string | null; kind: string; at: string } | null;
    ignored: Record<string, number>;
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
    whatsapp = {
      ...st,
      since: iso(st.since),
      nextAttemptAt: st.nextAttemptAt === null ? null : iso(st.nextAttemptAt),
      lastClose: st.lastClose
        ? { code: st.lastClose.code ?? null, reason: st.lastClose.errorCode ?? st.lastClose.message ?? null, kind: st.lastClose.kind, at: iso(st.lastClose.at) }
        : null,
      ignored: s.whatsapp.ignored(),
    };
  }
  const degraded = (whatsapp !== null && whatsapp.state !== "open") || hosts.some((h) => h.reachable === false);
  return {
    status: degraded ? "degraded" : "ok",
    version: s.version,
    transport: s.transport,
    uptimeSeconds: Math.round((now - s.startedAt) / 1000),
    queuedOutgoing,
    replication,
    hosts,
    whatsapp,
  };
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
