/**
 * May this person run this command? The command's own role, unless the config overrides it:
 * `commands.<name>.role` replaces the role; `commands.<name>.people` names exactly who may run
 * it (by name or phone), whatever their role unless `role` is set as well. The console
 * operator is an admin and is never left off a list.
 */
import { CONSOLE_SENDER } from "../../chat/console.js";
import { normalizePhone, type Role } from "../../config/schema.js";
import { allows } from "../command.js";
import type { Person } from "../people.js";
import type { Step } from "../turn.js";
import { finish } from "../turn.js";
import type { StepDeps } from "./deps.js";

export function authorise(deps: Pick<StepDeps, "config">): Step {
  return async (turn, next) => {
    const command = turn.command!;
    const sender = turn.sender!;
    const rule = deps.config.commands[command.name];
    const { t } = turn;
    if (rule?.people && sender.id !== CONSOLE_SENDER && !listed(rule.people, sender)) {
      return finish(turn, "denied", t("command.not_listed", { command: command.name }));
    }
    // Listed people need no role unless one is set too; then they need both.
    const needed: Role = rule?.role ?? (rule?.people ? "viewer" : command.role);
    if (!allows(sender.role, needed)) {
      return finish(turn, "denied", t("command.denied", { command: command.name, needed: t(`role.${needed}`), role: t(`role.${sender.role}`) }));
    }
    await next();
  };
}

function listed(people: readonly string[], sender: Person): boolean {
  return people.some((p) => p === sender.name || normalizePhone(p) === sender.id);
}
