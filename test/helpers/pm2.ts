/**
 * A real PM2 daemon for tests, in its own temporary PM2_HOME, running fixture apps from
 * test/fixtures/apps. Always `await pm2.stop()` (it kills the daemon and every app, and removes
 * the home); should the test process die first, the reaper (./reaper.ts) does the same.
 *
 * @example
 * const pm2 = await startPm2({ healthy: "healthy.js", crashy: "crashloop.js" });
 * pm2.hostConfig(); // { name: "local", local: true, pm2Home, pm2Bin, sudo: false }
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { reapOnExit } from "./reaper.js";

const run = promisify(execFile);

export const ROOT = resolve(import.meta.dirname, "../..");
export const PM2_BIN = join(ROOT, "node_modules/.bin/pm2");
export const APPS = join(ROOT, "test/fixtures/apps");
/** tsx's loader as a URL, for `node --import` in a child whose cwd is elsewhere. */
export const TSX = import.meta.resolve("tsx");

export interface TestPm2 {
  home: string;
  bin: string;
  /** Runs the pm2 CLI against this daemon. */
  cli(...args: string[]): Promise<string>;
  jlist(): Promise<{ name: string; pid: number; pm2_env: { status: string; restart_time: number } }[]>;
  hostConfig(name?: string): { name: string; local: true; pm2Home: string; pm2Bin: string; sudo: false };
  stop(): Promise<void>;
}

export type AppSpec = string | { script: string; args?: string[]; env?: Record<string, string> };

export async function startPm2(apps: Record<string, AppSpec>): Promise<TestPm2> {
  const home = mkdtempSync(join(tmpdir(), "jaga-pm2-"));
  reapOnExit({ pm2Home: home, path: home });
  const env = { ...process.env, PM2_HOME: home, PM2_DISCRETE_MODE: "true" };
  const cli = async (...args: string[]) => (await run(PM2_BIN, args, { env, timeout: 30_000 })).stdout;
  const pm2: TestPm2 = {
    home,
    bin: PM2_BIN,
    cli,
    jlist: async () => JSON.parse(await cli("jlist")) as Awaited<ReturnType<TestPm2["jlist"]>>,
    hostConfig: (name = "local") => ({ name, local: true, pm2Home: home, pm2Bin: PM2_BIN, sudo: false }),
    async stop() {
      await cli("kill").catch(() => undefined);
      // `pm2 kill` gives up on apps that do not die in time, and fails outright on a daemon that hangs.
      for (const pid of processesOf(home)) tryKill(pid);
      rmSync(home, { recursive: true, force: true });
    },
  };
  try {
    for (const [name, spec] of Object.entries(apps)) {
      const s = typeof spec === "string" ? { script: spec } : spec;
      await run(PM2_BIN, ["start", join(APPS, s.script), "--name", name, ...(s.args ? ["--", ...s.args] : [])], {
        env: { ...env, ...s.env },
        timeout: 30_000,
      });
    }
  } catch (err) {
    await pm2.stop();
    throw err;
  }
  return pm2;
}

/** Polls `check` every 50 ms until it returns true or `ms` passes. */
export async function waitFor(check: () => Promise<boolean> | boolean, ms = 10_000, what = "condition"): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Every process running with PM2_HOME=`home`: the daemon and each of its apps. */
function processesOf(home: string): number[] {
  const mark = `PM2_HOME=${home}`;
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry) && Number(entry) !== process.pid)
    .filter((entry) => {
      try {
        return readFileSync(`/proc/${entry}/environ`, "utf8").split("\0").includes(mark);
      } catch {
        return false; // gone meanwhile, or not ours to read
      }
    })
    .map(Number);
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}
