/**
 * Watching against a real PM2 running real crash-looping fixtures: storms found by polling
 * PM2's socket at `watch.pm2Interval`, incidents and their alerts in the real outbox, quiet ->
 * resolved, no duplicate after a Jaga restart, no false storm from `pm2 reset`, silence for a
 * healthy app. What watching costs: no log line reaches Jaga, and a host whose list is a
 * `pm2 jlist` process is asked only every interval. Apps that are down: PM2 giving up, a stop
 * by hand, a required app missing, a stop on purpose, a mute.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, describe, it } from "node:test";
import { ManualClock } from "../src/clock.js";
import { APPS, startPm2, waitFor, type TestPm2 } from "./helpers/pm2.js";
import { traced, watchHarness, type Traffic, type WatchHarness } from "./helpers/watch.js";

const dir = mkdtempSync(join(tmpdir(), "jaga-watch-"));
after(() => rmSync(dir, { recursive: true, force: true }));

let pm2: TestPm2 | undefined;
let w: WatchHarness | undefined;
afterEach(async () => {
  await w?.close();
  await pm2?.stop();
  w = undefined;
  pm2 = undefined;
});

const storms = (h: WatchHarness) => h.alerts().filter((a) => a.startsWith("🔁 *Restart storm*"));
const T0 = Date.parse("2026-11-22T01:00:00Z");
const restartsOf = async (app: string) => (await pm2!.jlist()).find((p) => p.name === app)?.pm2_env.restart_time ?? 0;
/** The first list was read: the restart counter has its baselines (restarts.ts keeps them there). */
const listed = (h: WatchHarness) => waitFor(() => h.watch.state.get("baseline:local") !== undefined, 10_000, "the first list");

describe("restart storm", () => {
  it("is found by the list at the next pm2Interval, not the next interval, and alerted with the likely cause", async () => {
    const clock = new ManualClock(T0);
    const flag = join(dir, `storm-${process.pid}-${Date.now()}`);
    // Healthy until the flag: known to the watcher before its first crash, as a production app is.
    pm2 = await startPm2({ web: "healthy.js", crashy: { script: "crash-on-flag.js", env: { FLAG_FILE: flag } } });
    w = watchHarness({ hosts: [pm2.hostConfig()] }, { clock }); // defaults: vitals every 30 s, the list every 2 s
    const watcher = w.watch.watchers[0]!;
    assert.equal(watcher.pm2Period, 2_000, "the list comes from the socket: every pm2Interval");
    watcher.start();
    await listed(w);
    writeFileSync(flag, "");
    await waitFor(async () => (await restartsOf("crashy")) >= 3, 15_000, "three restarts");
    assert.deepEqual(storms(w), [], "both loops wait on the injected clock");
    await clock.advance(2_000); // one pm2Interval; the vitals are not due for another 28 s
    await waitFor(() => storms(w!).length > 0, 15_000, "storm alert");
    const [alert] = storms(w);
    const lines = alert!.split("\n");
    assert.equal(lines[0], "🔁 *Restart storm* · `crashy` on *local*");
    assert.match(lines[1]!, /^\d+ restarts in \d+s\.$/);
    assert.match(alert!, /Likely cause: port 3000 is already in use \(EADDRINUSE\)/);
    assert.equal(lines.at(-2), "*Actions:* 1 `/logs crashy local` · 2 `/restart crashy local` · 3 `/stop crashy local`");
    assert.equal(lines.at(-1), "Incident #1 · reply with a number, or `/do 1 <n>` · `/ack 1`");
    assert.equal(storms(w).length, 1, "one alert per incident");
    assert.ok(!w.alerts().some((a) => a.includes("`web`")), "the healthy app never alerts");
  });

  it("counts every restart between two lists: the next list finds the storm", async () => {
    pm2 = await startPm2({ crashy: "crashloop.js" });
    w = watchHarness({ hosts: [pm2.hostConfig()] });
    const watcher = w.watch.watchers[0]!;
    await watcher.tick();
    await waitFor(async () => (await pm2!.jlist())[0]!.pm2_env.restart_time >= 4, 10_000, "four restarts");
    await watcher.tick();
    assert.equal(storms(w).length, 1);
  });

  it("resolves after the configured quiet time, with its message (injected clock)", async () => {
    const clock = new ManualClock(Date.parse("2026-11-22T01:00:00Z"));
    pm2 = await startPm2({ crashy: "crashloop.js" });
    w = watchHarness({ hosts: [pm2.hostConfig()], watch: { resolveAfter: "30m" } }, { clock });
    const watcher = w.watch.watchers[0]!;
    await watcher.tick();
    await waitFor(async () => (await pm2!.jlist())[0]!.pm2_env.restart_time >= 4, 10_000, "restarts");
    await watcher.tick();
    assert.equal(storms(w).length, 1);
    await pm2.cli("stop", "crashy");
    await watcher.tick(); // counts the restarts that happened before the stop
    await clock.advance(29 * 60_000);
    await watcher.tick();
    // The stop by hand is an app_down incident of its own (see "app down" below).
    const openStorms = async () => (await w!.store.incidents.listOpen()).filter((i) => i.kind === "restart_storm");
    assert.equal((await openStorms()).length, 1, "still open before 30 min of quiet");
    await clock.advance(60_000);
    await watcher.tick();
    assert.equal((await openStorms()).length, 0);
    assert.equal(w.alerts().at(-1), "✅ Resolved: #1 Restart storm · `crashy` on *local* — quiet for 30m (lasted 30m).");
  });

  it("does not alert twice when Jaga restarts mid-storm", async () => {
    const file = join(dir, "restart.db");
    pm2 = await startPm2({ crashy: { script: "crashloop.js", env: { CRASH_AFTER_MS: "400" } } });
    w = watchHarness({ hosts: [pm2.hostConfig()] }, { file });
    await w.watch.watchers[0]!.tick();
    await waitFor(async () => (await pm2!.jlist())[0]!.pm2_env.restart_time >= 4, 10_000, "restarts");
    await w.watch.watchers[0]!.tick();
    assert.equal(storms(w).length, 1);
    await w.close();

    // Jaga comes back while the app is still crash-looping.
    w = watchHarness({ hosts: [pm2.hostConfig()] }, { file });
    const restarted = w.watch.watchers[0]!;
    await restarted.tick();
    const before = (await pm2.jlist())[0]!.pm2_env.restart_time;
    await waitFor(async () => (await pm2!.jlist())[0]!.pm2_env.restart_time >= before + 3, 10_000, "more restarts");
    await restarted.tick();
    assert.equal(storms(w).length, 1, "still exactly one storm alert");
    assert.equal((await w.store.incidents.listOpen()).length, 1);
  });

  it("counts no storm from pm2 reset, a deleted and re-added app, or a restarted daemon", async () => {
    pm2 = await startPm2({ web: "healthy.js" });
    w = watchHarness({ hosts: [pm2.hostConfig()], watch: { restartStorm: { restarts: 2, fast: { restarts: 2 } } } });
    const watcher = w.watch.watchers[0]!;
    for (let i = 0; i < 2; i++) await pm2.cli("restart", "web");
    await watcher.tick(); // baseline: 2 restarts already on the counter
    const counted = () => w!.watch.state.restarts("local", "web", 0).reduce((a, r) => a + r.count, 0);
    assert.equal(counted(), 0, "restarts before the baseline are not counted");
    await pm2.cli("reset", "web");
    await watcher.tick();
    await pm2.cli("delete", "web");
    await pm2.cli("start", join(import.meta.dirname, "fixtures/apps/healthy.js"), "--name", "web");
    await watcher.tick();
    await pm2.cli("kill");
    await pm2.cli("start", join(import.meta.dirname, "fixtures/apps/healthy.js"), "--name", "web");
    await watcher.tick();
    assert.equal(counted(), 0);
    assert.equal(storms(w).length, 0);
    await pm2.cli("restart", "web");
    await watcher.tick();
    assert.equal(counted(), 1, "a real restart after all that still counts");
  });
});

describe("what watching costs", () => {
  it("no log line reaches Jaga however much the apps log: it asks PM2's socket for the list, of a size that does not grow with the logs", async () => {
    pm2 = await startPm2({ chatty: { script: "chatty.js", env: { LINES_PER_SEC: "2000" } }, quiet: { script: "chatty.js", env: { LINES_PER_SEC: "0" } } });
    const traffic: Traffic = { runs: [], sockets: [] };
    w = watchHarness({ hosts: [pm2.hostConfig()] }, { executor: (made) => traced(made, traffic) });
    const watcher = w.watch.watchers[0]!;
    const outLog = join(pm2.home, "logs", "chatty-out.log");
    const loggedBefore = statSync(outLog).size;
    for (let i = 0; i < 5; i++) {
      await watcher.tick();
      await new Promise((r) => setTimeout(r, 200));
    }
    const logged = statSync(outLog).size - loggedBefore;
    const received = traffic.sockets.reduce((n, s) => n + s.bytes, 0);
    assert.deepEqual(new Set(traffic.sockets.map((s) => s.path)), new Set([join(pm2.home, "rpc.sock")]), "only the RPC socket; the bus never");
    assert.equal(traffic.sockets.length, 5, "one list per round");
    assert.ok(!traffic.sockets.some((s) => s.text.includes("chatty request")), "no log line in what Jaga received");
    const sizes = traffic.sockets.map((s) => s.bytes);
    assert.ok(Math.max(...sizes) < Math.min(...sizes) * 1.1, `every answer about the same size: ${sizes.join(", ")}`);
    assert.ok(logged > 2 * received, `the app logged ${logged} bytes meanwhile; Jaga received ${received}`);
    assert.deepEqual(w.alerts(), []);
  });

  it("where the list cannot come from the socket it is a pm2 jlist process, asked every interval instead of every pm2Interval", async () => {
    const clock = new ManualClock(T0);
    pm2 = await startPm2({ web: "healthy.js" });
    const traffic: Traffic = { runs: [], sockets: [] };
    w = watchHarness({ hosts: [pm2.hostConfig()] }, { clock, executor: (made) => traced(made, traffic, { sockets: false }) });
    const watcher = w.watch.watchers[0]!;
    assert.equal(watcher.pm2Period, 30_000);
    const jlists = () => traffic.runs.filter((argv) => argv.includes("jlist")).length;
    watcher.start();
    await listed(w);
    await waitFor(() => watcher.lastVitalsAt > 0, 10_000, "the first vitals");
    await new Promise((r) => setTimeout(r, 200)); // both rounds end and sleep on the clock
    for (let i = 0; i < 10; i++) await clock.advance(2_000);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(jlists(), 1, "no jlist at the 2 s steps");
    await clock.advance(10_000); // 30 s since the first round
    await waitFor(() => jlists() === 2, 10_000, "the second jlist");
  });
});

describe("host detectors", () => {
  it("alerts on disk and memory past their thresholds, once, with the command to try", async () => {
    pm2 = await startPm2({});
    await pm2.cli("ping");
    w = watchHarness({ hosts: [pm2.hostConfig()], watch: { disk: { warning: 1, critical: 100 }, memory: { percent: 1 } } });
    await w.watch.watchers[0]!.tick();
    await w.watch.watchers[0]!.tick();
    const disk = w.alerts().filter((a) => a.startsWith("💾 *Disk filling* · `/` on *local*"));
    assert.equal(disk.length, 1, w.alerts().join("\n---\n"));
    assert.match(disk[0]!, /\n\/ at \d+% \([\d.]+ \w+ free\)\.\n\*Actions:\* 1 `\/status local` · 2 `\/flush local`\n/);
    assert.equal(w.alerts().filter((a) => a.startsWith("🧠 *Memory low*")).length, 1);
  });

  it("calls a host unreachable after three failed checks and resolves when it answers", async () => {
    w = watchHarness({ hosts: [{ name: "ghost", ssh: { host: "127.0.0.1", port: 1, user: "nobody", agent: true } }], watch: { unreachableAfter: 3 } });
    const watcher = w.watch.watchers[0]!;
    await watcher.tick();
    await watcher.tick();
    assert.equal(w.alerts().length, 0);
    await watcher.tick();
    const [alert] = w.alerts();
    assert.match(alert!, /^📡 \*Host unreachable\* · \*ghost\*\n3 failed checks in a row: /);
  });

  it("an unreachable incident opened before a restart resolves at the restarted watcher's first answer", async () => {
    pm2 = await startPm2({});
    w = watchHarness({ hosts: [pm2.hostConfig()] });
    // As a previous Jaga left it: the host was frozen when it was killed.
    await w.store.incidents.openOrGet({ host: "local", app: "", kind: "unreachable", summary: "3 failed checks in a row", at: Date.now() });
    await w.watch.watchers[0]!.tick();
    assert.deepEqual(await w.store.incidents.listOpen(), []);
    assert.ok(w.alerts().some((a) => a.startsWith("✅")), w.alerts().join("\n---\n"));
  });
});

describe("incident commands", () => {
  it("an incident keeps its evidence from the moment it opened, and /incident shows it with its timeline", async () => {
    const clock = new ManualClock(Date.parse("2026-11-22T01:00:00Z"));
    pm2 = await startPm2({ crashy: "crashloop.js" });
    const people = [{ phone: "628111", name: "Oki", role: "operator" }];
    w = watchHarness({ hosts: [pm2.hostConfig()], people, timezone: "Asia/Jakarta", watch: { resolveAfter: "30m" } }, { clock });
    const watcher = w.watch.watchers[0]!;
    await watcher.tick();
    await waitFor(async () => (await pm2!.jlist())[0]!.pm2_env.restart_time >= 4, 10_000, "restarts");
    await watcher.tick();
    assert.equal(storms(w).length, 1);
    // Read straight from the row, nothing else written since the open: the evidence came with it.
    const row = w.store.db.prepare<[], { evidence: string | null }>("SELECT evidence FROM incidents WHERE id = 1").get();
    assert.match(row?.evidence ?? "", /^Likely cause: port 3000 is already in use \(EADDRINUSE\)/);
    assert.match(row?.evidence ?? "", /Error: listen EADDRINUSE: address already in use :::3000/, "the app's own error line");
    assert.equal(await w.send("/incident 99"), "❓ No incident #99.");
    assert.equal(await w.send("/incident x"), "❌ `x` is not a whole number from 1 to 1000000000.\nUsage: `/incident <id>`");

    let shown = (await w.send("/incident 1"))!;
    const lines = shown.split("\n");
    assert.equal(lines[0], "🔁 *Restart storm* · `crashy` on *local* · open");
    assert.match(lines[1]!, /^#1 · \d+ restarts in \d+s\.$/);
    assert.equal(lines[2], "*Evidence* (when it opened):");
    assert.ok(lines.includes("Error: listen EADDRINUSE: address already in use :::3000"), shown);
    assert.equal(lines.at(-1), "*Timeline:* 08:00 opened");

    await clock.advance(2 * 60_000);
    assert.equal(await w.send("/ack 1", { as: "628111" }), "👍 Incident #1 acknowledged. Reminders stop; still watched.");
    assert.equal((await w.send("/incident 1"))!.split("\n").at(-1), "*Timeline:* 08:00 opened · 08:02 acked by Oki");

    await clock.advance(60_000);
    const restarted = await w.send("/do 1 2", { as: "628111" });
    assert.match(restarted!, /crashy/);
    await clock.advance(60_000);
    await w.send("/do 1 1", { as: "628111" }); // /logs: an action too
    shown = (await w.send("/incident 1"))!;
    assert.equal(shown.split("\n")[0], "🔁 *Restart storm* · `crashy` on *local* · acknowledged");
    assert.equal(shown.split("\n").at(-1), "*Timeline:* 08:00 opened · 08:02 acked by Oki · 08:03 /restart crashy local by Oki · 08:04 /logs crashy local by Oki");
    assert.equal(await w.send("/do 1 9", { as: "628111" }), "Incident #1: pick an action number — 1 `/logs crashy local` · 2 `/restart crashy local` · 3 `/stop crashy local`. E.g. `/do 1 1`.");
    assert.equal((await w.send("/incident 1"))!.split("\n").at(-1)!.split(" · ").length, 4, "a refused action is not on the timeline");

    await pm2.cli("stop", "crashy");
    await watcher.tick(); // counts the restarts that happened before the stop
    await clock.advance(30 * 60_000);
    await watcher.tick();
    // (The stop by hand opens an app_down incident of its own.)
    assert.equal((await w.store.incidents.listOpen()).filter((i) => i.kind === "restart_storm").length, 0);
    shown = (await w.send("/incident 1"))!;
    assert.equal(shown.split("\n")[0], "🔁 *Restart storm* · `crashy` on *local* · resolved");
    assert.match(shown.split("\n").at(-1)!, /^\*Timeline:\* 08:00 opened · 08:02 acked by Oki · 08:03 \/restart crashy local by Oki · 08:04 \/logs crashy local by Oki · 08:3\d resolved after 30m quiet$/);
  });

  it("/incidents, /ack, /mute and /unmute work on real incidents", async () => {
    const clock = new ManualClock(Date.parse("2026-11-22T01:00:00Z"));
    pm2 = await startPm2({ crashy: "crashloop.js" });
    // PM2 gives up on an app after 15 quick crashes; a long quiet time keeps the incident open.
    w = watchHarness({ hosts: [pm2.hostConfig()], watch: { resolveAfter: "2h" } }, { clock });
    const watcher = w.watch.watchers[0]!;
    await watcher.tick();
    await waitFor(async () => (await pm2!.jlist())[0]!.pm2_env.restart_time >= 4, 10_000, "restarts");
    await watcher.tick();
    assert.match((await w.send("/incidents"))!, /^🚨 1 open incidents:\n#1 🔁 restart_storm `crashy` @local · 0s · open$/);

    // A reminder after 30 min while it lasts and nobody acknowledged it...
    await clock.advance(31 * 60_000);
    await waitFor(async () => (await pm2!.jlist())[0]!.pm2_env.restart_time >= 8, 10_000, "more restarts");
    await watcher.tick();
    assert.equal(w.alerts().filter((a) => a.startsWith("⏰ Still happening: #1")).length, 1);
    // ...and none once acknowledged.
    assert.equal(await w.send("/ack 1"), "👍 Incident #1 acknowledged. Reminders stop; still watched.");
    assert.equal(await w.send("/ack 1"), "Incident #1 is already acknowledged.");
    assert.equal(await w.send("/ack 99"), "❓ No incident #99.");
    await clock.advance(31 * 60_000);
    await watcher.tick();
    assert.equal(w.alerts().filter((a) => a.startsWith("⏰ Still happening: #1")).length, 1, w.alerts().join("\n---\n"));
    assert.match((await w.send("/incidents"))!, /acked by console/);

    assert.match((await w.send("/mute crashy 3h"))!, /^🔕 Alerts for `crashy` muted until /);
    assert.equal(await w.send("/mute crashy forever"), "❌ `forever` is not a duration (e.g. 30m, 2h, 1d; at most 7d).\nUsage: `/mute <app|host> <duration>`");
    await pm2.cli("stop", "crashy");
    await watcher.tick(); // counts the restarts that happened before the stop
    await clock.advance(121 * 60_000);
    const count = w.alerts().length;
    await watcher.tick();
    const open = await w.store.incidents.listOpen();
    assert.deepEqual(open.filter((i) => i.kind === "restart_storm"), [], "resolved");
    assert.deepEqual(open.map((i) => i.kind), ["app_down"], "the stop by hand is recorded as an outage");
    assert.equal(w.alerts().length, count, "but muted: no message about either");
    assert.equal(await w.send("/unmute crashy"), "🔔 Alerts for `crashy` are back on.");
    assert.equal(await w.send("/unmute crashy"), "`crashy` was not muted.");
  });
});

describe("app down", () => {
  const downs = (h: WatchHarness) => h.alerts().filter((a) => a.startsWith("⛔ *App down*"));
  const status = async (app: string) => (await pm2!.jlist()).find((p) => p.name === app)?.pm2_env.status;
  const openDowns = async (h: WatchHarness) => (await h.store.incidents.listOpen()).filter((i) => i.kind === "app_down");

  it("an app PM2 gave up on (max_restarts) opens one incident after the grace, with its error lines; a start that stays up resolves it", async () => {
    const clock = new ManualClock(T0);
    pm2 = await startPm2({});
    const flag = join(dir, `flag-${process.pid}-${Date.now()}`);
    // As in report 003's ecosystem file: PM2 stops restarting after max_restarts unstable restarts.
    const eco = join(dir, "eco.json");
    // min_uptime: every crash counts as unstable, however slowly this machine starts node.
    writeFileSync(eco, JSON.stringify({ apps: [{ name: "flaky", script: join(APPS, "crash-on-flag.js"), max_restarts: 3, min_uptime: 60_000, env: { FLAG_FILE: flag } }] }));
    await pm2.cli("start", eco);
    w = watchHarness({ hosts: [pm2.hostConfig()], watch: { appDown: { grace: "1m", upFor: "2m" } } }, { clock });
    const watcher = w.watch.watchers[0]!;
    await waitFor(async () => (await status("flaky")) === "online", 10_000, "online");
    await watcher.tick(); // seen online
    writeFileSync(flag, "");
    await waitFor(async () => (await status("flaky")) === "errored", 30_000, "PM2 giving up");
    await watcher.tick();
    await clock.advance(59_000);
    await watcher.tick();
    assert.equal(downs(w).length, 0, "not before the grace");
    await clock.advance(1_000);
    await watcher.tick();
    await watcher.tick();
    assert.equal(downs(w).length, 1, w.alerts().join("\n---\n"));
    const lines = downs(w)[0]!.split("\n");
    assert.equal(lines[0], "⛔ *App down* · `flaky` on *local*");
    assert.equal(lines[1], "Errored for 1m: PM2 gave up restarting it.");
    assert.match(lines[2]!, /^Likely cause: port 3000 is already in use \(EADDRINUSE\)/);
    assert.equal(lines[3], "Last error lines:");
    assert.ok(lines.some((l) => l.includes("crash-on-flag: Error: listen EADDRINUSE")), "the error lines are in the alert");
    assert.ok(lines.includes("*Actions:* 1 `/logs flaky local` · 2 `/start flaky local` · 3 `/restart flaky local`"));
    assert.equal((await openDowns(w)).length, 1);

    rmSync(flag);
    await pm2.cli("restart", "flaky");
    await waitFor(async () => (await status("flaky")) === "online", 10_000, "online again");
    await watcher.tick();
    await clock.advance(119_000);
    await watcher.tick();
    assert.equal((await openDowns(w)).length, 1, "open until it stayed up for upFor");
    await clock.advance(1_000);
    await watcher.tick();
    assert.deepEqual(await openDowns(w), []);
    assert.match(w.alerts().at(-1)!, /^✅ Resolved: #\d+ App down · `flaky` on \*local\* — back to normal \(lasted 2m\)\.$/);
  });

  it("pm2 stop by hand opens one after the grace; a stop shorter than the grace opens none", async () => {
    const clock = new ManualClock(T0);
    pm2 = await startPm2({ web: "healthy.js", api: "healthy.js" });
    w = watchHarness({ hosts: [pm2.hostConfig()] }, { clock });
    const watcher = w.watch.watchers[0]!;
    await watcher.tick();
    // A brief stop: back within the grace (default 1m).
    await pm2.cli("stop", "api");
    await watcher.tick();
    await clock.advance(50_000);
    await watcher.tick();
    await pm2.cli("start", "api");
    await watcher.tick();
    await clock.advance(5 * 60_000);
    await watcher.tick();
    assert.deepEqual(downs(w), []);

    await pm2.cli("stop", "web");
    await watcher.tick();
    await clock.advance(60_000);
    await watcher.tick();
    assert.equal(downs(w).length, 1, w.alerts().join("\n---\n"));
    const lines = downs(w)[0]!.split("\n");
    assert.deepEqual(lines.slice(0, 3), [
      "⛔ *App down* · `web` on *local*",
      "Stopped for 1m.",
      "Likely cause: stopped by hand (`pm2 stop` on the host, not through Jaga), or it exited with autorestart off.",
    ]);
    assert.equal(lines.at(-2), "*Actions:* 1 `/logs web local` · 2 `/start web local` · 3 `/restart web local`");
    assert.ok(!w.alerts().some((a) => a.includes("`api`")), "the brief stop never alerted");
  });

  it("an app in watch.apps opens one even if never seen online; an app never seen online and not listed does not", async () => {
    const clock = new ManualClock(T0);
    pm2 = await startPm2({ req: "healthy.js", idle: "healthy.js" });
    await pm2.cli("stop", "req");
    await pm2.cli("stop", "idle");
    w = watchHarness({ hosts: [pm2.hostConfig()], watch: { apps: ["req", "ghost@local"] } }, { clock });
    const watcher = w.watch.watchers[0]!;
    await watcher.tick();
    await clock.advance(60_000);
    await watcher.tick();
    const texts = downs(w);
    assert.equal(texts.length, 2, texts.join("\n---\n"));
    assert.ok(texts.some((t) => t.startsWith("⛔ *App down* · `req` on *local*\nStopped for 1m.")));
    const ghost = texts.find((t) => t.includes("`ghost`"));
    assert.match(ghost!, /^⛔ \*App down\* · `ghost` on \*local\*\nNot in PM2 for 1m, but `watch.apps` says it must run\.\nLikely cause: never started on this host, or deleted/);
    assert.ok(!w.alerts().some((a) => a.includes("`idle`")));
  });

  it("does not alert twice when Jaga restarts mid-outage, and remembers across the restart which apps ran", async () => {
    const clock = new ManualClock(T0);
    const file = join(dir, "app-down-restart.db");
    pm2 = await startPm2({ web: "healthy.js", api: "healthy.js" });
    w = watchHarness({ hosts: [pm2.hostConfig()] }, { clock, file });
    await w.watch.watchers[0]!.tick(); // both seen online
    await pm2.cli("stop", "web");
    await w.watch.watchers[0]!.tick();
    await clock.advance(60_000);
    await w.watch.watchers[0]!.tick();
    assert.equal(downs(w).length, 1);
    await w.close();

    // The new Jaga never saw either online itself; api stops while it watches.
    await pm2.cli("stop", "api");
    w = watchHarness({ hosts: [pm2.hostConfig()] }, { clock, file });
    const restarted = w.watch.watchers[0]!;
    await restarted.tick();
    await clock.advance(60_000);
    await restarted.tick();
    await clock.advance(60_000);
    await restarted.tick();
    assert.equal(downs(w).filter((a) => a.includes("`web`")).length, 1, "still exactly one alert for web");
    assert.equal(downs(w).filter((a) => a.includes("`api`")).length, 1, "api was online before the restart: its stop is an outage");
    assert.equal((await openDowns(w)).length, 2);
  });

  it("a stop marked on purpose opens none (and resolves an open one); once started again, a stop by hand alerts", async () => {
    const clock = new ManualClock(T0);
    pm2 = await startPm2({ web: "healthy.js" });
    w = watchHarness({ hosts: [pm2.hostConfig()] }, { clock });
    const watcher = w.watch.watchers[0]!;
    await watcher.tick();
    w.watch.markStopped("local", "web", "Budi");
    assert.deepEqual(w.watch.stoppedBy("local", "web"), { by: "Budi", at: T0 });
    await watcher.tick(); // still online: a stale list must not end the mark
    await pm2.cli("stop", "web");
    await watcher.tick();
    await clock.advance(10 * 60_000);
    await watcher.tick();
    assert.deepEqual(downs(w), []);
    assert.deepEqual(await openDowns(w), []);
    assert.ok(w.watch.stoppedBy("local", "web"), "marked while it stays down");

    await pm2.cli("start", "web");
    await watcher.tick();
    assert.equal(w.watch.stoppedBy("local", "web"), undefined, "started again: the mark is over");
    await pm2.cli("stop", "web");
    await watcher.tick();
    await clock.advance(60_000);
    await watcher.tick();
    assert.equal(downs(w).length, 1);

    // Marked while an incident is open: a person took it over, the incident resolves.
    w.watch.markStopped("local", "web", "Sari");
    await watcher.tick();
    assert.deepEqual(await openDowns(w), []);
    assert.equal(downs(w).length, 1);
  });

  it("a muted app records its incident without an alert", async () => {
    const clock = new ManualClock(T0);
    pm2 = await startPm2({ web: "healthy.js" });
    w = watchHarness({ hosts: [pm2.hostConfig()] }, { clock });
    const watcher = w.watch.watchers[0]!;
    await watcher.tick();
    assert.match((await w.send("/mute web 1h"))!, /^🔕/);
    await pm2.cli("stop", "web");
    await watcher.tick();
    await clock.advance(60_000);
    await watcher.tick();
    assert.equal((await openDowns(w)).length, 1);
    assert.deepEqual(downs(w), []);
  });
});
