/**
 * Jaga must never be the restart storm. At most `limits.restartsPerApp` restarts of one app
 * through Jaga within `limits.restartWindow` — whoever asks, the console included; past that
 * only an admin's `--force` restarts it (and `--force` is itself confirmed first). A restart
 * counts when it ran or timed out (PM2 may have restarted the app anyway), not when it was
 * refused, only planned, or failed before reaching PM2 (an unknown app or host).
 *
 * Placed before the confirm step (the issue sketched it after): a restart the guard would
 * refuse is refused at once, not after its `/yes`. The confirmed turn passes here again, so
 * the guard holds at the moment the restart really runs.
 */
import { formatDuration } from "../../duration.js";
import { allows } from "../command.js";
import type { Step } from "../turn.js";
import { finish } from "../turn.js";
import { SlidingWindow } from "../window.js";
import type { StepDeps } from "./deps.js";
import { CommandTimeout, ShuttingDown } from "./run.js";

export function guard(deps: Pick<StepDeps, "config" | "clock">): Step {
  const { restartsPerApp, restartWindow } = deps.config.limits;
  const restarts = new SlidingWindow(deps.clock, restartWindow, restartsPerApp);
  return async (turn, next) => {
    const command = turn.command!;
    const args = turn.args!;
    const app = command.restarts(args);
    if (app === null) return next();
    const { t } = turn;
    if (args.force === true) {
      if (!allows(turn.sender!.role, "admin")) return finish(turn, "denied", t("guard.force_admin", { command: command.name }));
    } else if (restarts.full(app)) {
      const params = { app, count: restarts.count(app), window: formatDuration(restartWindow), command: command.name };
      return finish(turn, "denied", t("guard.restarts", params));
    }
    // Counted before it runs, so two at once cannot both slip under the limit; taken back when
    // it turns out not to have restarted anything.
    restarts.add(app);
    try {
      await next();
    } catch (err) {
      // A timed-out restart may well have happened.
      if (!(err instanceof CommandTimeout || err instanceof ShuttingDown)) restarts.undo(app);
      throw err;
    }
    if (turn.result?.outcome !== "ok") restarts.undo(app);
  };
}
