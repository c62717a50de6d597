/**
 * Jaga watches itself (issue 10, point 4), drilled for real: Jaga's data directory on a small
 * tmpfs this test mounts, filled with a file until nothing fits, under a real `jaga start` with
 * a real PM2 running crash-looping apps. What must hold while the disk is full: /health says
 * degraded (503) and why, one message says the store cannot be written (sent straight to the
 * console because the outbox cannot be written), restart storms are still detected and
 * alerted, and errors are logged once per kind and minute. When the fill file goes: a resolved
 * message and 200. Starting on a full (or read-only) disk says what is wrong, in one line.
 *
 * Mounting needs root; without it the drills are skipped with the reason.
 */
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { DirectSend, queueOrSendDirect } from "../src/chat/direct-send.js";
import { OutboxPump } from "../src/chat/outbox-pump.js";
import { ManualClock, systemClock } from "../src/clock.js";
import { Inventory } from "../src/hosts/inventory.js";
import { LogLimit } from "../src/log-limit.js";
import { translator } from "../src/i18n/index.js";
import { createLogger, silentLogger } from "../src/log.js";
import { defaultExecutorFactory } from "../src/main.js";
import { vitalsPaths } from "../src/ops/vitals.js";
import { StoreHealth } from "../src/store/health.js";
import { IncidentsWithMemory } from "../src/store/memory-incidents.js";
import { onStorageError } from "../src/store/sqlite/db.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";
import { createWatch } from "../src/watch/index.js";
import { RestartTracker } from "../src/watch/restarts.js";
import { followStoreHealth } from "../src/watch/self.js";
import { testConfig } from "./helpers/harness.js";
import { ROOT, startPm2, TSX, waitFor, type TestPm2 } from "./helpers/pm2.js";

const run = promisify(execFile);

/** A tmpfs of `size` mounted at a fresh temporary directory; null (with the reason) when it cannot be. */
async function mountTmpfs(size: string): Promise<{ dir: string; umount(): Promise<void> } | string> {
  if (process.getuid?.() !== 0) return "mounting a tmpfs needs root";
  const dir = mkdtempSync(join(tmpdir(), "jaga-fulldisk-"));
  try {
    await run("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0755`, "tmpfs", dir]);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return `cannot mount a tmpfs here: ${(err as Error).message.split("\n")[0]}`;
  }
  return {
    dir,
    async umount() {
      await run("umount", [dir]).catch(() => run("umount", ["-l", dir]));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes `file` until the filesystem refuses a single byte more. */
function fill(file: string): void {
  const fd = openSync(file, "w");
  try {
    for (const size of [1 << 16, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size, 0x61);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface Jaga {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

function startJagaProcess(cwd: string, env: Record<string, string>): Jaga {
  const child = spawn(process.execPath, ["--import", TSX, join(ROOT, "src/cli.ts"), "start"], {
    cwd,
    env: { ...process.env, JAGA_TRANSPORT: "console", LOG_LEVEL: "info", ...env },
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

const count = (text: string, needle: string | RegExp) =>
  typeof needle === "string" ? text.split(needle).length - 1 : (text.match(new RegExp(needle, "g")) ?? []).length;

describe("errors are logged once per kind and minute", () => {
  it("logs the first, counts the rest, and says how many were left out on the next line", async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const clock = new ManualClock(1_000_000);
    const limit = new LogLimit(createLogger("info", sink), clock);
    const err = Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
    for (let i = 0; i < 500; i++) {
      limit.error("store.write", err, "store write failed");
      await clock.advance(100); // 500 failures over 50 s
    }
    limit.error("watch.round", new Error("boom"), "watch round failed", { host: "stb" });
    await new Promise((r) => setImmediate(r));
    assert.equal(lines.length, 2, "one line per kind in the first minute");
    assert.match(String((lines[0]!.err as { stack?: string }).stack), /database or disk is full/);
    assert.equal(lines[1]!.host, "stb");
    await clock.advance(10_001); // past the minute
    limit.error("store.write", err, "store write failed");
    await new Promise((r) => setImmediate(r));
    assert.equal(lines.length, 3);
    assert.equal(lines[2]!.suppressed, 499);
    assert.equal(lines[2]!.msg, "store write failed (499 more like this left out)");
  });
});

describe("the data directory's disk is a vital", () => {
  it("a local host's disk check includes the data directory; an SSH host's does not", () => {
    assert.deepEqual(vitalsPaths({ local: true, pm2Home: "/home/a/.pm2" }, "/srv/jaga/data"), ["/", "/home/a/.pm2", "/srv/jaga/data"]);
    assert.deepEqual(vitalsPaths({ pm2Home: "/home/deploy/.pm2" }, "/srv/jaga/data"), ["/", "/home/deploy/.pm2"]);
    assert.deepEqual(vitalsPaths({ local: true }, ":memory:"), ["/"]);
  });
});

describe("data disk full, drilled with a real jaga start", () => {
  let fs: Awaited<ReturnType<typeof mountTmpfs>>;
  let pm2: TestPm2 | undefined;
  let jaga: Jaga | undefined;
  const work = mkdtempSync(join(tmpdir(), "jaga-selfwatch-"));

  before(async () => {
    fs = await mountTmpfs("4m");
  });
  after(async () => {
    if (jaga && jaga.child.exitCode === null) {
      jaga.child.kill("SIGKILL");
      await jaga.exited;
    }
    await pm2?.stop();
    if (typeof fs !== "string") await fs.umount();
    rmSync(work, { recursive: true, force: true });
  });

  it("stays watchful while full: 503 with the reason, one direct store message, storms alerted, few log lines; recovers", async (t) => {
    if (typeof fs === "string") return t.skip(fs);
    const mountDir = fs.dir;
    const dataDir = join(mountDir, "data");
    const crash = { script: "crashloop.js", env: { CRASH_AFTER_MS: "1500" } };
    pm2 = await startPm2({ web: "healthy.js", "loop-a": crash, "loop-b": crash });
    await pm2.cli("stop", "loop-a", "loop-b"); // they storm only once the disk is full
    const host = pm2.hostConfig();
    writeFileSync(
      join(work, "jaga.yaml"),
      [
        "language: en",
        "digest: { enabled: false }",
        "watch: { interval: 5s, dns: { enabled: false }, cpu: { for: 1d }, memory: { percent: 100 } }",
        `hosts:\n  - { name: local, local: true, pm2Home: "${host.pm2Home}", pm2Bin: "${host.pm2Bin}" }`,
        "",
      ].join("\n"),
    );
    const port = await freePort();
    jaga = startJagaProcess(work, { JAGA_DATA_DIR: dataDir, JAGA_HTTP_PORT: String(port) });
    const health = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      return { status: res.status, body: (await res.json()) as { status: string; reasons: string[]; store: { writable: boolean } } };
    };
    await waitFor(() => jaga!.stderr().includes('"msg":"Jaga started"'), 30_000, "Jaga started");
    await waitFor(async () => (await health().catch(() => null))?.status === 200, 15_000, "/health 200 before the fill");

    const filledAt = Date.now();
    fill(join(fs.dir, "fill"));
    await pm2.cli("restart", "loop-a", "loop-b");

    // The disk is a vital: the data directory's filesystem at 100 % is critical.
    await waitFor(() => jaga!.stdout().includes("*Jaga cannot write its data* · *jaga*"), 30_000, "the store message");
    await waitFor(() => /Restart storm\* · `loop-a`/.test(jaga!.stdout()) && /Restart storm\* · `loop-b`/.test(jaga!.stdout()), 30_000, "both storms alerted");
    // The data directory's filesystem is one of the local host's disks (df names it by its mount).
    await waitFor(() => jaga!.stdout().includes(`Disk critical* · \`${mountDir}\` on *local*`), 30_000, "the data disk alert");
    const during = await health();
    assert.equal(during.status, 503);
    assert.equal(during.body.status, "degraded");
    assert.equal(during.body.store.writable, false);
    assert.ok(
      during.body.reasons.some((r) => r.startsWith(`Jaga cannot write its data (disk full: ${dataDir}, 0 B free of 4.0 MB`)),
      JSON.stringify(during.body.reasons),
    );
    assert.ok(jaga.stdout().includes(`Disk full: \`${dataDir}\`, 0 B free.`), jaga.stdout());

    // Let the storms and the failing writes go on a while, then count.
    await new Promise((r) => setTimeout(r, 5_000));
    await pm2.cli("stop", "loop-a", "loop-b");
    const out = jaga.stdout();
    assert.equal(count(out, "*Jaga cannot write its data* · *jaga*"), 1, "one store message per outage");
    assert.equal(count(out, /Restart storm\* · `loop-a`/), 1, "one storm alert per app, not one per restart");
    const minutes = Math.ceil((Date.now() - filledAt) / 60_000);
    const logLines = jaga.stderr().split("\n").filter((l) => l.startsWith("{"));
    const byKind = new Map<string, number>();
    for (const l of logLines) {
      const kind = (JSON.parse(l) as { kind?: string }).kind;
      if (kind) byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
    }
    assert.ok((byKind.get("store.write") ?? 0) >= 1, "the failure is logged");
    for (const [kind, n] of byKind) assert.ok(n <= minutes + 1, `${kind}: ${n} lines in ${minutes} min`);
    assert.ok(count(jaga.stderr(), '"stack"') <= 2 * byKind.size + 2, `stack traces: ${count(jaga.stderr(), '"stack"')}`);
    assert.match(jaga.stderr(), /Jaga cannot write its data \(disk full: .*\): alerts go straight to the chat until it can/);

    // Room again: the incident resolves through the outbox, /health is 200 again.
    rmSync(join(fs.dir, "fill"));
    await waitFor(() => /✅ Resolved: #\d+ Jaga cannot write its data · \*jaga\*/.test(jaga!.stdout()), 30_000, "the resolved message");
    await waitFor(async () => (await health()).status === 200, 30_000, "/health 200 after recovery");
    const after = await health();
    assert.deepEqual(after.body.reasons, []);
    assert.equal(after.body.store.writable, true);

    jaga.child.stdin.end();
    assert.equal(await jaga.exited, 0, jaga.stderr().slice(-2000));
  });

  it("starting on a full disk says what is full, in one line, and exits non-zero", async (t) => {
    if (typeof fs === "string") return t.skip(fs);
    mkdirSync(join(fs.dir, "fresh"));
    fill(join(fs.dir, "fill"));
    try {
      // The drill's data directory (a jaga.db, no WAL: SQLite's "disk I/O error") and an empty one.
      for (const dataDir of [join(fs.dir, "data"), join(fs.dir, "fresh")]) {
        const j = startJagaProcess(work, { JAGA_DATA_DIR: dataDir });
        j.child.stdin.end();
        const code = await j.exited;
        assert.notEqual(code, 0, `${dataDir}: ${j.stderr()}`);
        const escaped = dataDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        assert.match(j.stderr(), new RegExp(`^Jaga cannot start: the data directory ${escaped} is on a full disk \\(0 B free of 4\\.0 MB\\)\\.$`, "m"));
        assert.doesNotMatch(j.stderr(), /disk I\/O error|"stack"|at .*\.ts:\d+/);
      }
    } finally {
      rmSync(join(fs.dir, "fill"));
    }
  });

  it("starting on a read-only disk says so", async (t) => {
    if (typeof fs === "string") return t.skip(fs);
    const dataDir = join(fs.dir, "ro");
    mkdirSync(dataDir);
    await run("mount", ["-o", "remount,ro", fs.dir]);
    try {
      const j = startJagaProcess(work, { JAGA_DATA_DIR: dataDir });
      j.child.stdin.end();
      assert.notEqual(await j.exited, 0);
      assert.match(j.stderr(), /^Jaga cannot start: the data directory .*\/ro is on a read-only filesystem\.$/m);
    } finally {
      await run("mount", ["-o", "remount,rw", fs.dir]);
    }
  });
});

describe("with only SSH hosts, Jaga's own machine is still watched, as `jaga`", () => {
  let fs: Awaited<ReturnType<typeof mountTmpfs>>;
  before(async () => {
    fs = await mountTmpfs("4m");
  });
  after(async () => {
    if (typeof fs !== "string") await fs.umount();
  });

  it("alerts before the data disk is full, and again when it is critical", async (t) => {
    if (typeof fs === "string") return t.skip(fs);
    const dir = fs.dir;
    const ssh = { host: "127.0.0.1", port: 9, user: "nobody", agent: true }; // never dialled: only Jaga's own disk is checked
    const config = { ...testConfig({ language: "en", hosts: [{ name: "far", ssh }] }), dataDir: dir };
    const store = openSqliteStore(":memory:");
    const hosts = Inventory.fromConfig(config.hosts, defaultExecutorFactory);
    const alert = (text: string, dedupeKey: string) => store.outbox.enqueue({ chatId: "alerts", text, dedupeKey, at: Date.now() });
    const alerts = { chatId: "alerts", queued: () => undefined };
    const watch = createWatch({ config, hosts, incidents: store.incidents, state: store.watch, alert, alerts, clock: systemClock, log: silentLogger });
    const texts = () => store.db.prepare<[], { text: string }>("SELECT text FROM outbox ORDER BY id").all().map((r) => r.text);
    try {
      assert.ok(watch.self, "a self watcher when no host is local");
      await watch.self.tick();
      assert.deepEqual(texts(), [], "an empty disk is quiet");

      writeFileSync(join(dir, "fill"), Buffer.alloc(Math.round(0.85 * 4 * 2 ** 20)));
      await watch.self.tick();
      assert.equal(texts().length, 1);
      assert.match(texts()[0]!, new RegExp(`^💾 \\*Disk filling\\* · \`${dir}\` on \\*jaga\\*\\n${dir} at 8\\d% \\(\\d+ KB free\\)\\.`));

      fill(join(dir, "fill2"));
      await watch.self.tick();
      await watch.self.tick(); // still full: no second alert
      assert.equal(texts().length, 2);
      assert.match(texts()[1]!, new RegExp(`^💾 \\*Disk critical\\* · \`${dir}\` on \\*jaga\\*\\n${dir} at 100% \\(0 B free\\)\\.`));
    } finally {
      await watch.stop();
      await hosts.close();
      await store.close();
    }

    const local = createWatch({
      config: { ...testConfig({ hosts: [{ name: "here", local: true }] }), dataDir: dir },
      hosts: Inventory.fromConfig([], defaultExecutorFactory),
      incidents: store.incidents,
      state: store.watch,
      alert,
      alerts,
      clock: systemClock,
      log: silentLogger,
    });
    assert.equal(local.self, null, "a local host's own disk check covers the data directory");
  });
});

describe("the store's parts on a full disk, in-process", () => {
  let fs: Awaited<ReturnType<typeof mountTmpfs>>;
  before(async () => {
    fs = await mountTmpfs("2m");
  });
  after(async () => {
    if (typeof fs !== "string") await fs.umount();
  });

  it("restarts are counted in memory, incidents open in memory, nothing is sent twice; all of it reaches the disk once it has room", async (t) => {
    if (typeof fs === "string") return t.skip(fs);
    const file = join(fs.dir, "jaga.db");
    const store = openSqliteStore(file);
    const clock = new ManualClock(Date.parse("2026-12-01T00:00:00Z"));
    const health = new StoreHealth({ dataDir: fs.dir, clock, log: silentLogger, probe: (at) => store.watch.probe(at), checkEveryMs: 1_000 });
    onStorageError(store.db, (err) => health.failed(err));
    const changes: boolean[] = [];
    health.onChange((c) => changes.push(c.writable));
    const delivered: string[] = [];
    const pump = new OutboxPump(store.outbox, { send: (_c, text) => Promise.resolve(void delivered.push(text)) }, clock, silentLogger);
    const direct: string[] = [];
    const incidents = new IncidentsWithMemory(store.incidents, (d) => Promise.resolve(void direct.push(d.text)));
    const tracker = new RestartTracker("local", store.watch);
    // Without watching (no desk), the store's two messages go through the alert sink; the chat
    // is down too at first, so the direct path holds the message for the outbox.
    const chat = { up: false, sent: [] as string[] };
    const relay = new DirectSend(
      { send: (_c, text) => (chat.up ? Promise.resolve(void chat.sent.push(text)) : Promise.reject(new Error("WhatsApp is down too"))) },
      silentLogger,
      clock,
    );
    const queue = (text: string, dedupeKey?: string) => store.outbox.enqueue({ chatId: "alerts", text, dedupeKey, at: clock.now() });
    const onWritable = () => relay.requeue((m) => queue(m.text, m.dedupeKey));
    followStoreHealth({ health, alert: queueOrSendDirect(queue, relay, "alerts"), onWritable, t: translator("en"), clock, log: silentLogger });
    try {
      tracker.observe([{ name: "web", pmId: 0, restarts: 10 }], clock.now(), { complete: true });
      await store.outbox.enqueue({ chatId: "alerts", text: "queued before the fill", dedupeKey: "before", at: clock.now() });

      fill(join(fs.dir, "fill"));
      // Bus events while full: counted, kept in memory, nothing thrown.
      for (let n = 11; n <= 14; n++) {
        await clock.advance(10_000);
        assert.deepEqual(tracker.observe([{ name: "web", pmId: 0, restarts: n }], clock.now(), { complete: false }), [{ app: "web", count: 1 }]);
      }
      assert.deepEqual(store.watch.restarts("local", "web", 0).map((r) => r.count), [1, 1, 1, 1], "the storm window, from memory");
      const kept = store.watch.pending();
      assert.ok(kept >= 4);
      // A write the store refuses for its own sake is still thrown, and kept nowhere.
      assert.throws(() => store.watch.recordRestarts("local", "web", clock.now(), 0), /CHECK constraint failed/);
      assert.equal(store.watch.pending(), kept);
      assert.equal(health.status().writable, false);
      assert.equal(health.status().problem, "full");
      assert.deepEqual(changes, [false], "told once");
      await waitFor(() => relay.waiting === 1, 5_000, "the store message held for the outbox");
      assert.deepEqual(chat.sent, []);

      const alertFor = (i: { id: number; uid: string }) => ({ chatId: "alerts", text: `storm #${i.id}`, dedupeKey: `incident:${i.uid}:open` });
      const evidence = ["Likely cause: port 3000 is already in use", "Error: listen EADDRINUSE"];
      const opened = await incidents.openOrGet({ host: "local", app: "web", kind: "restart_storm", summary: "4 restarts", at: clock.now(), evidence }, alertFor);
      assert.equal(opened.created, true);
      const action = { at: clock.now() + 1, kind: "action" as const, by: "Oki", detail: "/restart web local" };
      assert.equal(await incidents.addEvent(opened.incident.id, action), true, "an action on a full disk is kept in memory");
      assert.deepEqual(await incidents.timeline(opened.incident.id), {
        evidence,
        events: [{ at: opened.incident.openedAt, kind: "opened", by: null, detail: null }, action],
      });
      assert.deepEqual(direct, ["storm #1"], "the alert the outbox could not take went out directly");
      assert.equal(incidents.inMemory, 1);
      assert.equal((await incidents.openOrGet({ host: "local", app: "web", kind: "restart_storm", summary: "5", at: clock.now() }, alertFor)).created, false);
      assert.equal(direct.length, 1, "once");
      assert.deepEqual((await incidents.listOpen()).map((i) => i.uid), [opened.incident.uid]);

      // Sent, but the outbox cannot record it: not sent again by the next rounds.
      pump.start();
      await pump.idle();
      pump.kick();
      await pump.idle();
      assert.deepEqual(delivered, ["queued before the fill"]);

      // Still full: a recheck does not call it recovered.
      await clock.advance(1_000);
      assert.equal(health.status().writable, false);

      rmSync(join(fs.dir, "fill"));
      await clock.advance(1_000);
      assert.equal(health.status().writable, true);
      assert.deepEqual(changes, [false, true]);
      assert.equal(store.watch.pending(), 0, "what memory kept is on disk now");
      assert.equal(await incidents.adopt(), 1);
      const stored = await store.incidents.listOpen();
      assert.deepEqual(stored.map((i) => [i.uid, i.openedAt]), [[opened.incident.uid, opened.incident.openedAt]]);
      assert.deepEqual(await store.incidents.timeline(stored[0]!.id), {
        evidence,
        events: [{ at: opened.incident.openedAt, kind: "opened", by: null, detail: null }, action],
      }, "evidence and timeline adopted with it");
      await waitFor(() => relay.waiting === 0, 5_000, "the held message requeued");
      pump.kick();
      await pump.idle();
      assert.equal(delivered.length, 3, delivered.join("\n---\n"));
      assert.equal(delivered[0], "queued before the fill", "recorded as sent, never sent twice");
      assert.equal(delivered[1], `🛑 *Jaga cannot write its data* · Disk full: \`${fs.dir}\`, 0 B free. Alerts go out directly; incidents are kept in memory until it can write again.`);
      // 32 s: from the first failed write (10 s after the fill) to the recheck that found room.
      assert.match(delivered[2]!, new RegExp(`^✅ Jaga can write its data again \\(\`${fs.dir}\`, [\\d.]+ MB free\\) after 32s\\.$`));
      assert.equal(await store.outbox.backlog(), 0);
    } finally {
      await pump.stop();
      await health.stop();
      await store.close();
    }
    const again = openSqliteStore(file);
    try {
      assert.deepEqual(again.watch.restarts("local", "web", 0).map((r) => r.count), [1, 1, 1, 1], "restarts counted while full are on disk");
    } finally {
      await again.close();
    }
  });
});
