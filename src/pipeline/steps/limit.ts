/**
 * How much one person, and everyone together, may ask at once. Each command-shaped message
 * counts (unknown commands and refusals too: they cost a reply); over `commandsPerMinute` the
 * sender hears once when to try again, then nothing until the window frees up. A command holds
 * an in-flight slot from here to its reply; over the per-sender or total bound it is refused,
 * never queued without end. The console operator holds the machine: never limited here (the
 * restart guard and confirmations still apply to it).
 *
 * Placed right after parse (not after authorise, as the issue sketched): a refusal or an
 * unknown command costs a reply too, so it must count.
 */
import { CONSOLE_SENDER } from "../../chat/console.js";
import type { Step } from "../turn.js";
import { finish } from "../turn.js";
import { SlidingWindow } from "../window.js";
import type { StepDeps } from "./deps.js";

const MINUTE = 60_000;

export function limit(deps: Pick<StepDeps, "config" | "clock" | "counters">): Step {
  const { commandsPerMinute, inFlightPerSender, inFlight } = deps.config.limits;
  const rate = new SlidingWindow(deps.clock, MINUTE, commandsPerMinute);
  /** Until when a sender has been told they are over the rate (silence meanwhile). */
  const told = new Map<string, number>();
  const running = new Map<string, number>();
  let total = 0;

  return async (turn, next) => {
    const id = turn.sender!.id;
    if (id === CONSOLE_SENDER) return next();
    const now = deps.clock.now();
    if (rate.full(id)) {
      deps.counters.limited++;
      const freeAt = rate.freeAt(id);
      if ((told.get(id) ?? 0) > now) return finish(turn, "limited", null);
      told.set(id, freeAt);
      const seconds = Math.max(1, Math.ceil((freeAt - now) / 1000));
      return finish(turn, "limited", turn.t("limit.rate", { max: commandsPerMinute, seconds }));
    }
    rate.add(id);
    told.delete(id);
    const mine = running.get(id) ?? 0;
    if (mine >= inFlightPerSender || total >= inFlight) {
      deps.counters.limited++;
      const key = mine >= inFlightPerSender ? "limit.busy_sender" : "limit.busy";
      return finish(turn, "limited", turn.t(key, { running: mine >= inFlightPerSender ? mine : total }));
    }
    running.set(id, mine + 1);
    total++;
    try {
      await next();
    } finally {
      total--;
      const left = (running.get(id) ?? 1) - 1;
      if (left > 0) running.set(id, left);
      else running.delete(id);
    }
  };
}
