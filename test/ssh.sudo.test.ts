/**
 * Per-host `sudo -n` through the real sshd, with real sudo: a user allowed without a password
 * runs as root; a user sudo would ask for a password gets Jaga's clear message, not a hang.
 * Needs root here (to create the two test users) and sudo (installed by .ci/run).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { isJagaError } from "../src/errors.js";
import { SshExecutor } from "../src/hosts/ssh/index.js";
import { runPrivileged } from "../src/hosts/sudo.js";
import { startSshd, type TestSshd } from "./helpers/sshd.js";

const run = promisify(execFile);
const ALLOWED = "jaga-sudo-ok";
const REFUSED = "jaga-sudo-pw";
const SUDOERS = "/etc/sudoers.d/jaga-test";
const usable = process.getuid?.() === 0 && existsSync("/usr/bin/sudo");

async function ensureUser(name: string): Promise<void> {
  const exists = await run("id", [name]).then(() => true, () => false);
  if (!exists) await run("useradd", ["--create-home", "--shell", "/bin/sh", name]);
  // '*' is "no password login" without being "locked" (sshd refuses locked accounts).
  await run("usermod", ["-p", "*", name]);
}

let sshd: TestSshd;
const executors: SshExecutor[] = [];
const hostFor = (user: string) => {
  const executor = new SshExecutor({ name: user, target: sshd.target({ user }) });
  executors.push(executor);
  return { name: "box", config: { sudo: true, ssh: { user } }, executor };
};

describe("sudo over SSH", { skip: usable ? false : "needs root and sudo (.ci/run installs sudo)" }, () => {
  before(async () => {
    await Promise.all([ensureUser(ALLOWED), ensureUser(REFUSED)]);
    writeFileSync(SUDOERS, `${ALLOWED} ALL=(ALL) NOPASSWD: ALL\n`, { mode: 0o440 });
    sshd = await startSshd({ extra: [`AllowUsers ${ALLOWED} ${REFUSED}`] });
    // sshd reads the authorized keys as the logging-in user.
    chmodSync(sshd.dir, 0o755);
    chmodSync(join(sshd.dir, "authorized_keys"), 0o644);
  });
  after(async () => {
    await Promise.allSettled(executors.map((e) => e.close()));
    await sshd?.stop();
  });

  it("runs the command as root for a user allowed without a password", async () => {
    const r = await runPrivileged(hostFor(ALLOWED), ["id", "-u"], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "0");
  });

  it("says clearly that sudo wants a password, at once", async () => {
    const started = Date.now();
    await assert.rejects(
      () => runPrivileged(hostFor(REFUSED), ["id", "-u"], { timeoutMs: 20_000 }),
      (e) => isJagaError(e) && e.code === "sudo.password" && e.params.host === "box",
    );
    assert.ok(Date.now() - started < 15_000);
  });
});
