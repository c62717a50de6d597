/**
 * The acceptance run, literally: commands piped into `jaga start` with the console
 * transport and a config whose local host points at a real PM2 — real state, a real restart,
 * real error lines, exit 0 at end of input.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startConsoleJaga } from "./helpers/console-jaga.js";
import { ROOT, startPm2, TSX, waitFor, type TestPm2 } from "./helpers/pm2.js";

let pm2: TestPm2;
const dir = mkdtempSync(join(tmpdir(), "jaga-console-"));

before(async () => {
  pm2 = await startPm2({ web: "healthy.js", "bot-kjp": "stderr.js" });
  const host = pm2.hostConfig();
  writeFileSync(
    join(dir, "jaga.yaml"),
    `language: en\nwatch: { dns: { name: localhost } }\nhosts:\n  - { name: local, local: true, pm2Home: "${host.pm2Home}", pm2Bin: "${host.pm2Bin}" }\n`,
  );
  await waitFor(async () => (await pm2.cli("logs", "bot-kjp", "--nostream", "--lines", "2", "--err")).includes("ENOTFOUND"));
});
after(async () => {
  await pm2?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function jaga(input: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", TSX, join(ROOT, "src/cli.ts")], {
      cwd: dir,
      env: { ...process.env, JAGA_TRANSPORT: "console", JAGA_DATA_DIR: join(dir, "data"), LOG_LEVEL: "info", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe("console transport, end to end", () => {
  it("shows real state, really restarts, shows real error lines, and exits 0 at end of input", async () => {
    const pidBefore = (await pm2.jlist()).find((p) => p.name === "web")!.pid;
    const run = await jaga("/status\n/restart web\n/logs bot-kjp 3\n");
    assert.equal(run.code, 0, run.stderr);
    const pidAfter = (await pm2.jlist()).find((p) => p.name === "web")!.pid;
    assert.notEqual(pidAfter, pidBefore);

    const out = run.stdout;
    assert.match(out, /✅ `web` online · up/);
    assert.match(out, /`bot-kjp` online/);
    assert.ok(out.includes(`🔄 \`web\` restarted on *local*: online, pid ${pidAfter}, ↻ 1.`), out);
    assert.match(out, /📄 Last 3 error lines of `bot-kjp` on \*local\*:\n```\n(.*ENOTFOUND|.*23505)/);
    // Replies in order, logs on stderr only.
    assert.ok(out.indexOf("`web` online") < out.indexOf("restarted") && out.indexOf("restarted") < out.indexOf("📄"));
    assert.doesNotMatch(out, /"level"/);
    assert.match(run.stderr, /"msg":"stopped"/);
  });

  it("answers injection attempts without running anything", async () => {
    const before = (await pm2.jlist()).map((p) => p.pm2_env.restart_time);
    const run = await jaga("/restart web; rm -rf /\n/restart $(reboot)\n");
    assert.equal(run.code, 0);
    assert.match(run.stdout, /Too many arguments for `\/restart`/);
    assert.match(run.stdout, /Invalid app name `\$\(reboot\)`/);
    assert.deepEqual((await pm2.jlist()).map((p) => p.pm2_env.restart_time), before);
  });

  it("keeps the audit log across runs in the embedded store", async () => {
    const run = await jaga("/audit 2\n");
    assert.match(run.stdout, /🧾 Last 2 commands:\n.*`\/restart \$\(reboot\)` → invalid/);
  });

  it("asks before emptying every log: /yes runs the plan, /no cancels, one left waiting expires at the stop — all in the audit log", async () => {
    const live = startConsoleJaga(dir, { JAGA_DATA_DIR: join(dir, "data-confirm") });
    const codes = () => [...live.stdout.matchAll(/Reply `\/yes (\d{4})`/g)].map((m) => m[1]!);
    const errLog = join(pm2.home, "logs", "bot-kjp-error.log");
    try {
      await live.started();
      live.type("/flush");
      await waitFor(() => codes().length === 1, 15_000, `a plan in:\n${live.stdout}`);
      assert.match(live.stdout, /⚠️ \*Confirm \/flush\*\n🧹 Empties the PM2 logs of these apps \(cannot be undone\):\n\*local\*: (`web`, `bot-kjp`|`bot-kjp`, `web`)\n/);
      assert.ok(statSync(errLog).size > 0, "nothing emptied before the /yes");
      live.type(`/yes ${codes()[0]}`);
      await waitFor(() => live.stdout.includes("🧹 Logs of all apps on *local* emptied"), 15_000, `the flush in:\n${live.stdout}`);
      live.type("/flush local");
      await waitFor(() => codes().length === 2, 15_000, "a second plan");
      live.type("/no");
      await waitFor(() => live.stdout.includes("🚫 `/flush` cancelled. Nothing was changed."), 15_000, "the cancel");
      live.type("/flush");
      await waitFor(() => codes().length === 3, 15_000, "a third plan");
    } finally {
      live.end();
    }
    assert.equal(await live.closed, 0, live.stderr);
    assert.equal(live.stdout.match(/emptied/g)?.length, 1, "only the confirmed plan ran");
    const audit = await jaga("/audit 6\n", { JAGA_DATA_DIR: join(dir, "data-confirm") });
    const outcomes = [...audit.stdout.matchAll(/`\/flush`(?: @\w+)? → (\w+)/g)].map((m) => m[1]);
    // Newest first.
    assert.deepEqual(outcomes, ["expired", "planned", "cancelled", "planned", "ok", "confirmed"], audit.stdout);
  });

  it("prints [alert] lines for a restart storm started by hand", async () => {
    const live = startConsoleJaga(dir, { JAGA_DATA_DIR: join(dir, "data-storm") });
    try {
      await live.started();
      await new Promise((r) => setTimeout(r, 500)); // the watcher's first baseline
      await pm2.cli("start", join(ROOT, "test/fixtures/apps/crashloop.js"), "--name", "by-hand");
      await waitFor(() => live.stdout.includes("[alert] 🔁 *Restart storm* · `by-hand` on *local*"), 20_000, `storm alert in:\n${live.stdout}`);
      assert.match(live.stdout, /\[alert\] Likely cause: port 3000 is already in use \(EADDRINUSE\)/);
      assert.match(live.stdout, /\[alert\] \*Actions:\* 1 `\/logs by-hand local` · 2 `\/restart by-hand local` · 3 `\/stop by-hand local`\n\[alert\] Incident #1 · reply with a number, or `\/do 1 <n>` · `\/ack 1`/);
      // The console runs an alert's action by number as well: action 1 is the app's error lines.
      live.type("/do 1 1");
      await waitFor(() => /📄 Last \d+ error lines of `by-hand` on \*local\*|📄 `by-hand` on \*local\* has no error lines\./.test(live.stdout), 15_000, "/do 1 1");
    } finally {
      live.end("/incidents\n");
      await pm2.cli("delete", "by-hand").catch(() => undefined);
    }
    const code = await live.closed;
    assert.equal(code, 0);
    assert.match(live.stdout, /#1 🔁 restart_storm `by-hand` @local/);
  });

  it("stops cleanly on SIGTERM", async () => {
    const live = startConsoleJaga(dir, { JAGA_DATA_DIR: join(dir, "data") });
    await live.started();
    live.child.kill("SIGTERM");
    assert.equal(await live.closed, 0);
    assert.match(live.stderr, /"reason":"SIGTERM"/);
  });
});
