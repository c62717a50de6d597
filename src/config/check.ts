/**
 * Every check `jaga start` makes before it runs anything, in one place: `jaga config check`
 * calls the same function, so it can never pass what start refuses. That is jaga.yaml and
 * the environment (loadConfig), then the secrets' shape (the Supabase service-role key), then
 * that every rule under `commands:` names a command Jaga has, and that the alerts' numbered
 * actions do.
 *
 * @example
 * const result = checkConfig(process.env);
 * if (!result.ok) console.error(result.problems.join("\n"));
 */
import { commands } from "../../commands/index.js";
import { actionProblems } from "../pipeline/actions-check.js";
import { closest } from "../text.js";
import { loadConfig, type LoadResult } from "./load.js";
import { standbySettings } from "./standby.js";
import { supabaseSettings } from "./supabase.js";

export function checkConfig(env: NodeJS.ProcessEnv, cwd = process.cwd()): LoadResult {
  const loaded = loadConfig(env, cwd);
  if (!loaded.ok) return loaded;
  const names = commands.map((c) => c.name);
  const unknown: string[] = [];
  for (const name of Object.keys(loaded.config.commands)) {
    if (names.includes(name)) continue;
    const near = closest(name, names, 1);
    unknown.push(`commands.${name}: no such command${near.length ? ` (did you mean ${near[0]}?)` : ""}; commands: ${names.join(", ")}`);
  }
  if (unknown.length > 0) return { ok: false, source: loaded.config.source ?? "config", problems: unknown };
  // Not the config's fault, but checked where start checks everything: an alert's numbered
  // actions must name commands Jaga has, with arguments they take.
  const actions = actionProblems(commands, loaded.config);
  if (actions.length > 0) return { ok: false, source: "alert actions (src/watch/actions.ts)", problems: actions };
  const problems: string[] = [];
  try {
    supabaseSettings(env);
  } catch (err) {
    problems.push((err as Error).message);
  }
  try {
    standbySettings(loaded.config, env);
  } catch (err) {
    if (problems.length === 0) problems.push((err as Error).message);
  }
  return problems.length > 0 ? { ok: false, source: "environment", problems } : loaded;
}
