/** `jaga start`: runs Jaga until end of input (console) or SIGINT/SIGTERM, then stops cleanly. */
import { checkConfig } from "../config/check.js";
import { logOnce } from "../log-limit.js";
import { createLogger } from "../log.js";
import { startJaga } from "../main.js";
import { StoreOpenError } from "../store/open.js";

export async function run(_args: string[]): Promise<number> {
  const result = checkConfig(process.env);
  if (!result.ok) {
    const problems = result.problems.map((p) => `  - ${p}`).join("\n");
    console.error(`Jaga cannot start: the configuration has problems (${result.source}):\n${problems}`);
    return 1;
  }
  const log = createLogger(result.config.logLevel);
  // Once a minute per message: a failure that repeats must not bury the log in stack traces.
  const kindOf = (err: unknown) => `unhandled:${(err instanceof Error ? err.message : String(err)).slice(0, 120)}`;
  process.on("unhandledRejection", (err) => logOnce(log, kindOf(err), err, "unhandled rejection (kept running)"));
  const jaga = await startJaga({ config: result.config, log, input: process.stdin, output: process.stdout }).catch((err: unknown) => {
    // A full, read-only or forbidden data directory: one plain line, not SQLite's "disk I/O error".
    if (!(err instanceof StoreOpenError)) throw err;
    console.error(err.message);
    return null;
  });
  if (!jaga) return 1;
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void jaga.stop(signal));
  await jaga.stopped;
  return 0;
}
