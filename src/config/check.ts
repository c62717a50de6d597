/**
 * Every check `jaga start` makes before it runs anything, in one place: `jaga config check`
 * calls the same function, so it can never pass what start refuses. That is jaga.yaml and
 * the environment (loadConfig), then the secrets' shape (the Supabase service-role key).
 *
 * @example
 * const result = checkConfig(process.env);
 * if (!result.ok) console.error(result.problems.join("\n"));
 */
import { loadConfig, type LoadResult } from "./load.js";
import { supabaseSettings } from "./supabase.js";

export function checkConfig(env: NodeJS.ProcessEnv, cwd = process.cwd()): LoadResult {
  const loaded = loadConfig(env, cwd);
  if (!loaded.ok) return loaded;
  const problems: string[] = [];
  try {
    supabaseSettings(env);
  } catch (err) {
    problems.push((err as Error).message);
  }
  return problems.length > 0 ? { ok: false, source: "environment", problems } : loaded;
}
