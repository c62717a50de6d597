/**
 * May this person run this command? The command's own role, unless the config overrides it:
 * `commands.<name>.role` replaces the role; `commands.<name>.people` names exactly who may run
 * it (by name or phone), whatever their role unless `role` is set as well. The console
 * operator is an admin and is never left off a list.
 */
import { CONSOLE_SENDER } from "../../chat/console.js";
import { normalizePhone, type Role } from "../../config/schema.js";
import type { Config } from "../../config/load.js";
import { allows, type Command } from "../command.js";
import type { Person } from "../people.js";
import type { Step } from "../turn.js";
import { finish } from "../turn.js";
import type { StepDeps } from "./deps.js";

/**
 * Whether `sender` may run `command` under the config's rules, and if not, why.
 *
 * @example
 * mayRun(config, restart, oki);            // { needed: "admin" } when restart needs admin and Oki is an operator
 * mayRun(config, dns, oki, { action: "fix" }); // { needed: "admin" }: that form of /dns is an admin's
 */
export function mayRun(config: Pick<Config, "commands">, command: Command, sender: Person, args?: Record<string, unknown>): true | { listed: false } | { needed: Role } {
  const rule = config.commands[command.name];
  if (rule?.people && sender.id !== CONSOLE_SENDER && !listed(rule.people, sender)) return { listed: false };
  // Listed people need no role unless one is set too; then they need both.
  const needed: Role = rule?.role ?? (rule?.people ? "viewer" : args ? command.roleFor(args) : command.role);
  return allows(sender.role, needed) ? true : { needed };
}

export function authorise(deps: Pick<StepDeps, "config">): Step {
  return async (turn, next) => {
    const command = turn.command!;
    const sender = turn.sender!;
    const { t } = turn;
    // Which form of the command this is: its arguments as parsed, or a confirmed plan's own.
    const raw = turn.confirmed ? turn.args : turn.ctx && turn.parsed ? command.toRaw(turn.parsed.tokens, turn.ctx) : undefined;
    const may = mayRun(deps.config, command, sender, raw === "too_many" ? undefined : raw);
    if (may !== true) {
      const text =
        "needed" in may
          ? t("command.denied", { command: command.name, needed: t(`role.${may.needed}`), role: t(`role.${sender.role}`) })
          : t("command.not_listed", { command: command.name });
      return finish(turn, "denied", text);
    }
    await next();
  };
}

function listed(people: readonly string[], sender: Person): boolean {
  return people.some((p) => p === sender.name || normalizePhone(p) === sender.id);
}
