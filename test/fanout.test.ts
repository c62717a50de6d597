/**
 * Fan-out that never waits for the slowest: each host call has its own deadline inside the
 * command's. The arithmetic and the race on an injected clock; then a real fleet — a local host
 * and an SSH host on a real sshd, each with its own real PM2 — with the SSH host frozen (sshd and
 * its sessions SIGSTOPped: TCP open, nothing answering): /status, /restart, /flush and the
 * watcher answer within their deadlines, name the silent host, and recover after the thaw.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { z } from "zod";
import { commands as allCommands } from "../commands/index.js";
import { ManualClock } from "../src/clock.js";
import { isJagaError } from "../src/errors.js";
import { deadlineSeconds, hostDeadline, isNoAnswer, REPLY_MARGIN_MS, withDeadline } from "../src/hosts/deadline.js";
import type { ExecOptions } from "../src/hosts/executor.js";
import { SshExecutor } from "../src/hosts/ssh/index.js";
import { pm2Rpc } from "../src/ops/pm2-rpc.js";
import { defineCommand } from "../src/pipeline/command.js";
import { hostCall } from "../src/pipeline/host-call.js";
import { harness, type Harness } from "./helpers/harness.js";
import { startPm2, waitFor, type TestPm2 } from "./helpers/pm2.js";
import { descendants, freePort, startSshd, type TestSshd } from "./helpers/sshd.js";
import { watchHarness, type WatchHarness } from "./helpers/watch.js";

const never = <T>(seen: ExecOptions[] = []) => (o: ExecOptions) => {
  seen.push(o);
  return new Promise<T>(() => undefined);
};

describe("per-host deadline arithmetic", () => {
  it("is the host deadline while the command has time, then what is left minus the reply margin", () => {
    const base = { hostTimeoutMs: 8_000, deadline: 30_000 };
    assert.equal(hostDeadline({ ...base, now: 0 }), 8_000);
    assert.equal(hostDeadline({ ...base, now: 21_000 }), 8_000);
    assert.equal(hostDeadline({ ...base, now: 25_000 }), 5_000 - REPLY_MARGIN_MS);
    // Little time left: half of it, so a short command still asks; none left: nothing.
    assert.equal(hostDeadline({ ...base, now: 29_000 }), 500);
    assert.equal(hostDeadline({ ...base, now: 30_000 }), 0);
    assert.equal(hostDeadline({ ...base, now: 31_000 }), 0);
    assert.equal(hostDeadline({ hostTimeoutMs: 8_000, deadline: 1_000, now: 0 }), 500);
  });

  it("shows seconds as people read them", () => {
    assert.equal(deadlineSeconds(8_000), 8);
    assert.equal(deadlineSeconds(1_500), 1.5);
    assert.equal(deadlineSeconds(12_400), 12);
  });

  it("travels with the command: hostCall shrinks as the command's time runs out", async () => {
    const clock = new ManualClock(Date.parse("2026-12-01T00:00:00Z"));
    const seen: (number | undefined)[] = [];
    const probe = defineCommand({
      name: "probe",
      summary: { id: "x", en: "x" },
      role: "viewer",
      args: z.object({}),
      async run(ctx) {
        seen.push(hostCall(ctx).timeoutMs);
        await ctx.clock.sleep(25_000);
        seen.push(hostCall(ctx).timeoutMs);
        return "done";
      },
    });
    const h = harness({ commandTimeout: "30s", hostTimeout: "8s" }, { clock, commands: [...allCommands, probe] });
    try {
      const reply = h.send("/probe");
      await waitFor(() => seen.length === 1, 5_000, "probe to start");
      await clock.advance(25_000);
      assert.equal(await reply, "done");
      assert.deepEqual(seen, [8_000, 4_000]);
    } finally {
      await h.close();
    }
  });

  it("refuses a host deadline outside 1 s to 2 min", () => {
    assert.throws(() => harness({ hostTimeout: "0s" }), /hostTimeout/);
    assert.throws(() => harness({ hostTimeout: "10m" }), /hostTimeout/);
  });
});

describe("withDeadline on an injected clock", () => {
  it("answers host.no_answer at the deadline, not before, and aborts the call", async () => {
    const clock = new ManualClock(0);
    const seen: ExecOptions[] = [];
    let outcome: unknown = "pending";
    const p = withDeadline("stb", { timeoutMs: 2_000 }, clock, never(seen)).catch((err: unknown) => (outcome = err));
    await clock.advance(1_999);
    assert.equal(outcome, "pending");
    assert.equal(seen[0]!.timeoutMs, 2_000, "the call gets the same deadline");
    assert.equal(seen[0]!.signal!.aborted, false);
    await clock.advance(1);
    await p;
    assert.ok(isNoAnswer(outcome), String(outcome));
    assert.deepEqual((outcome as { params: unknown }).params, { host: "stb", seconds: 2 });
    assert.equal(seen[0]!.signal!.aborted, true, "the silent call is ended, not left running");
  });

  it("passes a timely answer or failure through, and leaves no timer behind", async () => {
    const clock = new ManualClock(0);
    assert.equal(await withDeadline("a", { timeoutMs: 1_000 }, clock, () => Promise.resolve(42)), 42);
    await assert.rejects(withDeadline("a", { timeoutMs: 1_000 }, clock, () => Promise.reject(new Error("refused"))), /refused/);
    const sleepers = (clock as unknown as { sleepers: unknown[] }).sleepers;
    assert.equal(sleepers.length, 0);
  });

  it("ends at once with the command's own reason when the command is stopped first", async () => {
    const clock = new ManualClock(0);
    const outer = new AbortController();
    const seen: ExecOptions[] = [];
    const p = withDeadline("stb", { timeoutMs: 5_000, signal: outer.signal }, clock, never(seen));
    outer.abort(new Error("command timed out"));
    await assert.rejects(p, /command timed out/);
    assert.equal(seen[0]!.signal!.aborted, true);
  });
});

describe("one host frozen, the rest of the fleet answers", () => {
  const HOST_TIMEOUT = 3_000;
  /** What a reply may take beyond its deadline on a loaded 2-core box: composing, scheduling. */
  const SLACK = 2_500;
  const OPERATOR = "628111000002";
  let sshd: TestSshd;
  let local: TestPm2;
  let remote: TestPm2;
  let h: Harness;
  const op = async (text: string) => {
    const started = Date.now();
    const reply = (await h.send(text, { as: OPERATOR }))!;
    return { reply, ms: Date.now() - started };
  };

  before(async () => {
    [sshd, local, remote] = await Promise.all([startSshd(), startPm2({ web: "healthy.js" }), startPm2({ rweb: "healthy.js" })]);
    h = harness({
      language: "en",
      people: [{ phone: OPERATOR, name: "Oki", role: "operator", language: "en" }],
      hostTimeout: `${HOST_TIMEOUT}ms`,
      commandTimeout: "20s",
      hosts: [
        { ...local.hostConfig("web1") },
        { name: "stb", ssh: sshd.target(), pm2Home: remote.home, pm2Bin: remote.bin },
      ],
    });
    // Connected and warm before the freeze: the silence comes mid-life, as it does in the field.
    assert.match((await op("/status")).reply, /`rweb` online/);
  });
  after(async () => {
    sshd?.thaw();
    await h?.close();
    await settled(sshd);
    await Promise.allSettled([local?.stop(), remote?.stop(), sshd?.stop()]);
  });

  it("/status answers within the host deadline with every host, the frozen one as 'no answer'", async () => {
    sshd.freeze();
    try {
      const { reply, ms } = await op("/status");
      const lines = reply.split("\n");
      assert.match(lines[0]!, /^\*web1\* · load /, reply);
      assert.ok(lines.some((l) => /^✅ `web` online/.test(l)), reply);
      assert.ok(lines.includes("⏳ *stb*: no answer in 3 s."), reply);
      // In config order: web1's section first, then stb's.
      assert.ok(reply.indexOf("*web1*") < reply.indexOf("*stb*"));
      assert.ok(ms < HOST_TIMEOUT + SLACK, `answered in ${ms} ms`);
    } finally {
      sshd.thaw();
    }
  });

  it("/restart of an app on the frozen host says the host could not be asked, never 'did you mean'", async () => {
    const pidBefore = (await remote.jlist())[0]!.pid;
    sshd.freeze();
    try {
      const anywhere = await op("/restart rweb");
      assert.equal(
        anywhere.reply,
        "❓ `rweb` was not found on *web1*; *stb* could not be asked. Try again, or name the host: `/restart rweb <host>`.\n" +
          "⏳ *stb*: no answer in 3 s.",
      );
      assert.doesNotMatch(anywhere.reply, /did you mean/i);
      assert.ok(anywhere.ms < HOST_TIMEOUT + SLACK, `answered in ${anywhere.ms} ms`);
      // Named, the host itself is the answer: silent, not "no app".
      const named = await op("/restart rweb stb");
      assert.equal(named.reply, "⏳ *stb*: no answer in 3 s.");
      assert.ok(named.ms < HOST_TIMEOUT + SLACK, `answered in ${named.ms} ms`);
      // An app the healthy host has is still found and restarted.
      assert.match((await op("/restart web")).reply, /restarted on \*web1\*: online/);
    } finally {
      sshd.thaw();
    }
    assert.equal((await remote.jlist())[0]!.pid, pidBefore, "nothing was restarted on the frozen host");
  });

  it("says so when no host could be asked, in the sender's language", async () => {
    const both = harness({
      language: "id",
      hostTimeout: `${HOST_TIMEOUT}ms`,
      hosts: ["stb", "stb2"].map((name) => ({ name, ssh: sshd.target(), pm2Home: remote.home, pm2Bin: remote.bin })),
    });
    try {
      sshd.freeze();
      const reply = (await both.send("/restart rweb"))!;
      assert.equal(
        reply,
        "❓ Tidak bisa mencari `rweb`: tidak ada host yang menjawab (*stb*, *stb2*). Coba lagi, atau sebutkan host-nya: `/restart rweb <host>`.\n" +
          "⏳ *stb*: tidak menjawab dalam 3 detik.\n" +
          "⏳ *stb2*: tidak menjawab dalam 3 detik.",
      );
    } finally {
      sshd.thaw();
      await both.close();
    }
  });

  it("/flush of every host flushes the healthy one and names the frozen one", async () => {
    sshd.freeze();
    try {
      // The plan asks every host too: the frozen one costs its own line, not the plan.
      const plan = await op("/flush");
      assert.match(plan.reply, /\n\*web1\*: `web`\n⏳ \*stb\*: no answer in 3 s\.\nReply `\/yes \d{4}`/, plan.reply);
      assert.ok(plan.ms < HOST_TIMEOUT + SLACK, `planned in ${plan.ms} ms`);
      const { reply, ms } = await op(`/yes ${/\/yes (\d{4})/.exec(plan.reply)![1]}`);
      const [first, second] = reply.split("\n");
      assert.match(first!, /^🧹 Logs of all apps on \*web1\* emptied: /, reply);
      assert.equal(second, "⏳ *stb*: no answer in 3 s.");
      assert.ok(ms < HOST_TIMEOUT + SLACK, `answered in ${ms} ms`);
    } finally {
      sshd.thaw();
    }
  });

  it("/dns check answers for every host inside the command's time, the frozen one as a timeout", async () => {
    // A DNS check may outlast hostTimeout (resolvers have timeouts of their own), never the command.
    const short = harness({
      language: "en",
      commandTimeout: "5s",
      watch: { dns: { name: "localhost" } },
      hosts: [{ ...local.hostConfig("web1") }, { name: "stb", ssh: sshd.target(), pm2Home: remote.home, pm2Bin: remote.bin }],
    });
    try {
      assert.match((await short.send("/dns check"))!, /^🌐 \*stb\*: `localhost` ✅ resolves/m, "warm");
      sshd.freeze();
      const started = Date.now();
      const sections = (await short.send("/dns check"))!.split("\n\n");
      const ms = Date.now() - started;
      assert.match(sections[0]!, /^🌐 \*web1\*: `localhost` ✅ resolves/);
      assert.equal(sections[1], "🌐 *stb*: the DNS check did not finish (timeout).");
      assert.ok(ms < 5_000, `answered in ${ms} ms, inside the command's 5 s`);
    } finally {
      sshd.thaw();
      await short.close();
    }
  });

  it("the daemon socket read over SSH honours its deadline while the channel open hangs", async () => {
    const ssh = new SshExecutor({ name: "stb", target: sshd.target() });
    try {
      await ssh.connect();
      sshd.freeze();
      const started = Date.now();
      const err: unknown = await pm2Rpc(ssh, remote.home, "getMonitorData", [{}], { timeoutMs: 1_000, host: "stb" }).catch((e: unknown) => e);
      const ms = Date.now() - started;
      assert.ok(isJagaError(err) && err.code === "host.no_answer", String(err));
      assert.ok(ms < 1_000 + SLACK, `gave up after ${ms} ms`);
    } finally {
      sshd.thaw();
      await ssh.close();
    }
  });

  it("after the thaw every host answers in full again", async () => {
    await waitFor(async () => /`rweb` online/.test((await op("/status")).reply), 15_000, "stb to answer again");
    const { reply } = await op("/status");
    assert.match(reply, /^\*stb\* · load /m);
    assert.doesNotMatch(reply, /no answer/);
    assert.match((await op("/restart rweb")).reply, /restarted on \*stb\*: online/);
  });
});

describe("the watcher on a frozen host", () => {
  const INTERVAL = 2_000;
  const HOST_TIMEOUT = 2_000;
  const UNREACHABLE_AFTER = 3;
  let sshd: TestSshd;
  let remote: TestPm2;
  let w: WatchHarness;
  let started: number;

  before(async () => {
    [sshd, remote] = await Promise.all([startSshd(), startPm2({ rweb: "healthy.js" })]);
    w = watchHarness({
      hostTimeout: `${HOST_TIMEOUT}ms`,
      watch: { interval: `${INTERVAL}ms`, unreachableAfter: UNREACHABLE_AFTER },
      hosts: [
        { name: "stb", ssh: sshd.target(), pm2Home: remote.home, pm2Bin: remote.bin },
        // Refuses from the start: nothing listens on that port.
        { name: "gone", ssh: sshd.target({ port: await freePort() }), pm2Home: remote.home, pm2Bin: remote.bin },
      ],
    });
    started = Date.now();
    for (const watcher of w.watch.watchers) watcher.start();
  });
  after(async () => {
    sshd?.thaw();
    await w?.close();
    await settled(sshd);
    await Promise.allSettled([remote?.stop(), sshd?.stop()]);
  });

  const unreachable = (host: string) => w.alerts().filter((a) => a.startsWith(`📡 *Host unreachable* · *${host}*`));

  it("calls a frozen host unreachable about as fast as a refusing one, and recovers after the thaw", async () => {
    await waitFor(() => unreachable("gone").length === 1, 60_000, "refusing host reported");
    const refusedMs = Date.now() - started;
    const stb = w.watch.watchers.find((x) => x.name === "stb")!;
    await waitFor(() => stb.lastVitals !== null, 15_000, "first vitals");

    const frozenAt = Date.now();
    sshd.freeze();
    try {
      await waitFor(() => unreachable("stb").length === 1, 60_000, "frozen host reported");
    } finally {
      sshd.thaw();
    }
    const frozenMs = Date.now() - frozenAt;
    assert.match(unreachable("stb")[0]!, /no answer in 2 s/);
    await waitFor(() => !stb.failing, 30_000, "recovery after the thaw");
    assert.ok(w.alerts().some((a) => a.includes("Resolved") && a.includes("stb")), w.alerts().join("\n---\n"));

    // A refusing host fails each round at once, and rounds start every interval: reported after
    // unreachableAfter - 1 intervals. A frozen host's round waits out one per-call deadline,
    // min(interval, hostTimeout), and its rounds keep their cadence: at most one deadline more,
    // plus up to one interval until the first round after the freeze.
    const deadline = Math.min(INTERVAL, HOST_TIMEOUT);
    const refusedBound = (UNREACHABLE_AFTER - 1) * INTERVAL + INTERVAL; // + one interval of slack under load
    const frozenBound = UNREACHABLE_AFTER * INTERVAL + deadline + INTERVAL;
    assert.ok(refusedMs <= refusedBound, `refusing host reported after ${refusedMs} ms (bound ${refusedBound} ms)`);
    assert.ok(frozenMs <= frozenBound, `frozen host reported after ${frozenMs} ms (bound ${frozenBound} ms)`);
    assert.ok(frozenMs <= refusedMs + deadline + 2 * INTERVAL, `frozen ${frozenMs} ms vs refused ${refusedMs} ms`);
  });
});

/**
 * Waits until the server holds no session any more. Killing a session mid-login can leave a
 * lock behind that the login shell's start-up files took (e.g. a shell rehash), and that would
 * slow every later SSH command on the machine.
 */
async function settled(sshd: TestSshd | undefined): Promise<void> {
  if (!sshd) return;
  const pid = Number(readFileSync(join(sshd.dir, "sshd.pid"), "utf8"));
  await waitFor(() => descendants(pid).length === 0, 15_000, "sshd sessions to end").catch(() => undefined);
}
