/**
 * The alerts' numbered actions (src/watch/actions.ts) checked against the commands Jaga has,
 * at start-up: an alert must never suggest a command that does not exist, or arguments the
 * command would refuse.
 *
 * @example
 * const problems = actionProblems(commands, config);
 * if (problems.length) throw new Error(`alert actions: ${problems.join("; ")}`);
 */
import type { Config } from "../config/load.js";
import { checkPlaybook } from "../watch/actions.js";
import type { Command } from "./command.js";
import type { Context } from "./context.js";

export function actionProblems(commands: readonly Command[], config: Config): string[] {
  // A command's parse may ask the config which names are hosts (`/flush stb`): the sample host is one.
  const sample = { ...config, hosts: [...config.hosts, { ...config.hosts[0]!, name: "host-1" }] };
  const ctx = { config: sample } as unknown as Context;
  return checkPlaybook(
    commands.map((c) => ({
      name: c.name,
      accepts(tokens: string[]) {
        const raw = c.toRaw(tokens, ctx);
        return raw !== "too_many" && c.schema.safeParse(raw).success;
      },
    })),
  );
}
