#!/usr/bin/env node
/**
 * The `jaga` command. Each subcommand is a module in src/cli/ exporting `run(args)`, loaded
 * only when used so `jaga version` does not pay for Baileys.
 */
import { existsSync } from "node:fs";
import { VERSION } from "./version.js";

type Subcommand = { summary: string; run: (args: string[]) => Promise<number> };

const SUBCOMMANDS: Record<string, Subcommand> = {
  start: { summary: "run Jaga (the default)", run: (a) => import("./cli/start.js").then((m) => m.run(a)) },
  config: { summary: "config check: validate jaga.yaml and the environment", run: (a) => import("./cli/config.js").then((m) => m.run(a)) },
  hosts: { summary: "hosts trust <name> | hosts check: pin SSH host keys, test every host", run: (a) => import("./cli/hosts.js").then((m) => m.run(a)) },
  db: { summary: "db migrate|status: apply migrations/ to DATABASE_URL (Supabase)", run: (a) => import("./cli/db.js").then((m) => m.run(a)) },
};

function usage(): string {
  const lines = Object.entries(SUBCOMMANDS).map(([name, s]) => `  jaga ${name.padEnd(8)} ${s.summary}`);
  return [
    "Usage: jaga [subcommand]",
    ...lines,
    "  jaga version",
    "",
    "Environment: JAGA_CONFIG (./jaga.yaml), JAGA_DATA_DIR (./data), JAGA_TRANSPORT, LOG_LEVEL.",
    "A .env file in the working directory is read first; see .env.example.",
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  if (existsSync(".env")) process.loadEnvFile(".env");
  const [cmd = "start", ...rest] = argv;
  if (cmd === "version" || cmd === "--version") {
    console.log(VERSION);
    return 0;
  }
  if (cmd === "help" || cmd === "--help" || cmd === "-h") {
    console.log(usage());
    return 0;
  }
  const sub = SUBCOMMANDS[cmd];
  if (!sub) {
    console.error(`Unknown subcommand: ${cmd}\n\n${usage()}`);
    return 2;
  }
  return sub.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Expected failures are reported where they happen; this is the last net: no stack trace.
    console.error(`jaga: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
