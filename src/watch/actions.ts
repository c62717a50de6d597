/**
 * What to do about an incident, as numbered chat commands: the next steps an alert lists, and
 * what `/do <incident> <n>` (or a quoted reply with the number) runs through the pipeline — with
 * the replier's role, the confirmation of a destructive one, the audit. Built from the command
 * registry: {@link checkPlaybook} refuses, at start-up, a playbook that names a command Jaga does
 * not have or arguments it would refuse, so an alert can never suggest what does not exist.
 *
 * @example
 * actionsFor({ kind: "restart_storm", host: "stb", app: "bot-kjp" });
 * // [{ command: "logs", args: ["bot-kjp", "stb"] }, { command: "restart", … }, { command: "stop", … }]
 * renderActions(actions); // "1 `/logs bot-kjp stb` · 2 `/restart bot-kjp stb`"
 */
import type { IncidentKey } from "../store/store.js";

export interface Action {
  command: string;
  args: string[];
}

const act = (command: string, ...args: string[]): Action => ({ command, args });

/** Per incident kind, the next steps an expert would take first. */
const PLAYBOOK: Record<string, (i: IncidentKey) => Action[]> = {
  restart_storm: (i) => [act("logs", i.app, i.host), act("restart", i.app, i.host), act("stop", i.app, i.host)],
  app_down: (i) => [act("logs", i.app, i.host), act("start", i.app, i.host), act("restart", i.app, i.host)],
  cpu: (i) => [act("status", i.host), act("mute", i.host, "1h")],
  memory: (i) => [act("status", i.host), act("mute", i.host, "1h")],
  disk: (i) => [act("status", i.host), act("flush", i.host)],
  disk_critical: (i) => [act("status", i.host), act("flush", i.host)],
  unreachable: (i) => [act("status", i.host)],
  dns: (i) => [act("dns", "check", i.host), act("dns", "fix", i.host), act("status", i.host)],
};

/**
 * The numbered next steps for an incident (index 0 is action 1); none for a kind without a playbook.
 *
 * @example
 * actionsFor({ kind: "dns", host: "stb", app: "" })[0]; // { command: "dns", args: ["check", "stb"] }
 */
export function actionsFor(incident: IncidentKey): Action[] {
  return PLAYBOOK[incident.kind]?.(incident) ?? [];
}

/**
 * One line for an alert, phone-sized.
 *
 * @example
 * renderActions([{ command: "status", args: ["stb"] }]); // "1 `/status stb`"
 */
export function renderActions(actions: readonly Action[]): string {
  return actions.map((a, i) => `${i + 1} \`${commandText(a)}\``).join(" · ");
}

/** `/logs bot-kjp stb` */
export function commandText(a: Action): string {
  return [`/${a.command}`, ...a.args].join(" ");
}

/** What the check needs of a command: its name and whether it takes these tokens. */
export interface CheckableCommand {
  name: string;
  accepts(tokens: string[]): boolean;
}

/**
 * Every kind's actions, for a sample incident, against the registry: the problems, or none.
 *
 * @example
 * const problems = checkPlaybook(commands.map((c) => ({ name: c.name, accepts: … })));
 * if (problems.length) throw new Error(problems.join("; "));
 */
export function checkPlaybook(commands: readonly CheckableCommand[], kinds = Object.keys(PLAYBOOK)): string[] {
  const byName = new Map(commands.map((c) => [c.name, c]));
  const problems: string[] = [];
  for (const kind of kinds) {
    for (const a of actionsFor({ kind, host: "host-1", app: "app-1" })) {
      const command = byName.get(a.command);
      if (!command) problems.push(`${kind}: /${a.command} is not a command`);
      else if (!command.accepts(a.args)) problems.push(`${kind}: ${commandText(a)} is refused by /${a.command}`);
    }
  }
  return problems;
}
