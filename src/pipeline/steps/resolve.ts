/**
 * Which command is this? An unknown name is answered with the nearest names the sender may
 * run. Once known, the command gets its own context: its deadline starts now.
 */
import { setMaxListeners } from "node:events";
import { closest, echo } from "../../text.js";
import type { Command } from "../command.js";
import type { Context } from "../context.js";
import type { Step, Turn } from "../turn.js";
import { finish } from "../turn.js";
import { mayRun } from "./authorise.js";
import type { StepDeps } from "./deps.js";

export function resolve(deps: StepDeps): Step {
  const byName = new Map<string, Command>();
  for (const c of deps.commands) for (const n of [c.name, ...c.aliases]) byName.set(n, c);
  return async (turn, next) => {
    const { t } = turn;
    if (!turn.command) {
      const name = turn.parsed!.name;
      const command = byName.get(name);
      if (!command) {
        const names = deps.commands.filter((c) => mayRun(deps.config, c, turn.sender!) === true).map((c) => c.name);
        const suggestions = closest(name, names).map((n) => `*/${n}*`);
        const text = [
          t("command.unknown", { command: echo(name) }),
          suggestions.length ? t("command.did_you_mean", { suggestions: suggestions.join(", ") }) : t("parse.hint"),
        ].join("\n");
        return finish(turn, "invalid", text);
      }
      turn.command = command;
      turn.label = command.name;
    }
    turn.ctx = commandContext(deps, turn, turn.command);
    await next();
  };
}

function commandContext(deps: StepDeps, turn: Turn, command: Command): Context {
  const { hosts, store, config, clock, log, commands, services } = deps;
  const { signal } = turn.controller;
  // A fleet-wide command hands this signal to one remote call per host: more than Node's
  // default of 10 listeners is expected, not a leak (each call removes its own).
  setMaxListeners(0, signal);
  const sender = turn.sender!;
  return {
    message: turn.message,
    sender,
    lang: sender.language,
    t: turn.t,
    hosts,
    store,
    config,
    clock,
    log,
    commands,
    services,
    deadline: clock.now() + (command.timeoutMs ?? config.commandTimeout),
    signal,
    exec: { signal },
  };
}
