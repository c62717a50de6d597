/**
 * A destructive command runs only after its sender's `/yes <code>`. Its `plan()` says exactly
 * what would change; Jaga answers with that and a code, and files it with the confirmation
 * desk (src/pipeline/confirmations.ts). The answer step picks it up again. A plan that comes
 * back null needs no confirmation (a restart of a single instance) and runs at once.
 */
import { formatDuration } from "../../duration.js";
import type { Step } from "../turn.js";
import { finish } from "../turn.js";
import type { StepDeps } from "./deps.js";
import { timed } from "./run.js";

export function confirm(deps: Pick<StepDeps, "confirmations" | "clock">): Step {
  return async (turn, next) => {
    const command = turn.command!;
    if (turn.confirmed || !command.destructive) return next();
    const args = turn.args!;
    const plan = await timed(turn, deps.clock, () => command.plan(turn.ctx!, args));
    if (plan === null) return next();
    const pending = deps.confirmations.ask({ sender: turn.sender!, command, args, plan, ...(turn.action ? { action: turn.action } : {}) });
    const text = turn.t("confirm.ask", {
      // A command with subcommands names the one being confirmed ("/dns fix", not "/dns").
      command: typeof args.action === "string" ? `${command.name} ${args.action}` : command.name,
      plan,
      code: pending.code,
      within: formatDuration(deps.confirmations.withinMs),
    });
    finish(turn, "planned", text);
  };
}
