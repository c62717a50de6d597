/**
 * Jaga's life as a process, drilled the way an operator meets it: real `jaga start` processes
 * (console transport), real sshd hosts, one of them frozen with SIGSTOP, a real PM2.
 *
 *  - SIGTERM while a command runs and a host is frozen: exit 0 within shutdown.budget, the
 *    command aborted (its remote process too), nothing run, answered or logged after "stopped"
 *  - a signal during start-up, and right after it while a frozen host is being connected
 *  - two instances on one data directory started at once: one runs, the other names its pid
 *  - kill -9, then start again: the lock does not outlive its process
 *  - under PM2 with the shipped ecosystem settings: `pm2 stop` is quick and never a SIGKILL
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { configSchema } from "../src/config/schema.js";
import type { Config } from "../src/config/load.js";
import type { ExecResult, Executor } from "../src/hosts/executor.js";
import { createLogger, silentLogger } from "../src/log.js";
import { OutboxPump } from "../src/chat/outbox-pump.js";
import { systemClock } from "../src/clock.js";
import { defineCommand } from "../src/pipeline/command.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";
import { z } from "zod";
import { harness } from "./helpers/harness.js";
import { reapOnExit } from "./helpers/reaper.js";
import { startJaga } from "../src/main.js";
import { ROOT, startPm2, TSX, waitFor, type TestPm2 } from "./helpers/pm2.js";
import { alive, descendants, startSshd, type TestSshd } from "./helpers/sshd.js";

/** Low, so the drills are quick; the stop must fit in it whatever the hosts do. */
const BUDGET_MS = 2_000;
/** What a loaded machine may add: process start-up, the exit grace, scheduling. */
const MARGIN_MS = 4_000;

const dirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  reapOnExit({ path: dir });
  return dir;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Chunk {
  at: number;
  stream: "stdout" | "stderr";
  text: string;
}

/** A running `jaga start`, its output time-stamped as it arrives. */
interface JagaProcess {
  child: ChildProcess;
  pid: number;
  chunks: Chunk[];
  stdout(): string;
  stderr(): string;
  /** Parsed log lines (stderr). */
  logs(): { msg: string; [k: string]: unknown }[];
  waitForLog(msg: string, ms?: number): Promise<number>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

function spawnJaga(dir: string, env: Record<string, string> = {}): JagaProcess {
  const child = spawn(process.execPath, ["--import", TSX, join(ROOT, "src/cli.ts"), "start"], {
    cwd: dir,
    env: { ...process.env, JAGA_TRANSPORT: "console", JAGA_DATA_DIR: join(dir, "data"), LOG_LEVEL: "info", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  reapOnExit({ pid: child.pid });
  const chunks: Chunk[] = [];
  child.stdout.on("data", (c: Buffer) => chunks.push({ at: Date.now(), stream: "stdout", text: c.toString() }));
  child.stderr.on("data", (c: Buffer) => chunks.push({ at: Date.now(), stream: "stderr", text: c.toString() }));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  const text = (s: Chunk["stream"]) => chunks.filter((c) => c.stream === s).map((c) => c.text).join("");
  const logs = () =>
    text("stderr")
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { msg: string });
  return {
    child,
    pid: child.pid!,
    chunks,
    stdout: () => text("stdout"),
    stderr: () => text("stderr"),
    logs,
    async waitForLog(msg, ms = 40_000) {
      await waitFor(() => logs().some((l) => l.msg === msg) || child.exitCode !== null, ms, `"${msg}" in:\n${text("stderr")}`);
      const chunk = chunks.find((c) => c.stream === "stderr" && c.text.includes(`"msg":"${msg}"`));
      if (!chunk) throw new Error(`jaga exited before "${msg}":\n${text("stderr")}`);
      return chunk.at;
    },
    exited,
  };
}

/**
 * The stop kept its budget: by Jaga's own clock from "stopping" to "stopped" (what load cannot
 * stretch much: the stop is deadline-driven), and to the exit as this test saw it.
 */
function assertStoppedWithinBudget(j: JagaProcess, exitAt: number): void {
  const time = (msg: string) => j.logs().find((l) => l.msg === msg)?.time as number | undefined;
  const stopping = time("stopping");
  const stopped = time("stopped");
  assert.ok(stopping !== undefined && stopped !== undefined, j.stderr());
  assert.ok(stopped - stopping <= BUDGET_MS + 500, `stopping → stopped took ${stopped - stopping} ms`);
  assert.ok(exitAt - stopping < BUDGET_MS + MARGIN_MS, `stopping → exit took ${exitAt - stopping} ms`);
}

/** Nothing reaches stdout or stderr after the "stopped" line, and that line is the last log line. */
function assertSilentAfterStopped(j: JagaProcess): void {
  const stoppedAt = j.chunks.find((c) => c.stream === "stderr" && c.text.includes('"msg":"stopped"'))?.at;
  assert.ok(stoppedAt !== undefined, `no "stopped" in:\n${j.stderr()}`);
  const logs = j.logs();
  assert.equal(logs.at(-1)?.msg, "stopped", `log lines after "stopped":\n${j.stderr()}`);
  const later = j.chunks.filter((c) => c.at > stoppedAt && !c.text.includes('"msg":"stopped"'));
  assert.deepEqual(later.map((c) => c.text), [], "printed after stopped");
}

function listenerOf(sshd: TestSshd): number {
  const config = join(sshd.dir, "sshd_config");
  const listener = descendants(process.pid).find((pid) => {
    try {
      // sshd rewrites its title ("sshd: /usr/sbin/sshd -D -e -f … [listener]"): match anywhere.
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(config);
    } catch {
      return false;
    }
  });
  assert.ok(listener, "sshd's pid");
  return listener;
}

/**
 * No command is running under this sshd (only its own processes). Freezing or killing a host
 * in the middle of a login shell's start-up can leave machine-wide locks behind (pyenv's
 * rehash lock in root's .bashrc, say), which then stall every SSH session on the machine.
 */
function idle(sshd: TestSshd): boolean {
  return descendants(listenerOf(sshd)).every((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("sshd");
    } catch {
      return true;
    }
  });
}

/** SIGSTOP (or SIGCONT) an sshd and every session under it: the host goes silent, TCP stays open. */
function signalSshd(sshd: TestSshd, signal: "SIGSTOP" | "SIGCONT"): void {
  const listener = listenerOf(sshd);
  for (const pid of [listener, ...descendants(listener)]) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone meanwhile
    }
  }
}

/** Processes on this machine whose argv holds every one of `words` (the far side of an SSH host is here). */
function processesWith(...words: string[]): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (words.every((w) => argv.includes(w))) found.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

describe("stopping with a frozen host", () => {
  let pm2: TestPm2;
  let healthy: TestSshd;
  let frozen: TestSshd;
  let dir: string;

  before(async () => {
    [pm2, healthy, frozen] = await Promise.all([startPm2({ web: "healthy.js" }), startSshd(), startSshd()]);
    // `pm2 restart slow` takes the app's kill_timeout (it ignores SIGINT): a long command.
    await pm2.cli("start", join(ROOT, "test/fixtures/apps/slow-stop.js"), "--name", "slow", "--kill-timeout", "60000");
    dir = tempDir("jaga-lifecycle-");
    const host = (name: string, sshd: TestSshd) =>
      `  - { name: ${name}, pm2Home: "${pm2.home}", pm2Bin: "${pm2.bin}", ssh: ${JSON.stringify(sshd.target())} }`;
    writeFileSync(
      join(dir, "jaga.yaml"),
      [
        "language: en",
        `shutdown: { budget: ${BUDGET_MS / 1000}s }`,
        "watch: { dns: { name: localhost } }",
        "hosts:",
        host("edge", healthy),
        host("cold", frozen),
        "",
      ].join("\n"),
    );
  });
  after(async () => {
    signalSshd(frozen, "SIGCONT");
    // Let resumed sessions end on their own before the servers are killed (see idle()).
    await waitFor(() => idle(frozen) && idle(healthy), 10_000, "sshd sessions to end").catch(() => undefined);
    await Promise.allSettled([pm2?.stop(), healthy?.stop(), frozen?.stop()]);
  });

  it("SIGTERM while a /restart runs: exit 0 within the budget, the command aborted, nothing after stopped", async () => {
    const j = spawnJaga(dir);
    try {
      await j.waitForLog("Jaga started");
      // Both hosts connected and answering; then one goes silent with its TCP connection open.
      j.child.stdin!.write("/status\n");
      await waitFor(() => /\*edge\*/.test(j.stdout()) && /\*cold\*/.test(j.stdout()), 60_000, `/status in:\n${j.stdout()}`);
      await waitFor(() => idle(frozen), 30_000, "the host to be between commands");
      signalSshd(frozen, "SIGSTOP");

      const webPid = (await pm2.jlist()).find((p) => p.name === "web")!.pid;
      j.child.stdin!.write("/restart slow edge\n");
      await waitFor(() => processesWith("restart", "slow").length > 0, 30_000, `pm2 restart slow to run; out:\n${j.stdout()}\n${j.stderr()}`);
      const remote = processesWith("restart", "slow");

      j.child.kill("SIGTERM");
      // Arrives while stopping: must run nothing (web keeps its pid).
      j.child.stdin!.write("/restart web edge\n");
      // An impatient second signal while the command drains changes nothing: the stop goes on.
      await j.waitForLog("stopping");
      j.child.kill("SIGINT");
      const exit = await j.exited;

      assert.equal(exit.code, 0, j.stderr());
      assertStoppedWithinBudget(j, exit.at);
      assert.ok(j.logs().some((l) => l.msg.startsWith("already stopping")), j.stderr());
      assert.match(j.stdout(), /`\/restart` was stopped: Jaga is shutting down/);
      assertSilentAfterStopped(j);
      // The abort reached the far side: the remote `pm2 restart` is gone, not left running.
      await waitFor(() => remote.every((pid) => !alive(pid)), 5_000, "the remote pm2 restart to be killed");
      assert.equal((await pm2.jlist()).find((p) => p.name === "web")!.pid, webPid, "a message sent while stopping ran");
    } finally {
      j.child.kill("SIGKILL");
      signalSshd(frozen, "SIGCONT");
      await waitFor(() => idle(frozen), 10_000, "sessions to end").catch(() => undefined);
    }
  });

  it("SIGTERM while a frozen host is being connected, right after start: exit 0 within the budget", async () => {
    await waitFor(() => idle(frozen), 30_000, "the host to be between commands");
    signalSshd(frozen, "SIGSTOP");
    const j = spawnJaga(dir);
    try {
      await j.waitForLog("Jaga started");
      j.child.kill("SIGTERM");
      const exit = await j.exited;
      assert.equal(exit.code, 0, j.stderr());
      assertStoppedWithinBudget(j, exit.at);
      assertSilentAfterStopped(j);
    } finally {
      j.child.kill("SIGKILL");
      signalSshd(frozen, "SIGCONT");
    }
  });
});

describe("signals during start-up", () => {
  it("a SIGTERM before Jaga is even loaded stops it cleanly: exit 0, nothing started", async () => {
    const dir = tempDir("jaga-lifecycle-early-");
    writeFileSync(join(dir, "jaga.yaml"), "watch: { dns: { name: localhost } }\n");
    const j = spawnJaga(dir);
    await j.waitForLog("starting");
    j.child.kill("SIGTERM");
    const exit = await j.exited;
    assert.equal(exit.code, 0, j.stderr());
    assert.equal(exit.signal, null, "killed by the signal instead of stopping");
    assert.ok(!j.logs().some((l) => l.msg === "Jaga started"), j.stderr());
    assertSilentAfterStopped(j);
  });

  it("an abort while startJaga is opening the store: it starts nothing more and stops", async () => {
    const dir = tempDir("jaga-lifecycle-abort-");
    const abort = new AbortController();
    // The store's first log line comes from inside startJaga, before any await.
    const log = createLogger(
      "info",
      new Writable({
        write(chunk: Buffer, _enc, done) {
          if (chunk.toString().includes('"msg":"store:')) abort.abort("SIGTERM");
          done();
        },
      }),
    );
    let runs = 0;
    const counting: Executor = {
      kind: "local",
      run: () => {
        runs++;
        return Promise.resolve({ code: 0, stdout: "", stderr: "", truncated: false, timedOut: false, durationMs: 0 } satisfies ExecResult);
      },
      close: () => Promise.resolve(),
    };
    const config: Config = {
      ...configSchema.parse({ watch: { dns: { name: "localhost" } } }),
      source: null,
      dataDir: dir,
      transport: "console",
      logLevel: "info",
    };
    const { PassThrough } = await import("node:stream");
    const input = new PassThrough();
    const output = new PassThrough();
    let printed = "";
    output.on("data", (c: Buffer) => (printed += c.toString()));
    const jaga = await startJaga({ config, log, input, output, env: {}, signal: abort.signal, makeExecutor: () => counting });
    await jaga.stopped;
    input.write("/status\n");
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(printed, "", "the transport took a command after an abort during start-up");
    assert.equal(runs, 0, "a watcher or a command ran on a host after an abort during start-up");
    // And the lock is free again: the next start works.
    const next = await startJaga({ config, log, input: new PassThrough(), output: new PassThrough(), env: {}, makeExecutor: () => counting });
    await next.stop();
  });
});

describe("one instance per data directory", () => {
  it("two started at the same moment: one runs, the other exits 1 naming the first's pid and the directory", async () => {
    const dir = tempDir("jaga-lifecycle-two-");
    writeFileSync(join(dir, "jaga.yaml"), "watch: { dns: { name: localhost } }\n");
    const pair = [spawnJaga(dir), spawnJaga(dir)];
    try {
      const first = await Promise.race(pair.map((j) => j.exited.then(() => j)));
      const other = pair.find((j) => j !== first)!;
      const exit = await first.exited;
      assert.equal(exit.code, 1, first.stderr());
      assert.ok(
        first.stderr().includes(`another Jaga (pid ${other.pid}) is already running on the data directory ${join(dir, "data")}`),
        first.stderr(),
      );
      await other.waitForLog("Jaga started");
      other.child.kill("SIGTERM");
      assert.equal((await other.exited).code, 0, other.stderr());
    } finally {
      for (const j of pair) j.child.kill("SIGKILL");
    }
  });

  it("kill -9 leaves no lock behind: the next start runs", async () => {
    const dir = tempDir("jaga-lifecycle-kill-");
    writeFileSync(join(dir, "jaga.yaml"), "watch: { dns: { name: localhost } }\n");
    const killed = spawnJaga(dir);
    await killed.waitForLog("Jaga started");
    killed.child.kill("SIGKILL");
    await killed.exited;
    const next = spawnJaga(dir);
    try {
      await next.waitForLog("Jaga started");
      next.child.kill("SIGTERM");
      assert.equal((await next.exited).code, 0, next.stderr());
    } finally {
      next.child.kill("SIGKILL");
    }
  });
});

describe("under PM2", () => {
  let pm2: TestPm2;
  before(async () => {
    pm2 = await startPm2({});
  });
  after(async () => {
    await pm2?.stop();
  });

  it("`pm2 stop` with the shipped settings returns quickly and never needs a SIGKILL", async () => {
    const shipped = (createRequire(import.meta.url)(join(ROOT, "ecosystem.config.cjs")) as { apps: Record<string, unknown>[] }).apps[0]!;
    const defaultBudget = configSchema.parse({}).shutdown.budget;
    assert.ok((shipped.kill_timeout as number) >= defaultBudget + 5_000, "kill_timeout must stay above shutdown.budget");

    const dir = tempDir("jaga-lifecycle-pm2-");
    writeFileSync(join(dir, "jaga.yaml"), "watch: { dns: { name: localhost } }\n");
    // The shipped app entry, run from source on the console transport (no WhatsApp here).
    const app = {
      ...shipped,
      name: "jaga-under-test",
      script: join(ROOT, "src/cli.ts"),
      interpreter: process.execPath,
      node_args: ["--import", TSX],
      cwd: dir,
      env: { JAGA_TRANSPORT: "console", JAGA_CONFIG: join(dir, "jaga.yaml"), JAGA_DATA_DIR: join(dir, "data"), LOG_LEVEL: "info" },
    };
    const eco = join(dir, "ecosystem.config.cjs");
    writeFileSync(eco, `module.exports = ${JSON.stringify({ apps: [app] })};\n`);
    await pm2.cli("start", eco);
    const errLog = () => {
      try {
        return readFileSync(join(pm2.home, "logs", "jaga-under-test-error.log"), "utf8");
      } catch {
        return "";
      }
    };
    await waitFor(() => errLog().includes('"msg":"Jaga started"'), 20_000, "Jaga to start under PM2");

    const started = Date.now();
    await pm2.cli("stop", "jaga-under-test");
    const took = Date.now() - started;
    const daemonLog = readFileSync(join(pm2.home, "pm2.log"), "utf8");
    assert.ok(errLog().includes('"msg":"stopped"'), errLog());
    assert.doesNotMatch(daemonLog, /sending SIGKILL|via signal \[SIGKILL\]/, daemonLog);
    assert.match(daemonLog, /App \[jaga-under-test:\d+\] exited with code \[0\]/);
    // Before the fix every stop waited the whole kill_timeout (15 s) and ended in SIGKILL.
    assert.ok(took < (shipped.kill_timeout as number) / 3, `pm2 stop took ${took} ms`);
  });
});

describe("the parts' stop, in-process", () => {
  /** A command that runs until its signal aborts, then takes `lingerMs` more to notice. */
  const waiting = (lingerMs: number) =>
    defineCommand({
      name: "wait",
      summary: { id: "tunggu", en: "wait" },
      role: "viewer",
      args: z.object({}),
      run: (ctx) =>
        new Promise((resolve) =>
          ctx.signal.addEventListener("abort", () => setTimeout(() => resolve("late result"), lingerMs), { once: true }),
        ),
    });

  it("pipeline: closed runs nothing; abort answers 'shutting down' and audits it; after seal a straggler is dropped", async () => {
    const h = harness({ language: "en", hosts: [{ name: "local", local: true }] }, { commands: [waiting(0)] });
    try {
      const running = h.send("/wait");
      await new Promise((r) => setImmediate(r));
      h.pipeline.close();
      assert.equal(await h.send("/wait"), null, "a message after close() ran");
      assert.equal(await h.pipeline.drain(AbortSignal.timeout(50)), false, "drain must give up at its deadline");
      h.pipeline.abort();
      assert.match((await running)!, /`\/wait` was stopped: Jaga is shutting down/);
      assert.equal(await h.pipeline.drain(), true);
      const audit = await h.store.audit.recent(5);
      assert.deepEqual(audit.map((a) => [a.command, a.outcome]), [["wait", "timeout"]]);
    } finally {
      await h.close();
    }

    const sealed = harness({ language: "en", hosts: [{ name: "local", local: true }] }, { commands: [waiting(30)] });
    try {
      const straggler = sealed.send("/wait");
      await new Promise((r) => setImmediate(r));
      sealed.pipeline.seal();
      sealed.pipeline.abort();
      assert.equal(await straggler, null, "a reply after seal()");
      assert.deepEqual(await sealed.store.audit.recent(5), [], "an audit row after seal()");
    } finally {
      await sealed.close();
    }
  });

  it("outbox pump: stop() flushes what waits, then nothing more is sent", async () => {
    const store = openSqliteStore(":memory:");
    const sent: string[] = [];
    const pump = new OutboxPump(store.outbox, { send: (_chat, text) => Promise.resolve(void sent.push(text)) }, systemClock, silentLogger);
    try {
      await store.outbox.enqueue({ chatId: "alerts", text: "queued before stop", dedupeKey: "a", at: Date.now() });
      await pump.stop(AbortSignal.timeout(5_000)); // never started: the stop still flushes
      assert.deepEqual(sent, ["queued before stop"]);
      assert.equal(await store.outbox.backlog(), 0);
      await store.outbox.enqueue({ chatId: "alerts", text: "after stop", dedupeKey: "b", at: Date.now() });
      pump.kick();
      await pump.idle();
      assert.deepEqual(sent, ["queued before stop"], "sent after stop");
    } finally {
      await store.close();
    }
  });
});
