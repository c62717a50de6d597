/**
 * The writes that travel from the embedded store to Supabase, as plain JSON so they survive in
 * the SQLite replication queue across restarts. Each is safe to apply twice (a replay after a
 * lost response): inserts are upserts with `ignoreDuplicates`, updates only move forward.
 *
 * @example
 * const op: ReplicationOp = { type: "blocked.unblock", nik, by: "Budi", at: Date.now() };
 * queue.push(JSON.stringify(op), at);       // now, in the same transaction as the local write
 * await supabase.apply(JSON.parse(row.op)); // later, when Supabase answers
 */
import { maskNik } from "../../nik.js";
import type { AuditRecord, IncidentKey } from "../store.js";

export type ReplicationOp =
  | { type: "audit.add"; uid: string; record: AuditRecord }
  | ({ type: "incident.open"; uid: string; summary: string; at: number } & IncidentKey)
  | { type: "incident.ack"; uid: string; by: string; at: number }
  | { type: "incident.resolve"; uid: string; at: number }
  | { type: "blocked.block"; nik: string; reason: string; blockedBy: string; at: number }
  | { type: "blocked.unblock"; nik: string; by: string; at: number };

/** Something that can apply an op: the Supabase store. */
export interface OpTarget {
  apply(op: ReplicationOp): Promise<void>;
}

/**
 * What an op is about, masked, for logs (a NIK never appears whole).
 *
 * @example
 * describeOp({ type: "blocked.block", nik: "3174015501900001", ... }); // "blocked.block 3174••••••••0001"
 */
export function describeOp(op: ReplicationOp): string {
  switch (op.type) {
    case "audit.add":
      return `audit.add /${op.record.command}`;
    case "incident.open":
      return `incident.open ${op.kind}@${op.host}${op.app ? `/${op.app}` : ""}`;
    case "incident.ack":
    case "incident.resolve":
      return `${op.type} ${op.uid}`;
    case "blocked.block":
    case "blocked.unblock":
      return `${op.type} ${maskNik(op.nik)}`;
  }
}
