/**
 * Fault drills for the SSH layer against a real OpenSSH server on 127.0.0.1: a host frozen
 * (SIGSTOP: TCP open, nothing answering) mid-command, during close() and while idle, and sshd
 * killed mid-command. Each asserts the promise: deadlines hold whatever the host does, a frozen
 * host is reported down about as fast as a refused one, close() is bounded, reconnects follow
 * the backoff, and every transition is logged once.
 *
 * Time bounds are relative: each is the configured figure plus a margin scaled by a round trip
 * measured on the same loaded machine, never a fixed wall time.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { SshExecutor, type SshExecutorOptions } from "../src/hosts/ssh/index.js";
import { RESULT_GRACE_MS } from "../src/hosts/ssh/exec.js";
import { translator } from "../src/i18n/index.js";
import { createLogger } from "../src/log.js";
import { exponentialBackoff } from "../src/policy/backoff.js";
import { waitFor } from "./helpers/pm2.js";
import { alive, startSshd, type TestSshd } from "./helpers/sshd.js";
import { refusal } from "./helpers/refusal.js";

let sshd: TestSshd;
const opened: SshExecutor[] = [];
/** Remote pids a test started; killed afterwards so a frozen session leaves nothing behind. */
const remotePids: number[] = [];

function executor(o: Partial<SshExecutorOptions> = {}, server: TestSshd = sshd): SshExecutor {
  const e = new SshExecutor({ name: "box", target: server.target(), connectTimeoutMs: 5_000, ...o });
  opened.push(e);
  return e;
}


/** The slowest of a few warm round trips: the unit every margin below is counted in. */
async function roundTrip(ex: SshExecutor): Promise<number> {
  let worst = 0;
  for (let i = 0; i < 3; i++) {
    const t = Date.now();
    await ex.run(["true"]);
    worst = Math.max(worst, Date.now() - t);
  }
  return worst;
}
const margin = (rtt: number) => 1_000 + 5 * rtt;

/** Starts `sleep 60` remotely and resolves with its pid once it runs (exec keeps the shell's pid). */
async function startSleeper(ex: SshExecutor, timeoutMs: number, name: string): Promise<{ result: Promise<unknown>; pid: number }> {
  const pidFile = join(sshd.dir, `${name}.pid`);
  const result = ex.run(["sh", "-c", `echo $$ > ${pidFile}; exec sleep 60`], { timeoutMs });
  result.catch(() => undefined);
  await waitFor(() => readFileSync(pidFile, { flag: "a+" }).length > 0, 10_000, "remote sleep");
  const pid = Number(readFileSync(pidFile, "utf8"));
  remotePids.push(pid);
  return { result, pid };
}

/** A logger whose lines a test can read. */
function capturedLog() {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const log = createLogger("debug", {
    write(s: string) {
      raw.push(s);
      lines.push(JSON.parse(s) as Record<string, unknown>);
    },
  });
  return { log, lines, raw, msgs: (msg: string) => lines.filter((l) => l.msg === msg) };
}

before(async () => {
  sshd = await startSshd();
});
afterEach(() => {
  sshd.thaw();
});
after(async () => {
  sshd?.thaw();
  await Promise.allSettled(opened.map((e) => e.close()));
  for (const pid of remotePids) if (alive(pid)) process.kill(pid, "SIGKILL");
  await sshd?.stop();
});

describe("ssh faults: a frozen host", () => {
  it("ends a command frozen mid-run at its deadline, reports the host down right after, and reconnects after thaw", async () => {
    const answerTimeoutMs = 1_000;
    const ex = executor({ answerTimeoutMs, connectTimeoutMs: 3_000, backoff: { initialMs: 200, maxMs: 1_000 } });
    await ex.connect();
    const rtt = await roundTrip(ex);

    const timeoutMs = 2_500;
    const started = Date.now();
    const { result } = await startSleeper(ex, timeoutMs, "frozen-mid");
    sshd.freeze();
    const r = (await result) as { timedOut: boolean; code: number | null };
    const took = Date.now() - started;
    assert.equal(r.timedOut, true);
    assert.equal(r.code, null);
    assert.ok(took >= timeoutMs - 5, `answered before its deadline: ${took} ms`);
    assert.ok(took <= timeoutMs + RESULT_GRACE_MS + margin(rtt), `answered ${took} ms after start, deadline ${timeoutMs} ms (rtt ${rtt} ms)`);

    // The kill it owed went unanswered: the link is dropped now, not when the OS gives up.
    const answered = Date.now();
    await waitFor(() => ex.state === "down", answerTimeoutMs + margin(rtt), "frozen host reported down");
    assert.ok(Date.now() - answered <= answerTimeoutMs + margin(rtt));
    const asked = Date.now();
    const err = await refusal(ex.run(["true"], { timeoutMs: 10_000 }));
    assert.equal(err.code, "ssh.timeout");
    assert.ok(Date.now() - asked < margin(rtt), "a command for a frozen host is refused at once, not at its deadline");
    assert.match(translator("en")(err.code, err.params), /\*box\*: no SSH answer from 127\.0\.0\.1:\d+ within \d+ s/);

    sshd.thaw();
    await waitFor(async () => (await ex.run(["echo", "back"]).catch(() => null))?.stdout === "back\n", 15_000, "reconnected after thaw");
    assert.equal(ex.state, "connected");
  });

  it("ends a command sent to a link that froze unnoticed (its channel never opens) at its deadline", async () => {
    const answerTimeoutMs = 1_000;
    const ex = executor({ answerTimeoutMs });
    await ex.connect();
    const rtt = await roundTrip(ex);
    sshd.freeze();
    const timeoutMs = 1_500;
    const t = Date.now();
    const r = await ex.run(["echo", "never"], { timeoutMs });
    const took = Date.now() - t;
    assert.equal(r.timedOut, true);
    assert.ok(took >= timeoutMs - 5 && took <= timeoutMs + RESULT_GRACE_MS + margin(rtt), `answered after ${took} ms, deadline ${timeoutMs} ms (rtt ${rtt} ms)`);
    await waitFor(() => ex.state === "down", answerTimeoutMs + margin(rtt), "frozen host reported down");
  });

  it("close() resolves within its bound while the host is frozen mid-command", async () => {
    const closeTimeoutMs = 1_500;
    const ex = executor({ closeTimeoutMs });
    await ex.connect();
    const rtt = await roundTrip(ex);
    const { result } = await startSleeper(ex, 60_000, "frozen-close");
    sshd.freeze();
    const t = Date.now();
    await ex.close();
    const took = Date.now() - t;
    assert.ok(took <= closeTimeoutMs + margin(rtt), `close() took ${took} ms, bound ${closeTimeoutMs} ms (rtt ${rtt} ms)`);
    assert.equal(((await result) as { timedOut: boolean }).timedOut, true);
    assert.equal(ex.state, "closed");
  });

  it("close() resolves within its bound while a connect to the frozen host is still in its handshake", async () => {
    const closeTimeoutMs = 1_500;
    const warm = executor();
    const rtt = await roundTrip(warm);
    sshd.freeze();
    const ex = executor({ closeTimeoutMs, connectTimeoutMs: 60_000 });
    const pending = ex.run(["true"], { timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(ex.state, "connecting");
    const t = Date.now();
    await ex.close();
    const took = Date.now() - t;
    assert.ok(took <= closeTimeoutMs + margin(rtt), `close() took ${took} ms, bound ${closeTimeoutMs} ms (rtt ${rtt} ms)`);
    assert.equal((await pending).timedOut, true, "the waiting command ends as stopped, not after its 60 s");
  });

  it("detects an idle frozen host about as fast as a refused one (keepalive, not the OS timeout)", async () => {
    const other = await startSshd();
    try {
      const keepalive = { keepaliveIntervalMs: 1_000, keepaliveCountMax: 2 };
      const bound = keepalive.keepaliveIntervalMs * (keepalive.keepaliveCountMax + 1);
      const frozen = executor({ name: "frozen", ...keepalive, connectTimeoutMs: 3_000 });
      const refused = executor({ name: "refused", ...keepalive }, other);
      await Promise.all([frozen.connect(), refused.connect()]);
      const rtt = Math.max(await roundTrip(frozen), await roundTrip(refused));

      const t = Date.now();
      const seen: Record<string, number> = {};
      const downAt = async (ex: SshExecutor) => {
        await waitFor(() => ex.state === "down", bound + margin(rtt) + 5_000, `${ex.name} down`);
        seen[ex.name] = Date.now() - t;
      };
      sshd.freeze();
      await other.kill();
      await Promise.all([downAt(frozen), downAt(refused)]);
      assert.ok(seen.refused! <= bound + margin(rtt), `refused host down after ${seen.refused} ms`);
      assert.ok(seen.frozen! <= bound + margin(rtt), `frozen host down after ${seen.frozen} ms (keepalive bound ${bound} ms, rtt ${rtt} ms)`);
      assert.equal((await refusal(frozen.run(["true"]))).code, "ssh.timeout");
      assert.equal((await refusal(refused.run(["true"]))).code, "ssh.refused");
    } finally {
      await other.stop();
    }
  });
});

describe("ssh faults: close() on a healthy link", () => {
  it("kills a remote process group that ignores TERM, and still resolves within its bound", async () => {
    const closeTimeoutMs = 1_500;
    const ex = executor({ closeTimeoutMs });
    await ex.connect();
    const rtt = await roundTrip(ex);
    const pidFile = join(sshd.dir, "stubborn.pid");
    const result = ex.run(["sh", "-c", `trap "" TERM; echo $$ > ${pidFile}; while :; do sleep 0.2; done`]);
    await waitFor(() => readFileSync(pidFile, { flag: "a+" }).length > 0, 10_000, "remote loop");
    const pid = Number(readFileSync(pidFile, "utf8"));
    remotePids.push(pid);
    const t = Date.now();
    await ex.close();
    const took = Date.now() - t;
    assert.ok(took <= closeTimeoutMs + margin(rtt), `close() took ${took} ms, bound ${closeTimeoutMs} ms (rtt ${rtt} ms)`);
    assert.equal((await result).timedOut, true);
    // TERM was ignored; the KILL that followed it over the same connection was not.
    await waitFor(() => !alive(pid), 5_000, "the TERM-proof remote shell to be gone");
  });
});

describe("ssh faults: sshd killed", () => {
  it("fails the running command with a clear reason, retries on the backoff, logs each transition once, and comes back", async () => {
    const { log, msgs, raw } = capturedLog();
    const backoff = { initialMs: 200, maxMs: 800 };
    const ex = executor({ log, backoff });
    await ex.connect();
    const pidFile = join(sshd.dir, "killed.pid");
    const running = refusal(ex.run(["sh", "-c", `echo $$ > ${pidFile}; exec sleep 30`]));
    // Kill only once the command runs, not while the login shell's rc files do (see ssh.executor.test.ts).
    await waitFor(() => readFileSync(pidFile, { flag: "a+" }).length > 0, 10_000, "remote command");
    await sshd.kill();
    const err = await running;
    assert.equal(err.code, "ssh.lost");
    assert.match(translator("en")(err.code, err.params), /\*box\*: the SSH connection to 127\.0\.0\.1:\d+ dropped/);

    // Let a few refused attempts go by, then bring sshd back.
    await waitFor(() => ex.attempts >= 5, 10_000, "several reconnect attempts");
    assert.equal((await refusal(ex.run(["true"]))).code, "ssh.refused");
    await sshd.start();
    await waitFor(() => ex.state === "connected", 10_000, "reconnected");
    assert.equal((await ex.run(["echo", "after"])).stdout, "after\n");

    // Attempts after the first refusal wait at least the backoff's delay (never sooner).
    const policy = exponentialBackoff({ baseMs: backoff.initialMs, capMs: backoff.maxMs });
    const times = msgs("ssh connecting").map((l) => Number(l.time));
    assert.ok(times.length >= 5);
    // times[0] is the first connect, times[1] the immediate retry after the drop.
    for (let i = 2; i < times.length; i++) {
      const gap = times[i]! - times[i - 1]!;
      assert.ok(gap >= policy.delay(i - 1) - 5, `attempt ${i + 1} came ${gap} ms after the previous one, backoff says ${policy.delay(i - 1)} ms`);
    }

    // Once per transition, not per attempt or per command; the host named; no key material.
    assert.equal(msgs("ssh connected").length, 1);
    assert.equal(msgs("ssh connection dropped").length, 1);
    assert.equal(msgs("ssh connection dropped")[0]!.host, "box");
    assert.ok(msgs("ssh connection dropped")[0]!.reason, "the drop says why");
    const failed = msgs("ssh connect failed");
    assert.equal(failed.length, 1, "a streak of refusals is logged once");
    assert.equal(failed[0]!.code, "ssh.refused");
    assert.equal(msgs("ssh reconnected").length, 1);
    assert.ok(Number(msgs("ssh reconnected")[0]!.attempts) >= 5, "the reconnect says how many attempts it took");
    const key = readFileSync(sshd.userKey, "utf8");
    const body = key.split("\n")[1]!;
    assert.ok(!raw.join("").includes(body), "no key material in the log");
    assert.doesNotMatch(raw.join(""), /PRIVATE KEY/);
  });
});
