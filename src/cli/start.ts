/** `jaga start`: runs Jaga until end of input (console) or SIGINT/SIGTERM, then stops cleanly. */
import { checkConfig } from "../config/check.js";
import { createLogger } from "../log.js";
import { startJaga } from "../main.js";

export async function run(_args: string[]): Promise<number> {
  const result = checkConfig(process.env);
  if (!result.ok) {
    const problems = result.problems.map((p) => `  - ${p}`).join("\n");
    console.error(`Jaga cannot start: the configuration has problems (${result.source}):\n${problems}`);
    return 1;
  }
  const log = createLogger(result.config.logLevel);
  process.on("unhandledRejection", (err) => log.error({ err }, "unhandled rejection (kept running)"));
  const jaga = await startJaga({ config: result.config, log, input: process.stdin, output: process.stdout });
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void jaga.stop(signal));
  await jaga.stopped;
  return 0;
}
