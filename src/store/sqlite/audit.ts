/** The audit log in SQLite: every command, who ran it, where, and how it ended. */
import type { AuditLog, AuditRecord, Outcome, StoredAudit } from "../store.js";
import type { Db, Migration } from "./db.js";

export const auditMigrations: Migration[] = [
  {
    name: "audit.001.create",
    sql: `CREATE TABLE audit (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            at          INTEGER NOT NULL,
            actor       TEXT    NOT NULL,
            actor_name  TEXT    NOT NULL,
            command     TEXT    NOT NULL,
            args        TEXT    NOT NULL,
            host        TEXT,
            outcome     TEXT    NOT NULL,
            duration_ms INTEGER NOT NULL,
            error_id    TEXT
          );
          CREATE INDEX audit_at ON audit(at);`,
  },
];

interface AuditRow {
  id: number;
  at: number;
  actor: string;
  actor_name: string;
  command: string;
  args: string;
  host: string | null;
  outcome: string;
  duration_ms: number;
  error_id: string | null;
}

export function sqliteAuditLog(db: Db): AuditLog {
  const insert = db.prepare(
    `INSERT INTO audit (at, actor, actor_name, command, args, host, outcome, duration_ms, error_id)
     VALUES (@at, @actor, @actorName, @command, @args, @host, @outcome, @durationMs, @errorId)`,
  );
  const recent = db.prepare<[number], AuditRow>(`SELECT * FROM audit ORDER BY id DESC LIMIT ?`);
  return {
    add(r: AuditRecord) {
      insert.run(r);
      return Promise.resolve();
    },
    recent: (limit: number) => Promise.resolve(recent.all(limit).map(fromRow)),
  };
}

function fromRow(r: AuditRow): StoredAudit {
  return {
    id: r.id,
    at: r.at,
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
