/**
 * The incident desk's incidents, shared by the instances of one Jaga (`jaga.incident`,
 * migrations/20261217080000_standby_desk.sql): the {@link AlertingIncidents} contract of the
 * embedded store, over {@link SharedDb}, with every alert queued in the shared outbox
 * (`jaga.outbox`, {@link SharedOutbox}) by the same database call as the change it announces.
 *
 * So the instance that takes over continues what the old one opened: the same numbers (`/ack 12`
 * still means #12), reminders and resolutions threaded under the same opening alert, and no
 * second opening alert for an incident the group already knows about.
 *
 * The embedded store runs the alert callback inside its transaction. Through PostgREST every call
 * is a transaction of its own, so here the callback runs first, on the incident as the change
 * will leave it (the next number for an opening, the state after an ack), and the database
 * commits the change and that alert together only if the incident is still what was read — its
 * version, or the next number. If not, this reads again and renders again. A callback may thus
 * run for a change that then loses such a race (its draft is discarded); what is committed is
 * always rendered from what was committed.
 *
 * Writes carry the term's epoch and are fenced like the outbox's: a refused one calls `onFenced`
 * and throw `FencedError`; with no term held they throw `NotActiveError` (src/standby/term.ts).
 *
 * @example
 * const incidents = new SharedIncidents({ db: standby.db, lease: "jaga", epoch: () => standby.keeper.currentEpoch() });
 * const { incident, created } = await incidents.openOrGet({ host: "stb", app: "bot-kjp", kind: "restart_storm", summary, at },
 *   (i) => ({ chatId: group, text: `… #${i.id}`, dedupeKey: `incident:${i.uid}:open` }));
 */
import { randomUUID } from "node:crypto";
import type { AlertFor, AlertingIncidents, Incident, IncidentEvent, IncidentKey, IncidentTimeline } from "../store/store.js";
import type { DbArg, SharedDb } from "./db.js";
import { underTerm, type TermSource } from "./term.js";

export interface SharedIncidentsOptions extends TermSource {
  db: SharedDb;
  lease: string;
}

interface Row {
  id: number;
  uid: string;
  host: string;
  app: string;
  kind: string;
  state: Incident["state"];
  summary: string;
  opened_at: number;
  acknowledged_at: number | null;
  acknowledged_by: string | null;
  resolved_at: number | null;
  version: number;
}

type Versioned = Incident & { version: number };

/** Read again and render again at most this often before giving up (another writer keeps winning). */
const TRIES = 5;

export class SharedIncidents implements AlertingIncidents {
  constructor(private readonly o: SharedIncidentsOptions) {}

  async openOrGet(
    o: IncidentKey & { summary: string; at: number; uid?: string; evidence?: readonly string[] },
    alert?: AlertFor,
  ): Promise<{ incident: Incident; created: boolean }> {
    const uid = o.uid ?? randomUUID();
    const peek = await this.o.db.value<{ open: Row | null; next: number }>("jaga_incident_peek", { p_name: this.o.lease, p_host: o.host, p_app: o.app, p_kind: o.kind });
    if (peek.open) return { incident: plain(fromRow(peek.open)), created: false };
    let next = Number(peek.next);
    for (let n = 0; n < TRIES; n++) {
      const draft: Incident = { id: next, uid, host: o.host, app: o.app, kind: o.kind, state: "open", summary: o.summary, openedAt: o.at, acknowledgedAt: null, acknowledgedBy: null, resolvedAt: null };
      const rendered = alert?.(draft) ?? null;
      const r = await this.write("open", (epoch) =>
        this.o.db.value<{ created: boolean; incident?: Row; next?: number }>("jaga_incident_open", {
          p_name: this.o.lease,
          p_epoch: epoch,
          p_host: o.host,
          p_app: o.app,
          p_kind: o.kind,
          p_uid: uid,
          p_id: next,
          p_summary: o.summary,
          p_at: o.at,
          p_evidence: { jsonb: o.evidence ?? [] },
          // Always typed jsonb (a direct connection types a bare null as text); JSON null is no alert.
          p_alert: { jsonb: rendered ? toAlert(rendered) : null },
        }),
      );
      if (r.incident) return { incident: plain(fromRow(r.incident)), created: r.created };
      next = Number(r.next);
    }
    throw new Error(`incident ${o.kind} on ${o.host}: the next number kept changing, not opened`);
  }

  ack(id: number, by: string, at: number, alert?: AlertFor): Promise<Incident | null> {
    return this.change(id, "ack", at, (i) => (i.state === "open" ? { ...i, state: "acknowledged", acknowledgedAt: at, acknowledgedBy: by } : null), alert, { p_by: by });
  }

  resolve(id: number, at: number, alert?: AlertFor, quietMs?: number): Promise<Incident | null> {
    return this.change(id, "resolve", at, (i) => (i.state !== "resolved" ? { ...i, state: "resolved", resolvedAt: at } : null), alert, {
      p_detail: quietMs === undefined ? null : String(quietMs),
    });
  }

  async notify(id: number, at: number, alert: AlertFor): Promise<boolean> {
    let queued = false;
    await this.change(id, "notify", at, (i) => i, alert, {}, (r) => (queued = r.queued === true));
    return queued;
  }

  async addEvent(id: number, event: IncidentEvent): Promise<boolean> {
    const r = await this.write("event", (epoch) =>
      this.o.db.value<{ incident: Row | null }>("jaga_incident_change", {
        p_name: this.o.lease,
        p_epoch: epoch,
        p_id: id,
        p_op: "event",
        p_version: 0, // an event is not a change of state: no version to match
        p_at: event.at,
        p_by: event.by,
        p_detail: event.detail,
        p_event_kind: event.kind,
      }),
    );
    return r.incident !== null;
  }

  async timeline(id: number): Promise<IncidentTimeline | null> {
    const t = await this.o.db.value<{ evidence: string[]; events: { at: number; kind: IncidentEvent["kind"]; by: string | null; detail: string | null }[] } | null>(
      "jaga_incident_timeline",
      { p_name: this.o.lease, p_id: id },
    );
    if (!t) return null;
    return { evidence: t.evidence, events: t.events.map((e) => ({ at: Number(e.at), kind: e.kind, by: e.by, detail: e.detail })) };
  }

  async get(id: number): Promise<Incident | null> {
    const v = await this.versioned(id);
    return v ? plain(v) : null;
  }

  async listOpen(): Promise<Incident[]> {
    return (await this.select("open", {})).map(plain);
  }

  async listSince(since: number): Promise<Incident[]> {
    return (await this.select("since", { p_at: since })).map(plain);
  }

  /**
   * One change, rendered from the incident as `after` says the change leaves it (null: the change
   * would change nothing, so nothing is written and the incident comes back as it is).
   */
  private async change(
    id: number,
    op: "ack" | "resolve" | "notify",
    at: number,
    after: (i: Incident) => Incident | null,
    alert: AlertFor | undefined,
    extra: Record<string, DbArg>,
    seen?: (r: { queued?: boolean }) => void,
  ): Promise<Incident | null> {
    let current = await this.versioned(id);
    for (let n = 0; n < TRIES && current; n++) {
      const next = after(plain(current));
      if (!next) return plain(current);
      const rendered = alert?.(next) ?? null;
      const r = await this.write(op, (epoch) =>
        this.o.db.value<{ incident: Row | null; stale?: boolean; queued?: boolean }>("jaga_incident_change", {
          p_name: this.o.lease,
          p_epoch: epoch,
          p_id: id,
          p_op: op,
          p_version: current!.version,
          p_at: at,
          p_alert: { jsonb: rendered ? toAlert(rendered) : null },
          ...extra,
        }),
      );
      if (!r.incident) return null;
      current = fromRow(r.incident);
      if (!r.stale) {
        seen?.(r);
        return plain(current);
      }
    }
    if (!current) return null;
    throw new Error(`incident #${id}: changed under us ${TRIES} times, ${op} not written`);
  }

  private async versioned(id: number): Promise<Versioned | null> {
    return (await this.select("id", { p_id: id }))[0] ?? null;
  }

  private async select(what: string, args: Record<string, DbArg>): Promise<Versioned[]> {
    const rows = await this.o.db.value<Row[]>("jaga_incident_select", { p_name: this.o.lease, p_what: what, ...args });
    return rows.map(fromRow);
  }

  /** A write under the epoch held now; fencing loses the lease. */
  private write<T>(what: string, call: (epoch: number) => Promise<T>): Promise<T> {
    return underTerm(this.o, `incident ${what}`, call);
  }
}

function toAlert(d: NonNullable<ReturnType<AlertFor>>): Record<string, string | null> {
  return { chat_id: d.chatId, text: d.text, dedupe_key: d.dedupeKey, thread: d.thread ?? null, edit: d.edit ?? null };
}

function fromRow(r: Row): Versioned {
  return {
    id: Number(r.id),
    uid: r.uid,
    host: r.host,
    app: r.app,
    kind: r.kind,
    state: r.state,
    summary: r.summary,
    openedAt: Number(r.opened_at),
    acknowledgedAt: r.acknowledged_at === null ? null : Number(r.acknowledged_at),
    acknowledgedBy: r.acknowledged_by,
    resolvedAt: r.resolved_at === null ? null : Number(r.resolved_at),
    version: r.version,
  };
}

/** The incident without the version (callers compare incidents with deepEqual). */
function plain(v: Versioned): Incident {
  const { version: _version, ...incident } = v;
  return incident;
}
