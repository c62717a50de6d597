/**
 * The commands the active instance is running, recorded in PostgreSQL under its term
 * (migrations/20261218080000_standby_runs.sql), so that after a kill -9 the instance that takes
 * over can say which commands were cut off — in its takeover message and in the chat each came
 * from — instead of leaving the admin waiting for an answer that will never come.
 *
 * Nothing is re-run: a command that changes a host may have done its work before its instance
 * died, and doing it again is the admin's call, not Jaga's. A message WhatsApp delivers a second
 * time (the old instance died before acknowledging it) is recognised by its id and not run again.
 *
 * Recording never stands between an admin and a command for long: a database that does not
 * answer within `patienceMs` (default 3 s) is logged and the command runs unrecorded; only a
 * refusal by fencing, or no term held, stops it (`not active`: this instance is not the active
 * one any more).
 *
 * @example
 * const runs = new SharedRuns({ db, lease: "jaga", instance: "stb-1", term, clock, log });
 * if ((await runs.begin(message, "/restart bot-kjp")) === "run") { …run it…; await runs.end(message, "ok"); }
 * const cutOff = await runs.cutOff(); // at the start of a term: what the last one left running
 */
import type { IncomingMessage } from "../chat/transport.js";
import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import { redact, stripControls } from "../text.js";
import type { SharedDb } from "./db.js";
import { FencedError, NotActiveError } from "./errors.js";
import { underTerm, type TermSource } from "./term.js";

/** A command whose instance died under it. */
export interface CutOffRun {
  msgId: string;
  chatId: string;
  sender: string;
  /** As typed, masked. */
  command: string;
  instance: string;
  startedAt: number;
}

/**
 * May the command run: `run`; `again`: this message was run before (delivered a second time);
 * `not active`: this instance does not hold the lease (any more).
 */
export type RunStart = "run" | "again" | "not active";

/** What the pipeline needs of a run ledger (src/pipeline/steps/run.ts). */
export interface RunLedger {
  /** Records the start, and says whether the command may run. */
  begin(message: IncomingMessage, command: string): Promise<RunStart>;
  /** Records the end (never throws). */
  end(message: IncomingMessage, outcome: string): Promise<void>;
}

export interface SharedRunsOptions extends TermSource {
  db: SharedDb;
  lease: string;
  /** This instance's name, as the takeover message calls it. */
  instance: string;
  clock: Clock;
  log: Logger;
  /** How long a start may wait for the database before the command runs unrecorded (ms, default 3 000). */
  patienceMs?: number;
}

/** The command as it is recorded: one line, masked, at most 300 characters. */
export function recordedCommand(text: string): string {
  const line = redact(stripControls(text).replace(/\s+/g, " ").trim());
  return (line.length > 300 ? `${line.slice(0, 299)}…` : line) || "?";
}

export class SharedRuns implements RunLedger {
  constructor(private readonly o: SharedRunsOptions) {}

  async begin(message: IncomingMessage, command: string): Promise<RunStart> {
    const { o } = this;
    const call = underTerm(o, "command start", (epoch) =>
      o.db.value<boolean>("jaga_run_begin", {
        p_name: o.lease,
        p_epoch: epoch,
        p_msg_id: message.id.slice(0, 200),
        p_chat_id: message.chatId.slice(0, 200),
        p_sender: message.senderId.slice(0, 200),
        p_command: recordedCommand(command),
        p_instance: o.instance.slice(0, 200),
        p_at: o.clock.now(),
      }),
    );
    const timeout = new AbortController();
    const patience = o.clock.sleep(o.patienceMs ?? 3_000, timeout.signal).then(() => "slow" as const);
    try {
      const taken = await Promise.race([call, patience]);
      if (taken === "slow") {
        o.log.warn({ lease: o.lease }, "standby: the command's start was not recorded in time; it runs unrecorded");
        call.catch(() => undefined);
        return "run";
      }
      if (!taken) o.log.warn({ lease: o.lease, msg: message.id }, "standby: this message was run before (delivered again); not run twice");
      return taken ? "run" : "again";
    } catch (err) {
      // Not the active instance any more: the command is not this instance's to run.
      if (err instanceof NotActiveError || err instanceof FencedError) return "not active";
      o.log.warn({ err, lease: o.lease }, "standby: the command's start could not be recorded; it runs unrecorded");
      return "run";
    } finally {
      timeout.abort();
      patience.catch(() => undefined);
    }
  }

  async end(message: IncomingMessage, outcome: string): Promise<void> {
    const { o } = this;
    await underTerm(o, "command end", (epoch) =>
      o.db.value<boolean>("jaga_run_end", { p_name: o.lease, p_epoch: epoch, p_msg_id: message.id.slice(0, 200), p_outcome: outcome, p_at: o.clock.now() }),
    ).catch((err: unknown) => o.log.debug({ err, lease: o.lease }, "standby: the command's end was not recorded"));
  }

  /**
   * At the start of a term: the commands earlier terms left running, now ended as cut off
   * (oldest first). A second call returns none.
   */
  async cutOff(): Promise<CutOffRun[]> {
    const { o } = this;
    const rows = await underTerm(o, "cut-off commands", (epoch) =>
      o.db.rows<{ msg_id: string; chat_id: string; sender: string; command: string; instance: string; started_at: number | string }>("jaga_run_cut_off", {
        p_name: o.lease,
        p_epoch: epoch,
        p_at: o.clock.now(),
      }),
    );
    return rows
      .map((r) => ({ msgId: r.msg_id, chatId: r.chat_id, sender: r.sender, command: r.command, instance: r.instance, startedAt: Number(r.started_at) }))
      .sort((a, b) => a.startedAt - b.startedAt);
  }
}
