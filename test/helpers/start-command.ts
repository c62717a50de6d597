/**
 * How production starts Jaga, read from the three places that say it: `npm start`
 * (package.json), the PM2 ecosystem file and the systemd unit. Each gives the same node flags
 * and environment (MALLOC_ARENA_MAX and the like); test/start-command.test.ts checks they agree
 * and bench/memory.ts measures exactly what `npm start` runs.
 *
 * @example
 * const { nodeArgs, env } = npmStart(); // { nodeArgs: ["--max-semi-space-size=1"], env: { MALLOC_ARENA_MAX: "2" } }
 * spawn(process.execPath, [...nodeArgs, "dist/src/cli.js", "start"], { env: { ...process.env, ...env } });
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { ROOT } from "./pm2.js";

export interface StartCommand {
  /** Flags given to node before the script. */
  nodeArgs: string[];
  /** The script and its arguments. */
  script: string[];
  /** Variables set for this start only (not NODE_ENV or JAGA_TRANSPORT, which differ by design). */
  env: Record<string, string>;
}

/** Variables that say where and how Jaga runs, not how node runs it: they may differ between the three. */
const DEPLOYMENT_VARS = new Set(["NODE_ENV", "JAGA_TRANSPORT"]);

function split(words: string[], interpreter: RegExp): StartCommand {
  const env: Record<string, string> = {};
  let i = 0;
  for (; i < words.length && /^[A-Z_][A-Z0-9_]*=/.test(words[i]!); i++) {
    const [k, ...v] = words[i]!.split("=");
    env[k!] = v.join("=");
  }
  if (!interpreter.test(words[i] ?? "")) throw new Error(`expected node, got: ${words.join(" ")}`);
  i++;
  const nodeArgs: string[] = [];
  for (; i < words.length && words[i]!.startsWith("-"); i++) nodeArgs.push(words[i]!);
  return { nodeArgs, script: words.slice(i), env };
}

/** `npm start`: `[VAR=value …] node [flags] dist/src/cli.js start`. */
export function npmStart(root = ROOT): StartCommand {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: Record<string, string> };
  return split(pkg.scripts.start!.trim().split(/\s+/), /^node$/);
}

/** The ecosystem file's app: `node_args`, `script` + `args`, and `env` without the deployment variables. */
export function ecosystemStart(root = ROOT): StartCommand {
  const require = createRequire(import.meta.url);
  const file = join(root, "ecosystem.config.cjs");
  delete require.cache[file];
  const { apps } = require(file) as { apps: { script: string; args?: string; node_args?: string | string[]; env?: Record<string, string> }[] };
  const app = apps[0]!;
  const nodeArgs = app.node_args === undefined ? [] : Array.isArray(app.node_args) ? app.node_args : app.node_args.split(/\s+/).filter(Boolean);
  const env = Object.fromEntries(Object.entries(app.env ?? {}).filter(([k]) => !DEPLOYMENT_VARS.has(k)));
  return { nodeArgs, script: [app.script, ...(app.args ? app.args.split(/\s+/) : [])], env };
}

/** The unit's `ExecStart=` and `Environment=` lines (without the deployment variables). */
export function systemdStart(root = ROOT): StartCommand {
  const unit = readFileSync(join(root, "deploy/jaga.service"), "utf8").split("\n");
  const exec = unit.find((l) => l.startsWith("ExecStart="));
  if (!exec) throw new Error("deploy/jaga.service has no ExecStart=");
  const cmd = split(exec.slice("ExecStart=".length).trim().split(/\s+/), /(^|\/)node$/);
  for (const line of unit.filter((l) => l.startsWith("Environment="))) {
    for (const pair of line.slice("Environment=".length).trim().split(/\s+/)) {
      const [k, ...v] = pair.split("=");
      if (!DEPLOYMENT_VARS.has(k!)) cmd.env[k!] = v.join("=");
    }
  }
  return cmd;
}
