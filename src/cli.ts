#!/usr/bin/env node
/**
 * The `jaga` command.
 *
 *   jaga [start]        run Jaga (the default)
 *   jaga config check   validate jaga.yaml and the environment, list every problem
 *   jaga version
 */
import { existsSync } from "node:fs";
import { loadConfig } from "./config/load.js";
import { createLogger } from "./log.js";
import { startJaga } from "./main.js";
import { VERSION } from "./version.js";

const USAGE = `Usage: jaga [start | config check | version | help]

Environment: JAGA_CONFIG (default ./jaga.yaml), JAGA_DATA_DIR (default ./data),
JAGA_TRANSPORT (console), LOG_LEVEL (info). A .env file in the working directory is read first.`;

async function main(argv: string[]): Promise<number> {
  if (existsSync(".env")) process.loadEnvFile(".env");
  const [cmd = "start", sub] = argv;
  switch (cmd) {
    case "version":
    case "--version":
      console.log(VERSION);
      return 0;
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return 0;
    case "config":
      if (sub !== "check") break;
      return configCheck();
    case "start":
      return start();
  }
  console.error(`Unknown command: ${argv.join(" ")}\n\n${USAGE}`);
  return 2;
}

function configCheck(): number {
  const result = loadConfig(process.env);
  if (!result.ok) {
    console.error(`✗ ${result.source}\n${result.problems.map((p) => `  - ${p}`).join("\n")}`);
    return 1;
  }
  const c = result.config;
  console.log(
    `✓ ${c.source ?? "no config file: running on defaults"}\n  hosts: ${c.hosts.map((h) => h.name).join(", ")}\n  people: ${c.people.length}\n  language: ${c.language}, timezone: ${c.timezone}`,
  );
  return 0;
}

async function start(): Promise<number> {
  const result = loadConfig(process.env);
  if (!result.ok) {
    console.error(`Jaga cannot start: the configuration has problems (${result.source}):\n${result.problems.map((p) => `  - ${p}`).join("\n")}`);
    return 1;
  }
  const log = createLogger(result.config.logLevel);
  process.on("unhandledRejection", (err) => log.error({ err }, "unhandled rejection (kept running)"));
  const jaga = await startJaga({ config: result.config, log, input: process.stdin, output: process.stdout });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => void jaga.stop(signal));
  }
  await jaga.stopped;
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  },
);
