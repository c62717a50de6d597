/**
 * Every command's answer lands in the audit log: who, what, on which host, how it ended and
 * how long it took. The columns that can carry what was typed pass the one masker. A failed
 * write (a full disk) is logged once a minute and never costs the sender the answer.
 */
import { logOnce } from "../../log-limit.js";
import type { AuditRecord } from "../../store/store.js";
import { redact } from "../../text.js";
import type { Step } from "../turn.js";
import type { StepDeps } from "./deps.js";

export type AuditRow = Omit<AuditRecord, "args"> & { args: unknown };

/**
 * Writes one row, masked; never throws.
 *
 * @example
 * await record(deps, { at, actor, actorName, command: "flush", args: {}, host: null, outcome: "expired", durationMs: 0, errorId: null });
 */
export async function record(deps: Pick<StepDeps, "store" | "log" | "sealed">, row: AuditRow): Promise<void> {
  if (deps.sealed()) return;
  try {
    await deps.store.audit.add({
      ...row,
      command: redact(row.command),
      args: redact(JSON.stringify(row.args ?? {})),
      host: row.host === null ? null : redact(row.host),
    });
  } catch (err) {
    logOnce(deps.log, "audit.write", err, "audit write failed");
  }
}

export function audit(deps: Pick<StepDeps, "store" | "log" | "sealed" | "clock" | "counters">): Step {
  return async (turn, next) => {
    await next();
    const r = turn.result;
    if (!r || !turn.sender || r.text === null || r.audit === false || deps.sealed()) return;
    deps.counters.handled++;
    if (r.outcome !== "ok") deps.counters.failed++;
    const durationMs = deps.clock.now() - turn.started;
    await record(deps, {
      at: turn.started,
      actor: turn.sender.id,
      actorName: turn.sender.name,
      command: turn.label,
      args: turn.args ?? {},
      host: r.host ?? null,
      outcome: r.outcome,
      durationMs,
      errorId: r.errorId ?? null,
    });
    deps.log.info({ actor: turn.sender.name, command: redact(turn.label), host: r.host ? redact(r.host) : null, outcome: r.outcome, durationMs }, "command");
  };
}
