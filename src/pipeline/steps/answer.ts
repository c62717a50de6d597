/**
 * `/yes <code>` (or `/ya`, `ya <code>`) and `/no` (`/tidak`, `/batal`): the answers to a plan
 * the confirm step filed. A confirmed plan goes on down the chain as its own command — roles,
 * the guard and the timeout are checked again at this moment, not at the moment it was asked.
 * Someone else's code, a wrong code or a late one confirms nothing, and says so.
 */
import { formatClock } from "../../duration.js";
import type { Step } from "../turn.js";
import { finish } from "../turn.js";
import { record } from "./audit.js";
import type { StepDeps } from "./deps.js";

const YES = new Set(["yes", "ya", "y"]);
const NO = new Set(["no", "tidak", "batal"]);
const CODE = /^\d{4}$/;

export function answer(deps: Pick<StepDeps, "confirmations" | "store" | "log" | "config" | "clock" | "sealed">): Step {
  return async (turn, next) => {
    const name = turn.parsed!.name;
    if (!YES.has(name) && !NO.has(name)) return next();
    const { t } = turn;
    const sender = turn.sender!;
    const tokens = turn.parsed!.tokens;
    const code = tokens[0];
    if (tokens.length > 1 || (code !== undefined && !CODE.test(code))) {
      return finish(turn, "invalid", t("confirm.bad_code"), { audit: false });
    }
    if (NO.has(name)) {
      const cancelled = deps.confirmations.cancel(sender.id, code);
      if (cancelled.length === 0) return finish(turn, "invalid", t("confirm.nothing"), { audit: false });
      for (const p of cancelled.slice(1)) void record(deps, { ...rowOf(p), at: deps.clock.now(), outcome: "cancelled" });
      const first = cancelled[0]!;
      turn.label = first.command.name;
      turn.args = first.args;
      return finish(turn, "cancelled", t("confirm.cancelled", { command: first.command.name, count: cancelled.length }));
    }
    if (code === undefined) {
      const mine = deps.confirmations.of(sender.id);
      const key = mine.length === 0 ? "confirm.nothing" : "confirm.which";
      return finish(turn, "invalid", t(key, { codes: mine.map((p) => `\`/yes ${p.code}\``).join(", ") }), { audit: false });
    }
    const taken = deps.confirmations.take(sender.id, code);
    if (taken.kind === "expired") {
      return finish(turn, "invalid", t("confirm.expired", { code, at: formatClock(taken.expired, deps.config.timezone) }), { audit: false });
    }
    if (taken.kind === "none") return finish(turn, "invalid", t("confirm.unknown", { code }), { audit: false });
    const p = taken.pending;
    await record(deps, { ...rowOf(p), at: deps.clock.now(), outcome: "confirmed" });
    turn.confirmed = p;
    if (p.action) turn.action = p.action;
    turn.command = p.command;
    turn.label = p.command.name;
    turn.args = p.args;
    await next();
  };
}

function rowOf(p: { sender: { id: string; name: string }; command: { name: string }; args: Record<string, unknown> }) {
  return { actor: p.sender.id, actorName: p.sender.name, command: p.command.name, args: p.args, host: null, durationMs: 0, errorId: null };
}
