/**
 * heartbeat.url against a loopback stand-in for a Healthchecks-style monitor: the Heartbeat value
 * pings on its interval (injected clock) and keeps going when the monitor fails; a real
 * `jaga start` pings at start, says nothing on a clean SIGTERM, and posts `<url>/fail` with the
 * reason when it cannot start.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../src/clock.js";
import { Heartbeat } from "../src/heartbeat.js";
import { silentLogger } from "../src/log.js";
import { ROOT, TSX, waitFor } from "./helpers/pm2.js";
import { reapOnExit } from "./helpers/reaper.js";

const dir = mkdtempSync(join(tmpdir(), "jaga-heartbeat-"));
let server: Server;
let base = "";
let failing = false;
const hits: { method: string; path: string; body: string }[] = [];

before(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      hits.push({ method: req.method ?? "", path: req.url ?? "", body });
      res.writeHead(failing ? 500 : 200).end("OK");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

const of = (path: string) => hits.filter((h) => h.path === path);

describe("Heartbeat", () => {
  it("pings at once and then every interval, and goes on after the monitor failed", async () => {
    const clock = new ManualClock(Date.now());
    const hb = new Heartbeat({ url: `${base}/unit`, everyMs: 60_000, clock, log: silentLogger });
    hb.start();
    await waitFor(() => hb.sent === 1, 5_000, "first ping");
    failing = true;
    await clock.advance(60_000);
    await waitFor(() => of("/unit").length === 2, 5_000, "second ping");
    // Its answer read and the next wait begun (the clock only moves by hand).
    await new Promise((r) => setTimeout(r, 100));
    failing = false;
    await clock.advance(59_000);
    assert.equal(of("/unit").length, 2, "not before its time");
    await clock.advance(1_000);
    await waitFor(() => of("/unit").length === 3, 5_000, "third ping");
    await hb.stop();
    assert.equal(hb.sent, 2, "the failed ping is not counted");
    assert.ok(of("/unit").every((h) => h.method === "GET"));
  });
});

function jaga(name: string, env: NodeJS.ProcessEnv) {
  const cwd = join(dir, name);
  const config = join(dir, `${name}.yaml`);
  writeFileSync(config, ["watch: { enabled: false }", "digest: { enabled: false }", `heartbeat: { url: "${base}/hb/${name}", every: 10s }`, ""].join("\n"));
  rmSync(cwd, { recursive: true, force: true });
  const child = spawn(process.execPath, ["--import", TSX, join(ROOT, "src/cli.ts"), "start"], {
    cwd: dir,
    env: { ...process.env, JAGA_TRANSPORT: "console", JAGA_CONFIG: config, JAGA_DATA_DIR: join(cwd, "data"), LOG_LEVEL: "info", ...env },
  });
  reapOnExit({ pid: child.pid });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, exit, stderr: () => stderr };
}

describe("jaga start with heartbeat.url", () => {
  it("pings when it starts; a clean SIGTERM sends no /fail", async () => {
    const run = jaga("clean", {});
    await waitFor(() => run.stderr().includes("Jaga started"), 30_000, "start");
    await waitFor(() => of("/hb/clean").length >= 1, 5_000, "a ping");
    run.child.kill("SIGTERM");
    assert.equal(await run.exit, 0);
    assert.deepEqual(of("/hb/clean/fail"), []);
  });

  it("cannot start: posts /fail with the reason, then exits 1", async () => {
    const blocker = join(dir, "a-file");
    writeFileSync(blocker, "not a directory");
    const run = jaga("broken", { JAGA_DATA_DIR: join(blocker, "data") });
    assert.equal(await run.exit, 1);
    const [fail] = of("/hb/broken/fail");
    assert.ok(fail, `no /fail; hits: ${JSON.stringify(hits.map((h) => h.path))}; ${run.stderr().slice(-500)}`);
    assert.equal(fail.method, "POST");
    assert.match(fail.body, /^Jaga cannot start: the data directory /);
  });
});
