/**
 * Per-host `sudo -n` through the real sshd, with real sudo: a user allowed without a password
 * runs as root; a user sudo would ask for a password gets Jaga's clear message, not a hang.
 * Needs root here (the test creates two throwaway users and a sudoers entry, all named uniquely
 * for this run and removed afterwards) and sudo (installed by .ci/run).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { isJagaError } from "../src/errors.js";
import { SshExecutor } from "../src/hosts/ssh/index.js";
import { runPrivileged } from "../src/hosts/sudo.js";
import { installSudoers } from "./helpers/sudoers.js";
import { startSshd, type TestSshd } from "./helpers/sshd.js";

const usable = process.getuid?.() === 0 && existsSync("/usr/bin/sudo") && existsSync("/usr/sbin/visudo");
const ID = ["/usr/bin/id", "/bin/id"].find((p) => existsSync(p)) ?? "/usr/bin/id";


let sshd: TestSshd;
let sudoers: string | undefined;
const executors: SshExecutor[] = [];
const hostFor = (user: string) => {
  const executor = new SshExecutor({ name: user, target: sshd.target({ user }) });
  executors.push(executor);
  return { name: "box", config: { sudo: true, ssh: { user } }, executor };
};

describe("sudo over SSH", { skip: usable ? false : "needs root and sudo (.ci/run installs sudo)" }, () => {
  before(async () => {
    sshd = await startSshd({ users: ["ok", "pw"] });
    // Exactly the one command the test runs, nothing else.
    sudoers = await installSudoers(`jaga-test-${randomBytes(4).toString("hex")}`, `${sshd.users.ok} ALL=(root) NOPASSWD: ${ID} -u\n`, sshd.dir);
  });
  after(async () => {
    await Promise.allSettled(executors.map((e) => e.close()));
    if (sudoers) rmSync(sudoers, { force: true });
    await sshd?.stop();
  });

  it("runs the command as root for a user allowed without a password", async () => {
    const r = await runPrivileged(hostFor(sshd.users.ok!), ["id", "-u"], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "0");
  });

  it("says clearly that sudo wants a password, at once", async () => {
    const started = Date.now();
    await assert.rejects(
      () => runPrivileged(hostFor(sshd.users.pw!), ["id", "-u"], { timeoutMs: 20_000 }),
      (e) => isJagaError(e) && e.code === "sudo.password" && e.params.host === "box",
    );
    assert.ok(Date.now() - started < 15_000);
  });

  it("says the same for a command the user's sudoers entry does not allow", async () => {
    await assert.rejects(
      () => runPrivileged(hostFor(sshd.users.ok!), ["id", "-g"], { timeoutMs: 20_000 }),
      (e) => isJagaError(e) && e.code === "sudo.password",
    );
  });
});
