/**
 * Incidents in SQLite: one not-yet-resolved incident per (host, app, kind), enforced by a
 * partial unique index; the lifecycle only moves forward (open -> acknowledged -> resolved).
 *
 * {@link incidentsTable} is synchronous so the replicating store can change an incident and
 * queue the change in one transaction; everyone else uses {@link sqliteIncidents}.
 */
import { randomUUID } from "node:crypto";
import type { Incident, IncidentKey, Incidents, IncidentState } from "../store.js";
import type { Db, Migration } from "./db.js";

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

type OpenArgs = IncidentKey & { summary: string; at: number; uid?: string };

/** The same operations as {@link Incidents}, synchronous. */
export interface IncidentsTable {
  openOrGet(o: OpenArgs): { incident: Incident; created: boolean };
  ack(id: number, by: string, at: number): { incident: Incident; changed: boolean } | null;
  resolve(id: number, at: number): { incident: Incident; changed: boolean } | null;
  get(id: number): Incident | null;
  listOpen(): Incident[];
  listSince(since: number): Incident[];
}

/**
 * @example
 * const t = incidentsTable(db);
 * const { incident, created } = t.openOrGet({ host: "stb", app: "bot-kjp", kind: "restart_storm", summary: "", at });
 */
export function incidentsTable(db: Db): IncidentsTable {
  const insert = db.prepare<[string, string, string, string, string, number], Row>(
    `INSERT INTO incidents (uid, host, app, kind, summary, opened_at) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (host, app, kind) WHERE state <> 'resolved' DO NOTHING RETURNING *`,
  );
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
  const transition = (row: Row | undefined, id: number) => {
    if (row) return { incident: fromRow(row), changed: true };
    const existing = get(id);
    return existing ? { incident: existing, changed: false } : null;
  };
  return {
    openOrGet: db.transaction((o: OpenArgs) => {
      const row = insert.get(o.uid ?? randomUUID(), o.host, o.app, o.kind, o.summary, o.at);
      return row ? { incident: fromRow(row), created: true } : { incident: fromRow(current.get(o.host, o.app, o.kind)!), created: false };
    }),
    ack: (id, by, at) => transition(ack.get(at, by, id), id),
    resolve: (id, at) => transition(resolve.get(at, id), id),
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
export function sqliteIncidents(db: Db): Incidents {
  const t = incidentsTable(db);
  return {
    openOrGet: (o) => later(() => t.openOrGet(o)),
    ack: (id, by, at) => later(() => t.ack(id, by, at)?.incident ?? null),
    resolve: (id, at) => later(() => t.resolve(id, at)?.incident ?? null),
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
