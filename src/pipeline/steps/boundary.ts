/**
 * Nothing any step or command throws escapes. An expected failure (JagaError) is its own short
 * message; a timeout or a shutdown says so; anything else is a bug, answered "something went
 * wrong" with an id that the log line carries too.
 */
import { errorId, isJagaError } from "../../errors.js";
import type { Step } from "../turn.js";
import { finish } from "../turn.js";
import type { StepDeps } from "./deps.js";
import { argHost, CommandTimeout, ShuttingDown } from "./run.js";

export function boundary(deps: Pick<StepDeps, "log" | "config">): Step {
  return async (turn, next) => {
    try {
      await next();
    } catch (err) {
      const { t } = turn;
      const name = turn.command?.name ?? turn.label;
      const host = argHost(turn);
      if (err instanceof CommandTimeout) {
        const seconds = Math.round((turn.command?.timeoutMs ?? deps.config.commandTimeout) / 1000);
        return finish(turn, "timeout", t("error.timeout", { command: name, seconds }), { host });
      }
      if (err instanceof ShuttingDown) return finish(turn, "timeout", t("error.shutdown", { command: name }), { host });
      if (isJagaError(err)) {
        const suggestions = err.params.suggestions;
        const text = [
          t(err.code, err.params),
          suggestions ? t("command.did_you_mean", { suggestions: String(suggestions).split(", ").map((s) => `\`${s}\``).join(", ") }) : "",
        ]
          .filter(Boolean)
          .join("\n");
        if (err.detail) deps.log.warn({ command: name, code: err.code, detail: err.detail }, "command failed");
        return finish(turn, "error", text, { host });
      }
      const id = errorId();
      deps.log.error({ err, errorId: id, command: name }, "command crashed");
      finish(turn, "error", t("error.internal", { id }), { host, errorId: id });
    }
  };
}
