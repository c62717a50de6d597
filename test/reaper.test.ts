/**
 * The tests' safety net (test/helpers/reaper.ts): what a test process registered is undone when
 * that process dies without cleaning up, kill -9 included, and the net itself never keeps a
 * finished test process alive.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, describe, it } from "node:test";
import { ROOT, TSX, waitFor } from "./helpers/pm2.js";
import { alive } from "./helpers/sshd.js";

const REAPER = pathToFileURL(join(ROOT, "test/helpers/reaper.ts")).href;
const started: number[] = [];
const dirs: string[] = [];

/** A test process that starts `sleep` (printing its pid), registers it and `dir`, and then idles or ends. */
function leaver(dir: string, then: "idle" | "end") {
  const child = spawn(
    process.execPath,
    [
      "--import", TSX, "--input-type=module", "-e",
      `import { spawn } from "node:child_process";
       import { reapOnExit } from ${JSON.stringify(REAPER)};
       const sleeper = spawn("sleep", ["300"], { stdio: "ignore" });
       sleeper.unref();
       console.log(sleeper.pid);
       reapOnExit({ pid: sleeper.pid, path: process.argv[1] });
       console.log("registered");
       if (process.argv[2] === "idle") setInterval(() => undefined, 1000);`,
      dir, then,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  // Resolves with the sleeper's pid once it is registered; its pid is noted at once, for `after`.
  const sleeper = new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const [pid, registered] = out.split("\n");
      if (pid && !started.includes(Number(pid)) && out.includes("\n")) started.push(Number(pid));
      if (registered === "registered") resolve(Number(pid));
    });
    child.once("exit", () => reject(new Error(`the test process ended before registering its sleeper: ${out}`)));
  });
  return { child, exited, sleeper };
}

describe("reaper", () => {
  after(() => {
    for (const pid of started) if (alive(pid)) process.kill(pid, "SIGKILL");
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const scratch = () => {
    const dir = mkdtempSync(join(tmpdir(), "jaga-reaper-"));
    dirs.push(dir);
    return dir;
  };

  it("kills what a test process started and removes its files once it is killed with SIGKILL", async () => {
    const dir = scratch();
    const run = leaver(dir, "idle");
    const sleeper = await run.sleeper;
    assert.ok(alive(sleeper));
    run.child.kill("SIGKILL");
    await run.exited;
    await waitFor(() => !alive(sleeper) && !existsSync(dir), 10_000, "the reaper to clean up");
  });

  it("lets a test process end by itself, and cleans up after it when it did not", { timeout: 20_000 }, async () => {
    const dir = scratch();
    const run = leaver(dir, "end");
    const sleeper = await run.sleeper;
    assert.equal(await run.exited, 0, "the process ended although the reaper holds a pipe to it");
    await waitFor(() => !alive(sleeper) && !existsSync(dir), 10_000, "the reaper to clean up");
  });
});
