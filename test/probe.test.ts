/**
 * The probe runner (src/ops/probe.ts) on real executors: a probe that hangs is timed out and
 * its process ended; a tool the host lacks is a finding; an executor that fails (a refused SSH
 * host) is "no answer"; a frozen SSH host is timed out within the deadline. And the one DNS
 * probe read the same way by /dns check and the watcher when getent is missing.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { systemClock } from "../src/clock.js";
import { LocalExecutor } from "../src/hosts/local.js";
import { SshExecutor } from "../src/hosts/ssh/index.js";
import { dnsProbe } from "../src/ops/dns.js";
import { defineProbe, has, runProbe } from "../src/ops/probe.js";
import { harness } from "./helpers/harness.js";
import { startPm2, waitFor, type TestPm2 } from "./helpers/pm2.js";
import { alive, freePort, startSshd, type TestSshd } from "./helpers/sshd.js";
import { watchHarness } from "./helpers/watch.js";

const dir = mkdtempSync(join(tmpdir(), "jaga-probe-"));
const local = new LocalExecutor();
let sshd: TestSshd;
let pm2: TestPm2;
const PATH = process.env.PATH;

before(async () => {
  [sshd, pm2] = await Promise.all([startSshd(), startPm2({})]);
});
after(async () => {
  process.env.PATH = PATH;
  await local.close();
  await Promise.allSettled([sshd?.stop(), pm2?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** Writes its shell's pid to $1, then hangs. */
const hanging = defineProbe({ name: "hang", script: `echo $$ > "$1"; exec sleep 60`, timeoutMs: 60_000, parse: () => "never" });

describe("runProbe", () => {
  it("times out a probe that hangs, and its process is ended", async () => {
    const pidFile = join(dir, "hang.pid");
    const started = Date.now();
    const r = await runProbe(local, hanging, [pidFile], { host: "local", timeoutMs: 500 });
    assert.equal(r.kind, "timed_out");
    assert.ok(Date.now() - started < 3_000, "answered at its deadline");
    if (r.kind === "timed_out") assert.equal(r.ms, 500);
    const pid = Number(readFileSync(pidFile, "utf8"));
    await waitFor(() => !alive(pid), 5_000, "the hung probe's process to end");
  });

  it("the probe's own timeout applies when the caller gives none (the shorter one wins)", async () => {
    const short = defineProbe({ ...hanging, timeoutMs: 300 });
    const pidFile = join(dir, "short.pid");
    const r = await runProbe(local, short, [pidFile], { timeoutMs: 60_000 });
    assert.equal(r.kind, "timed_out");
    await waitFor(() => !alive(Number(readFileSync(pidFile, "utf8"))), 5_000, "the probe's process to end");
  });

  it("arguments are positional, never shell text", async () => {
    const echoArgs = defineProbe({ name: "echo", script: `printf '%s\\n' "$@"`, timeoutMs: 5_000, parse: (o) => o.stdout.split("\n").filter(Boolean) });
    const hostile = ["$(touch " + join(dir, "pwned") + ")", "a; rm -rf /", "`id`"];
    const r = await runProbe(local, echoArgs, hostile);
    assert.deepEqual(r, { kind: "ok", value: hostile });
    assert.equal(existsSync(join(dir, "pwned")), false);
  });

  it("a missing tool is a finding in the result, not a failure", async () => {
    const probe = defineProbe({
      name: "tools",
      script: `if ${has("jaga-no-such-tool")}; then echo found; else echo without; fi; ${has("sh")} && echo sh-there`,
      timeoutMs: 5_000,
      parse: (o) => ({ out: o.stdout.trim().split("\n"), missing: o.missing }),
    });
    const r = await runProbe(local, probe, []);
    assert.deepEqual(r, { kind: "ok", value: { out: ["without", "sh-there"], missing: ["jaga-no-such-tool"] } });
  });

  it("an executor that fails (SSH refused) is 'no answer', with the executor's own error", async () => {
    const dead = new SshExecutor({ name: "dead", target: sshd.target({ port: await freePort() }), clock: systemClock });
    try {
      const r = await runProbe(dead, dnsProbe, ["localhost"], { host: "dead", timeoutMs: 5_000 });
      assert.equal(r.kind, "no_answer");
      if (r.kind === "no_answer") assert.match(String((r.error as { code?: string }).code), /^ssh\./);
    } finally {
      await dead.close();
    }
  });

  it("a frozen SSH host is timed out at the deadline, not whenever the link notices", async () => {
    const frozen = await startSshd();
    const ssh = new SshExecutor({ name: "frozen", target: frozen.target(), clock: systemClock });
    try {
      assert.equal((await runProbe(ssh, dnsProbe, ["localhost"], { host: "frozen", timeoutMs: 5_000 })).kind, "ok");
      frozen.freeze();
      const started = Date.now();
      const r = await runProbe(ssh, dnsProbe, ["localhost"], { host: "frozen", timeoutMs: 1_000 });
      assert.equal(r.kind, "timed_out");
      assert.ok(Date.now() - started < 2_000, `took ${Date.now() - started} ms`);
    } finally {
      frozen.thaw();
      await ssh.close();
      await frozen.stop();
    }
  });

  it("an aborted caller's signal ends the probe as 'no answer'", async () => {
    const ac = new AbortController();
    const pidFile = join(dir, "abort.pid");
    setTimeout(() => ac.abort(new Error("stopping")), 200);
    const r = await runProbe(local, hanging, [pidFile], { signal: ac.signal, timeoutMs: 10_000 });
    assert.equal(r.kind, "no_answer");
    await waitFor(() => existsSync(pidFile) && !alive(Number(readFileSync(pidFile, "utf8"))), 5_000, "the probe's process to end");
  });
});

describe("dnsProbe: chat and watcher agree", () => {
  /** A PATH with sh, grep and cat but no getent. */
  function pathWithoutGetent(): string {
    const bin = join(dir, "bin-no-getent");
    mkdirSync(bin, { recursive: true });
    for (const tool of ["sh", "grep", "cat", "sleep"]) {
      const real = ["/usr/bin", "/bin"].map((d) => join(d, tool)).find((p) => existsSync(p))!;
      if (!existsSync(join(bin, tool))) symlinkSync(real, join(bin, tool));
    }
    return bin;
  }

  it("resolves a name that resolves", async () => {
    const r = await runProbe(local, dnsProbe, ["localhost"]);
    assert.equal(r.kind, "ok");
    if (r.kind === "ok") assert.equal(r.value.state, "resolves");
  });

  it("without getent: 'cannot check: getent missing' in chat, and no DNS incident", async () => {
    process.env.PATH = pathWithoutGetent();
    try {
      const r = await runProbe(local, dnsProbe, ["localhost"]);
      assert.equal(r.kind, "ok");
      if (r.kind === "ok") assert.deepEqual([r.value.state, r.value.code], ["getent_missing", null]);

      const h = harness({ language: "en", hosts: [pm2.hostConfig()], watch: { dns: { name: "localhost" } } });
      try {
        assert.match((await h.send("/dns check"))!, /^🌐 \*local\*: cannot check `localhost`: getent missing · nameservers /);
      } finally {
        await h.close();
      }
      const w = watchHarness({ hosts: [pm2.hostConfig()], watch: { dns: { enabled: true, name: "localhost" } } });
      try {
        await w.watch.watchers[0]!.tick();
        assert.deepEqual(w.alerts().filter((a) => a.includes("DNS")), []);
        assert.equal((await w.store.incidents.listOpen()).length, 0);
      } finally {
        await w.close();
      }
    } finally {
      process.env.PATH = PATH;
    }
  });
});
