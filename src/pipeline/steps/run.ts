/**
 * Runs the command within its time. At the deadline its signal aborts — its processes end,
 * locally and on remote hosts — and the turn is answered "timed out" without waiting for it;
 * when Jaga stops under it, it is answered "shutting down" at once. Its late result is dropped.
 *
 * With a standby, the run is recorded in the lease's ledger first (src/standby/shared-runs.ts):
 * whoever takes over after a kill -9 says which command was cut off, and a message delivered a
 * second time is not run twice.
 */
import type { Clock } from "../../clock.js";
import { failpoint } from "../../failpoint.js";
import type { Step, Turn } from "../turn.js";
import { finish } from "../turn.js";
import type { StepDeps } from "./deps.js";

export class CommandTimeout extends Error {
  constructor() {
    super("command timed out");
    this.name = "CommandTimeout";
  }
}

/** The reason a command's signal carries when Jaga stops under it. */
export class ShuttingDown extends Error {
  constructor() {
    super("Jaga is shutting down");
    this.name = "ShuttingDown";
  }
}

export function run(deps: Pick<StepDeps, "clock" | "services">): Step {
  return async (turn) => {
    const command = turn.command!;
    const args = turn.args!;
    const ledger = deps.services.runs;
    const start = ledger ? await ledger.begin(turn.message, typed(turn)) : "run";
    // Delivered again after its instance died before acknowledging it: run once, stay silent.
    if (start === "again") return finish(turn, "invalid", null, { audit: false });
    if (start === "not active") return finish(turn, "denied", turn.t("standby.lost_lease"), { audit: false });
    try {
      failpoint("command.running");
      const reply = await timed(turn, deps.clock, () => command.run(turn.ctx!, args));
      if (typeof reply === "string") return finish(turn, "ok", reply, { host: argHost(turn) });
      // What the command changed goes with its arguments into the audit row.
      if (reply.audit) turn.args = { ...args, ...reply.audit };
      finish(turn, reply.failed ? "error" : "ok", reply.text, { host: reply.host ?? argHost(turn), ...(reply.timeline ? { timeline: reply.timeline } : {}) });
    } finally {
      if (ledger) void ledger.end(turn.message, turn.result?.outcome ?? "error");
    }
  };
}

/** The command as its sender typed it; for a confirmed plan, the plan's command and the `/yes`. */
function typed(turn: Turn): string {
  const p = turn.confirmed;
  if (!p) return turn.message.text;
  const values = Object.values(p.args).filter((v): v is string | number => typeof v === "string" || typeof v === "number");
  return `${[`/${p.command.name}`, ...values.map(String)].join(" ")} (/yes ${p.code})`;
}

/**
 * `work` raced against the command's deadline and against shutdown (both abort the turn's
 * signal, so whatever `work` started is ended too).
 *
 * @example
 * const plan = await timed(turn, clock, () => command.plan(turn.ctx!, args));
 */
export async function timed<T>(turn: Turn, clock: Clock, work: () => Promise<T>): Promise<T> {
  const { controller } = turn;
  const timer = new AbortController();
  const running = work();
  const expired = clock.sleep(Math.max(0, turn.ctx!.deadline - clock.now()), timer.signal).then(() => {
    throw new CommandTimeout();
  });
  // A shutdown does not wait for the command to notice its signal.
  const stopped = new Promise<never>((_, reject) => {
    const onAbort = () => {
      if (controller.signal.reason instanceof ShuttingDown) reject(controller.signal.reason);
    };
    if (controller.signal.aborted) onAbort();
    controller.signal.addEventListener("abort", onAbort, { once: true });
    timer.signal.addEventListener("abort", () => controller.signal.removeEventListener("abort", onAbort), { once: true });
  });
  try {
    return await Promise.race([running, expired, stopped]);
  } catch (err) {
    if (err instanceof CommandTimeout) controller.abort(err);
    if (err instanceof CommandTimeout || err instanceof ShuttingDown) running.catch(() => undefined);
    throw err;
  } finally {
    timer.abort();
    expired.catch(() => undefined);
    stopped.catch(() => undefined);
  }
}

/** The host named in the arguments, for the audit log of a failure. */
export function argHost(turn: Turn): string | null {
  const host = turn.args?.host;
  return typeof host === "string" ? host : null;
}
