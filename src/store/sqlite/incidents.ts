/**
 * Incidents in SQLite: one not-yet-resolved incident per (host, app, kind), enforced by a
 * partial unique index; the lifecycle only moves forward (open -> acknowledged -> resolved).
 * A change that sends a message queues it in the outbox in the same transaction (see
 * AlertingIncidents in ../store.ts).
 *
 * Numbers are consecutive: the n-th incident is #n. They used to skip (356 ids for 16
 * incidents) because openOrGet was `INSERT … ON CONFLICT DO NOTHING`: with AUTOINCREMENT a
 * conflicting insert still advances sqlite_sequence, and the watcher calls openOrGet for every
 * restart of an app whose incident is already open. Now the open row is looked up first and
 * the insert only runs when there is none, in one transaction.
 *
 * The evidence (a column, written by the insert that opens the incident) and the timeline
 * (incident_events, each row written in the transaction of the change it records) are kept
 * here only: see IncidentEvent in ../store.ts.
 *
 * {@link incidentsTable} is synchronous so the replicating store can change an incident and
 * queue the change in one transaction; everyone else uses {@link sqliteIncidents}.
 */
import { randomUUID } from "node:crypto";
import type { AlertFor, AlertingIncidents, Incident, IncidentEvent, IncidentEventKind, IncidentKey, IncidentState, IncidentTimeline } from "../store.js";
import type { Db, Migration } from "./db.js";
import { outboxTable, type OutboxTable } from "./outbox.js";

export const incidentsMigrations: Migration[] = [
  {
    name: "incidents.001.create",
    sql: `CREATE TABLE incidents (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            uid             TEXT    NOT NULL UNIQUE,
            host            TEXT    NOT NULL,
            app             TEXT    NOT NULL DEFAULT '',
            kind            TEXT    NOT NULL,
            state           TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acknowledged', 'resolved')),
            summary         TEXT    NOT NULL DEFAULT '',
            opened_at       INTEGER NOT NULL,
            acknowledged_at INTEGER,
            acknowledged_by TEXT,
            resolved_at     INTEGER
          );
          CREATE UNIQUE INDEX incidents_one_open ON incidents(host, app, kind) WHERE state <> 'resolved';
          CREATE INDEX incidents_opened_at ON incidents(opened_at);`,
  },
  {
    // What was known when it opened, and what happened to it since (the /incident view).
    name: "incidents.002.evidence-and-events",
    sql: `ALTER TABLE incidents ADD COLUMN evidence TEXT;
          CREATE TABLE incident_events (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            at          INTEGER NOT NULL,
            kind        TEXT    NOT NULL CHECK (kind IN ('opened', 'reminded', 'acknowledged', 'action', 'resolved')),
            by          TEXT,
            detail      TEXT
          );
          CREATE INDEX incident_events_incident ON incident_events(incident_id, at);`,
  },
];

interface Row {
  id: number;
  uid: string;
  host: string;
  app: string;
  kind: string;
  state: string;
  summary: string;
  opened_at: number;
  acknowledged_at: number | null;
  acknowledged_by: string | null;
  resolved_at: number | null;
}

type OpenArgs = IncidentKey & { summary: string; at: number; uid?: string; evidence?: readonly string[] };

interface EventRow {
  at: number;
  kind: string;
  by: string | null;
  detail: string | null;
}

/** The same operations as {@link AlertingIncidents}, synchronous; each one is a transaction. */
export interface IncidentsTable {
  openOrGet(o: OpenArgs, alert?: AlertFor): { incident: Incident; created: boolean };
  ack(id: number, by: string, at: number, alert?: AlertFor): { incident: Incident; changed: boolean } | null;
  resolve(id: number, at: number, alert?: AlertFor, quietMs?: number): { incident: Incident; changed: boolean } | null;
  notify(id: number, at: number, alert: AlertFor): boolean;
  addEvent(id: number, event: IncidentEvent): boolean;
  timeline(id: number): IncidentTimeline | null;
  get(id: number): Incident | null;
  listOpen(): Incident[];
  listSince(since: number): Incident[];
}

/**
 * @example
 * const t = incidentsTable(db, outboxTable(db));
 * const { incident, created } = t.openOrGet({ host: "stb", app: "bot-kjp", kind: "restart_storm", summary: "", at }, alertFor);
 */
export function incidentsTable(db: Db, outbox: OutboxTable = outboxTable(db)): IncidentsTable {
  const insert = db.prepare<[string, string, string, string, string, number, string | null], Row>(
    `INSERT INTO incidents (uid, host, app, kind, summary, opened_at, evidence) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
  );
  const insertEvent = db.prepare<[number, number, string, string | null, string | null]>(
    `INSERT INTO incident_events (incident_id, at, kind, by, detail) VALUES (?, ?, ?, ?, ?)`,
  );
  const events = db.prepare<[number], EventRow>(`SELECT at, kind, by, detail FROM incident_events WHERE incident_id = ? ORDER BY at, id`);
  const evidenceOf = db.prepare<[number], { evidence: string | null }>(`SELECT evidence FROM incidents WHERE id = ?`);
  const event = (id: number, kind: IncidentEventKind, at: number, by: string | null = null, detail: string | null = null) =>
    insertEvent.run(id, at, kind, by, detail);
  const current = db.prepare<[string, string, string], Row>(
    `SELECT * FROM incidents WHERE host = ? AND app = ? AND kind = ? AND state <> 'resolved'`,
  );
  const byId = db.prepare<[number], Row>(`SELECT * FROM incidents WHERE id = ?`);
  const ack = db.prepare<[number, string, number], Row>(
    `UPDATE incidents SET state = 'acknowledged', acknowledged_at = ?, acknowledged_by = ? WHERE id = ? AND state = 'open' RETURNING *`,
  );
  const resolve = db.prepare<[number, number], Row>(
    `UPDATE incidents SET state = 'resolved', resolved_at = ? WHERE id = ? AND state <> 'resolved' RETURNING *`,
  );
  const open = db.prepare<[], Row>(`SELECT * FROM incidents WHERE state <> 'resolved' ORDER BY opened_at, id`);
  const since = db.prepare<[number, number], Row>(
    `SELECT * FROM incidents WHERE opened_at >= ? OR resolved_at >= ? ORDER BY opened_at, id`,
  );
  const get = (id: number) => {
    const row = byId.get(id);
    return row ? fromRow(row) : null;
  };
  /** Queues what `alert` makes of the incident; a throw in it rolls the whole change back. */
  const queue = (incident: Incident, at: number, alert: AlertFor | undefined) => {
    const draft = alert?.(incident);
    return draft ? outbox.enqueue({ ...draft, at }) : false;
  };
  const transition = (row: Row | undefined, id: number, at: number, alert: AlertFor | undefined, record: () => void) => {
    if (row) {
      const incident = fromRow(row);
      record();
      queue(incident, at, alert);
      return { incident, changed: true };
    }
    const existing = get(id);
    return existing ? { incident: existing, changed: false } : null;
  };
  return {
    openOrGet: db.transaction((o: OpenArgs, alert?: AlertFor) => {
      const row = current.get(o.host, o.app, o.kind);
      if (row) return { incident: fromRow(row), created: false };
      const evidence = o.evidence?.length ? o.evidence.join("\n") : null;
      const incident = fromRow(insert.get(o.uid ?? randomUUID(), o.host, o.app, o.kind, o.summary, o.at, evidence)!);
      event(incident.id, "opened", o.at);
      queue(incident, o.at, alert);
      return { incident, created: true };
    }),
    ack: db.transaction((id: number, by: string, at: number, alert?: AlertFor) =>
      transition(ack.get(at, by, id), id, at, alert, () => event(id, "acknowledged", at, by)),
    ),
    resolve: db.transaction((id: number, at: number, alert?: AlertFor, quietMs?: number) =>
      transition(resolve.get(at, id), id, at, alert, () => event(id, "resolved", at, null, quietMs === undefined ? null : String(Math.round(quietMs)))),
    ),
    notify: db.transaction((id: number, at: number, alert: AlertFor) => {
      const incident = get(id);
      const queued = incident ? queue(incident, at, alert) : false;
      if (queued) event(id, "reminded", at);
      return queued;
    }),
    addEvent: db.transaction((id: number, e: IncidentEvent) => {
      if (!byId.get(id)) return false;
      event(id, e.kind, e.at, e.by, e.detail);
      return true;
    }),
    timeline: (id) => {
      const row = evidenceOf.get(id);
      if (!row) return null;
      return {
        evidence: row.evidence ? row.evidence.split("\n") : [],
        events: events.all(id).map((r) => ({ at: r.at, kind: r.kind as IncidentEventKind, by: r.by, detail: r.detail })),
      };
    },
    get,
    listOpen: () => open.all().map(fromRow),
    listSince: (t) => since.all(t, t).map(fromRow),
  };
}

/**
 * @example
 * const incidents = sqliteIncidents(db);
 * await incidents.listOpen();
 */
export function sqliteIncidents(db: Db): AlertingIncidents {
  const t = incidentsTable(db);
  return {
    openOrGet: (o, alert) => later(() => t.openOrGet(o, alert)),
    ack: (id, by, at, alert) => later(() => t.ack(id, by, at, alert)?.incident ?? null),
    resolve: (id, at, alert, quietMs) => later(() => t.resolve(id, at, alert, quietMs)?.incident ?? null),
    notify: (id, at, alert) => later(() => t.notify(id, at, alert)),
    addEvent: (id, e) => later(() => t.addEvent(id, e)),
    timeline: (id) => later(() => t.timeline(id)),
    get: (id) => later(() => t.get(id)),
    listOpen: () => later(() => t.listOpen()),
    listSince: (since) => later(() => t.listSince(since)),
  };
}

function fromRow(r: Row): Incident {
  return {
    id: r.id,
    uid: r.uid,
    host: r.host,
    app: r.app,
    kind: r.kind,
    state: r.state as IncidentState,
    summary: r.summary,
    openedAt: r.opened_at,
    acknowledgedAt: r.acknowledged_at,
    acknowledgedBy: r.acknowledged_by,
    resolvedAt: r.resolved_at,
  };
}

/** Runs a synchronous query as a promise; a throw becomes a rejection, as callers expect. */
function later<T>(f: () => T): Promise<T> {
  return new Promise((resolve) => resolve(f()));
}
