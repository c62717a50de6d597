/**
 * The SSH executor against a real OpenSSH server on 127.0.0.1: commands, host keys, login,
 * reconnect after the server dies, timeouts that end the remote process, the output cap.
 */
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, readFileSync } from "node:fs";
import { createServer, type LookupFunction, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../src/clock.js";
import { SshExecutor, passphraseVars, type SshExecutorOptions } from "../src/hosts/ssh/index.js";
import { Pm2 } from "../src/ops/pm2.js";
import { translator } from "../src/i18n/index.js";
import { alive, freePort, startSshd, type TestSshd } from "./helpers/sshd.js";
import { waitFor } from "./helpers/pm2.js";
import { refusal } from "./helpers/refusal.js";

const run = promisify(execFile);
let sshd: TestSshd;
const opened: SshExecutor[] = [];
function executor(o: Partial<SshExecutorOptions> = {}): SshExecutor {
  const e = new SshExecutor({ name: "box", target: sshd.target(), connectTimeoutMs: 5_000, ...o });
  opened.push(e);
  return e;
}

before(async () => {
  sshd = await startSshd();
});
after(async () => {
  await Promise.allSettled(opened.map((e) => e.close()));
  await sshd?.stop();
});

describe("ssh executor: commands", () => {
  it("runs argv and returns exit code, stdout and stderr over one pooled connection", async () => {
    const ex = executor();
    const r = await ex.run(["sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert.deepEqual([r.code, r.stdout, r.stderr, r.timedOut, r.truncated], [3, "out\n", "err\n", false, false]);
    const many = await Promise.all(Array.from({ length: 12 }, (_, i) => ex.run(["echo", String(i)])));
    assert.deepEqual(many.map((m) => m.stdout), Array.from({ length: 12 }, (_, i) => `${i}\n`));
    assert.equal(ex.connects, 1, "every command reused the one connection");
    assert.equal(ex.state, "connected");
  });

  it("answers 127 for a missing command, so pm2.not_found explains pm2Bin", async () => {
    const ex = executor();
    const r = await ex.run(["jaga-no-such-command"]);
    assert.equal(r.code, 127);
    const pm2 = new Pm2({ host: "box", executor: ex, bin: "/opt/nowhere/pm2" });
    const err = await refusal(pm2.list());
    assert.equal(err.code, "pm2.not_found");
    assert.match(translator("en")(err.code, err.params), /`\/opt\/nowhere\/pm2` was not found on \*box\*\. Set `pm2Bin`/);
  });

  it("refuses a NUL byte and an empty argv before anything is sent", async () => {
    const ex = executor();
    await assert.rejects(() => ex.run(["echo", "a\0b"]), /NUL/);
    await assert.rejects(() => ex.run([]), /empty/);
  });

  it("keeps at most maxConcurrent commands running on the host", async () => {
    const ex = executor({ maxConcurrent: 1 });
    await ex.connect();
    const started = Date.now();
    await Promise.all([ex.run(["sleep", "0.3"]), ex.run(["sleep", "0.3"])]);
    assert.ok(Date.now() - started >= 550, "the second command waited for the first");
  });

  it("caps 5 MB of output and says so", async () => {
    const ex = executor();
    const r = await ex.run(["head", "-c", String(5 * 1024 * 1024), "/dev/zero"], { maxOutputBytes: 64 * 1024 });
    assert.equal(r.code, 0);
    assert.equal(r.truncated, true);
    assert.equal(r.stdout.length, 64 * 1024);
  });

  it("ends the remote process group on timeout, not just the local wait", async () => {
    const ex = executor();
    const pidFile = join(sshd.dir, "hang.pid");
    // The shell starts a grandchild that would outlive a kill of the shell alone.
    const r = await ex.run(["sh", "-c", `sleep 60 & echo $! > ${pidFile}; wait`], { timeoutMs: 500 });
    assert.equal(r.timedOut, true);
    assert.equal(r.code, null);
    const pid = Number(readFileSync(pidFile, "utf8"));
    await waitFor(() => !alive(pid), 5_000, "remote sleep to be gone");
    assert.equal((await ex.run(["echo", "still fine"])).stdout, "still fine\n");
  });

  it("ends the remote process when the abort signal fires", async () => {
    const ex = executor();
    const pidFile = join(sshd.dir, "abort.pid");
    const controller = new AbortController();
    const p = ex.run(["sh", "-c", `echo $$ > ${pidFile}; exec sleep 60`], { signal: controller.signal });
    await waitFor(() => readFileSync(pidFile, { flag: "a+" }).length > 0, 5_000, "remote pid");
    controller.abort();
    const r = await p;
    assert.equal(r.timedOut, true);
    await waitFor(() => !alive(Number(readFileSync(pidFile, "utf8"))), 5_000, "remote sleep to be gone");
  });

  it("close() ends in-flight commands on the far side", async () => {
    const ex = executor();
    const pidFile = join(sshd.dir, "close.pid");
    const p = ex.run(["sh", "-c", `echo $$ > ${pidFile}; exec sleep 60`]);
    await waitFor(() => readFileSync(pidFile, { flag: "a+" }).length > 0, 5_000, "remote pid");
    await ex.close();
    assert.equal((await p).timedOut, true);
    await waitFor(() => !alive(Number(readFileSync(pidFile, "utf8"))), 5_000, "remote sleep to be gone");
    assert.equal(ex.state, "closed");
  });
});

describe("ssh executor: host keys and login", () => {
  it("refuses a mismatched host key, naming the host and both fingerprints", async () => {
    const ex = executor({ name: "stb", target: sshd.target({ hostKey: sshd.otherFingerprint }) });
    const err = await refusal(ex.run(["true"]));
    assert.equal(err.code, "ssh.hostkey_mismatch");
    assert.deepEqual([err.params.host, err.params.expected, err.params.actual], ["stb", sshd.otherFingerprint, sshd.fingerprint]);
    const text = translator("en")(err.code, err.params);
    assert.match(text, /stb/);
    assert.ok(text.includes(sshd.fingerprint) && text.includes(sshd.otherFingerprint), text);
  });

  it("refuses a server when no host key is pinned, showing what it offered", async () => {
    const ex = executor({ target: { ...sshd.target(), hostKey: undefined } });
    const err = await refusal(ex.connect());
    assert.equal(err.code, "ssh.hostkey_unknown");
    assert.equal(err.params.actual, sshd.fingerprint);
  });

  it("refuses a user key the server does not know", async () => {
    const ex = executor({ target: sshd.target({ privateKeyPath: sshd.strangerKey }) });
    const err = await refusal(ex.run(["true"]));
    assert.equal(err.code, "ssh.auth_failed");
    assert.equal(err.params.user, sshd.user);
  });

  it("reads a key's passphrase from JAGA_SSH_PASSPHRASE_<HOST>, and says which variable when it is missing", async () => {
    const key = join(sshd.dir, "locked_ed25519");
    const secret = "correct horse battery staple";
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", secret, "-C", "locked", "-f", key]);
    appendFileSync(join(sshd.dir, "authorized_keys"), readFileSync(`${key}.pub`));
    const [perHost] = passphraseVars("stb-1");
    assert.equal(perHost, "JAGA_SSH_PASSPHRASE_STB_1");

    const without = executor({ name: "stb-1", target: sshd.target({ privateKeyPath: key }), env: {} });
    const err = await refusal(without.run(["true"]));
    assert.equal(err.code, "ssh.key_unreadable");
    assert.equal(err.params.env, perHost);
    assert.doesNotMatch(JSON.stringify([err.message, err.detail, err.params]), /horse/);

    const withIt = executor({ name: "stb-1", target: sshd.target({ privateKeyPath: key }), env: { [perHost]: secret } });
    assert.equal((await withIt.run(["echo", "unlocked"])).stdout, "unlocked\n");
  });

  it("logs in through ssh-agent", async () => {
    const sock = join(sshd.dir, "agent.sock");
    const agent: ChildProcess = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
    try {
      await waitFor(async () => (await run("ssh-add", ["-l"], { env: { SSH_AUTH_SOCK: sock } }).then(() => true, (e: { code?: number }) => e.code === 1)), 5_000, "agent");
      await run("ssh-add", [sshd.userKey], { env: { SSH_AUTH_SOCK: sock } });
      const ex = executor({ target: { ...sshd.target(), privateKeyPath: undefined, agent: true }, env: { SSH_AUTH_SOCK: sock } });
      assert.equal((await ex.run(["echo", "agent"])).stdout, "agent\n");
      await ex.close();
      const noAgent = executor({ target: { ...sshd.target(), privateKeyPath: undefined, agent: true }, env: {} });
      assert.equal((await refusal(noAgent.run(["true"]))).code, "ssh.no_agent");
    } finally {
      agent.kill();
    }
  });
});

describe("ssh executor: unreachable hosts", () => {
  let silent: Server;
  const held = new Set<Socket>();
  before(async () => {
    // Accepts TCP and never speaks SSH: the handshake times out.
    silent = createServer((s) => {
      held.add(s);
      s.on("close", () => held.delete(s));
    });
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  });
  after(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  });

  it("says connection refused when nothing listens", async () => {
    const port = await freePort();
    const ex = executor({ target: sshd.target({ port }) });
    const err = await refusal(ex.run(["true"]));
    assert.equal(err.code, "ssh.refused");
    assert.equal(err.params.address, `127.0.0.1:${port}`);
    assert.equal(ex.state, "down");
    // During backoff a command gets the reason at once instead of another attempt.
    assert.equal((await refusal(ex.run(["true"]))).code, "ssh.refused");
  });

  it("says timeout when the server never answers the handshake", async () => {
    const addr = silent.address();
    const port = typeof addr === "object" && addr ? addr.port : 0;
    const ex = executor({ target: sshd.target({ port }), connectTimeoutMs: 300 });
    const err = await refusal(ex.run(["true"]));
    assert.equal(err.code, "ssh.timeout");
    await ex.close(); // stops the background retries against the silent server
  });

  it("says the name was not resolved (injected resolver: no real DNS query leaves this machine)", async () => {
    const lookup = ((hostname: string, _opts: unknown, cb: (err: NodeJS.ErrnoException | null) => void) => {
      cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND", hostname }));
    }) as unknown as LookupFunction;
    const ex = executor({ name: "vps", target: sshd.target({ host: "vps.invalid" }), lookup });
    const err = await refusal(ex.run(["true"]));
    assert.equal(err.code, "ssh.not_resolved");
    assert.match(translator("en")(err.code, err.params), /\*vps\*: the name in vps\.invalid:\d+ could not be resolved/);
  });
});

describe("ssh executor: reconnect", () => {
  it("reconnects after the server dies mid-session and comes back on the same port (backoff on the injected clock)", async () => {
    const clock = new ManualClock(Date.now());
    const ex = executor({ clock, backoff: { initialMs: 1_000, maxMs: 8_000 } });
    assert.equal((await ex.run(["echo", "before"])).stdout, "before\n");
    await sshd.kill();
    await waitFor(() => ex.state !== "connected", 5_000, "drop noticed");
    // The first attempt goes out at once and is refused; the next waits on the clock.
    await waitFor(() => ex.state === "down", 5_000, "first reconnect refused");
    assert.equal((await refusal(ex.run(["true"]))).code, "ssh.refused");
    const attempts = ex.attempts;
    await clock.advance(1_000);
    await waitFor(() => ex.state === "down" && ex.attempts === attempts + 1, 5_000, "second attempt refused");
    await sshd.start();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(ex.attempts, attempts + 1, "nothing retries before the clock says so");
    // Exactly the second backoff step (1 s doubled): more would also run out the connect deadline,
    // which lives on the same injected clock.
    await clock.advance(2_000);
    await waitFor(() => ex.state === "connected", 5_000, "reconnected");
    assert.equal(ex.connects, 2);
    assert.equal((await ex.run(["echo", "after"])).stdout, "after\n");
    await ex.close();
  });

  it("a command in flight when the link drops fails with ssh.lost, not a silent empty answer", async () => {
    const ex = executor();
    await ex.connect();
    const pidFile = join(sshd.dir, "inflight.pid");
    const p = refusal(ex.run(["sh", "-c", `echo $$ > ${pidFile}; exec sleep 30`]));
    // Kill only once the command runs: a login shell killed while its rc files still run can
    // leave their locks behind (pyenv's rehash lock makes every later login wait a minute).
    await waitFor(() => readFileSync(pidFile, { flag: "a+" }).length > 0, 10_000, "remote command");
    await sshd.restart();
    const err = await p;
    assert.equal(err.code, "ssh.lost");
    await waitFor(async () => (await ex.run(["echo", "ok"]).catch(() => null))?.stdout === "ok\n", 10_000, "back");
  });
});
