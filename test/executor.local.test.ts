import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { LocalExecutor } from "../src/hosts/local.js";
import { waitFor } from "./helpers/pm2.js";
import { alive } from "./helpers/sshd.js";

describe("local executor", () => {
  const exec = new LocalExecutor();
  const dir = mkdtempSync(join(tmpdir(), "jaga-exec-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("passes each argv element through as one literal argument, with no shell", async () => {
    const nasty = ["a b", "$(touch pwned)", "`id`", "; rm -rf /", "*", "'\"", "line\nbreak", "é🙂"];
    const r = await exec.run([process.execPath, "-e", "console.log(JSON.stringify(process.argv.slice(1)))", ...nasty]);
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.stdout), nasty);
    assert.equal(existsSync("pwned"), false);
  });

  it("reports exit codes and stderr", async () => {
    const r = await exec.run(["sh", "-c", "echo oops >&2; exit 3"]);
    assert.equal(r.code, 3);
    assert.equal(r.stderr, "oops\n");
    assert.equal(r.timedOut, false);
  });

  it("answers 127 for a missing command, like a shell would", async () => {
    const r = await exec.run(["jaga-no-such-command"]);
    assert.equal(r.code, 127);
    assert.match(r.stderr, /command not found/);
  });

  it("refuses a NUL byte and an empty argv", async () => {
    await assert.rejects(() => exec.run(["echo", "a\0b"]), /NUL/);
    await assert.rejects(() => exec.run([]), /empty/);
  });

  it("ends the whole process group on timeout, not just the wait", async () => {
    const pidFile = join(dir, "child.pid");
    // The shell starts a grandchild that would outlive a naive kill of the shell alone.
    const r = await exec.run(["sh", "-c", `sleep 30 & echo $! > ${pidFile}; wait`], { timeoutMs: 300 });
    assert.equal(r.timedOut, true);
    const pid = Number(readFileSync(pidFile, "utf8"));
    await waitFor(() => !alive(pid), 3000, "grandchild to exit");
  });

  it("ends the process when the abort signal fires", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    const r = await exec.run(["sleep", "30"], { signal: controller.signal });
    assert.equal(r.timedOut, true);
    assert.ok(Date.now() - started < 5000);
  });

  it("caps output and says so", async () => {
    const r = await exec.run([process.execPath, "-e", "process.stdout.write('x'.repeat(5*1024*1024))"], { maxOutputBytes: 64 * 1024 });
    assert.equal(r.truncated, true);
    assert.equal(r.stdout.length, 64 * 1024);
  });

  it("gives the child a scrubbed environment: Jaga's secrets stay home", async () => {
    process.env.SUPABASE_SERVICE_ROLE_KEY = "super-secret";
    try {
      const r = await exec.run(["env"]);
      assert.doesNotMatch(r.stdout, /super-secret/);
      assert.match(r.stdout, /^PATH=/m);
      assert.match(r.stdout, /^LC_ALL=C$/m);
    } finally {
      delete process.env.SUPABASE_SERVICE_ROLE_KEY;
    }
  });
});

