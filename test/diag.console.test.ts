/**
 * The whole flow of issue 13 on the console, as someone would live it: a real `jaga start`
 * watching a real PM2, a crash loop started by hand, the alert with its numbered actions,
 * `/diag` naming the storm first, `/stop` planned and confirmed with `/yes`, and the incident
 * resolving on its own once the app is quiet. Durations are the shortest the config allows
 * (`watch.interval: 1s`, `watch.resolveAfter: 10s`); the test waits on output, never on a timer.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { startConsoleJaga } from "./helpers/console-jaga.js";
import { APPS, PM2_BIN, startPm2, waitFor, type TestPm2 } from "./helpers/pm2.js";

const run = promisify(execFile);
let pm2: TestPm2;
const dir = mkdtempSync(join(tmpdir(), "jaga-diag-console-"));

before(async () => {
  pm2 = await startPm2({ web: "healthy.js" });
  const host = pm2.hostConfig();
  writeFileSync(
    join(dir, "jaga.yaml"),
    [
      "language: en",
      "watch: { interval: 1s, resolveAfter: 10s, dns: { name: localhost } }",
      "hosts:",
      `  - { name: local, local: true, pm2Home: "${host.pm2Home}", pm2Bin: "${host.pm2Bin}" }`,
      "",
    ].join("\n"),
  );
});
after(async () => {
  await pm2?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("console: a crash loop from alert to resolved", () => {
  it("alert with numbered actions → /diag shows the storm first → /stop confirmed → resolved", async () => {
    const live = startConsoleJaga(dir, { JAGA_DATA_DIR: join(dir, "data") });
    const after = (mark: string, from: number) => live.stdout.indexOf(mark, from);
    try {
      await live.started();
      // Started by hand, as on the box: it dies 200 ms after each start and PM2 brings it back
      // (with room for 1000 restarts PM2 does not give up during the test: only a stop ends it).
      await run(PM2_BIN, ["start", join(APPS, "crashloop.js"), "--name", "by-hand", "--max-restarts", "1000", "--restart-delay", "250"], {
        env: { ...process.env, PM2_HOME: pm2.home, PM2_DISCRETE_MODE: "true" },
      });

      // 1. The alert, with its numbered actions.
      await waitFor(() => live.stdout.includes("[alert] Incident #1 · reply with a number"), 20_000, `the storm alert in:\n${live.stdout}`);
      const alertAt = live.stdout.indexOf("[alert] 🔁 *Restart storm* · `by-hand` on *local*");
      assert.ok(alertAt >= 0, live.stdout);
      assert.match(live.stdout, /\[alert\] \*Actions:\* 1 `\/logs by-hand local` · 2 `\/restart by-hand local` · 3 `\/stop by-hand local`\n/);

      // 2. /diag: the storm is the first finding, with its restarts, cause and incident.
      const diagFrom = live.stdout.length;
      live.type("/diag");
      await waitFor(() => after("*Journal* ", after("🩺 *local*", diagFrom)) >= 0, 15_000, `the diagnosis in:\n${live.stdout.slice(diagFrom)}`);
      const diag = live.stdout.slice(after("🩺 *local*", diagFrom)).split("\n");
      assert.match(diag[0]!, /^🩺 \*local\* · up \S+.* · read in [\d.]+ s$/);
      assert.match(diag[1]!, /^🔴 `by-hand` \S.* · \d+ restarts · EADDRINUSE :3000(, nothing listens there now| held by `[^`]+`) · #1$/, diag.join("\n"));
      assert.equal(diag[2], "   `Error: listen EADDRINUSE: address already in use :::3000`");
      assert.ok(diag.some((l) => /^\*Apps\* .*(🔁|❌) `by-hand` ↻ \d+/.test(l)), diag.join("\n"));

      // 3. /stop: a plan with a code, nothing stopped before the /yes, then stopped.
      const stopFrom = live.stdout.length;
      live.type("/stop by-hand");
      await waitFor(() => /Reply `\/yes (\d{4})`/.test(live.stdout.slice(stopFrom)), 15_000, "the plan");
      assert.match(live.stdout.slice(stopFrom), /⚠️ \*Confirm \/stop\*\n⏹️ Stop `by-hand` on \*local\*: 1 instance\(s\)\./);
      assert.notEqual((await pm2.jlist()).find((p) => p.name === "by-hand")?.pm2_env.status, "stopped");
      const code = /Reply `\/yes (\d{4})`/.exec(live.stdout.slice(stopFrom))![1]!;
      live.type(`/yes ${code}`);
      await waitFor(() => live.stdout.includes("⏹️ `by-hand` stopped on *local*: stopped, 1 instance(s)."), 15_000, `the stop in:\n${live.stdout.slice(stopFrom)}`);
      const stoppedAt = live.stdout.indexOf("⏹️ `by-hand` stopped on *local*");
      const restarts = (await pm2.jlist()).find((p) => p.name === "by-hand")!.pm2_env;
      assert.equal(restarts.status, "stopped");

      // 4. Quiet for resolveAfter: resolved, without an "app down" alert for a stop on purpose.
      // Within WhatsApp's edit window the alert itself is edited: its status on top, then as it read.
      await waitFor(() => live.stdout.includes("[alert ✏️] ✅ *Resolved*"), 20_000, `the resolution in:\n${live.stdout.slice(stoppedAt)}`);
      const resolvedAt = live.stdout.indexOf("[alert ✏️] ✅ *Resolved*");
      assert.match(live.stdout.slice(resolvedAt), /^\[alert ✏️\] ✅ \*Resolved\* — quiet for 1\ds, lasted \d+s\n\[alert ✏️\] \n\[alert ✏️\] 🔁 \*Restart storm\* · `by-hand` on \*local\*\n/);
      assert.match(live.stdout.slice(resolvedAt), /^\[alert ✏️\] Incident #1 · reply with a number/m);
      assert.ok(alertAt < diagFrom && diagFrom < stopFrom && stopFrom < stoppedAt && stoppedAt < resolvedAt, "in the order it happened");
      assert.equal((await pm2.jlist()).find((p) => p.name === "by-hand")!.pm2_env.restart_time, restarts.restart_time, "no restart after the stop");
      assert.doesNotMatch(live.stdout, /\[alert\] .*App down/i);
    } finally {
      live.end();
      await pm2.cli("delete", "by-hand").catch(() => undefined);
    }
    assert.equal(await live.closed, 0, live.stderr);
  });
});
