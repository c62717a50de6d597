/** `jaga config check`: runs every check `jaga start` runs (checkConfig) and lists every problem. */
import { checkConfig } from "../config/check.js";

export function run(args: string[]): Promise<number> {
  if (args[0] !== "check") {
    console.error("Usage: jaga config check");
    return Promise.resolve(2);
  }
  const result = checkConfig(process.env);
  if (!result.ok) {
    console.error(`✗ ${result.source}\n${result.problems.map((p) => `  - ${p}`).join("\n")}`);
    return Promise.resolve(1);
  }
  const c = result.config;
  console.log(
    [
      `✓ ${c.source ?? "no config file: running on defaults"}`,
      `  hosts: ${c.hosts.map((h) => h.name).join(", ")}`,
      `  people: ${c.people.length}`,
      `  language: ${c.language}, timezone: ${c.timezone}`,
    ].join("\n"),
  );
  return Promise.resolve(0);
}
