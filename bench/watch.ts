/**
 * `npm run bench:watch`: what watching costs and how fast it notices, for the chosen method
 * (PM2's event bus + vitals every 30 s + a jlist reconcile every 5 min) and for the obvious
 * alternative (`pm2 jlist` polled every 30 s, plus the same vitals).
 *
 * - Detection latency: from the restart that crosses the storm threshold (timestamped by an
 *   independent listener on PM2's bus) to the alert in the outbox. Polling is measured with a
 *   real 30 s interval, so that half of the run takes up to a minute.
 * - CPU on the watched host per hour: the CPU of every process the watcher starts there (reaped
 *   children of this process: /proc/self/stat cutime+cstime) plus what the PM2 daemon spends
 *   answering (its own utime+stime), measured over N rounds and scaled to 120 rounds an hour.
 *
 * Everything runs on this machine against a real PM2; nothing leaves loopback.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock, systemClock } from "../src/clock.js";
import { silentLogger } from "../src/log.js";
import { Pm2Bus } from "../src/watch/pm2-bus.js";
import { LocalExecutor } from "../src/hosts/local.js";
import { startPm2, waitFor } from "../test/helpers/pm2.js";
import { watchHarness } from "../test/helpers/watch.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 40);
const TICKS = (1 / Number(process.env.HZ ?? 100));

/** [user+system of reaped children, user+system of this process] in seconds. */
function selfTimes(pid: number | "self" = "self"): { own: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
  // fields after the comm: state(0) ... utime(11) stime(12) cutime(13) cstime(14)
  return { own: (f[11]! + f[12]!) * TICKS, children: (f[13]! + f[14]!) * TICKS };
}

async function cpuPerHour(method: "bus" | "poll"): Promise<number> {
  const pm2 = await startPm2({ a: "healthy.js", b: "healthy.js", c: "healthy.js" });
  const daemonPid = Number(readFileSync(join(pm2.home, "pm2.pid"), "utf8"));
  const clock = new ManualClock(Date.now());
  const w = watchHarness({ hosts: [pm2.hostConfig()], watch: { dns: { enabled: true, name: "localhost" } } }, { clock, reconcileEvery: method === "bus" ? 10 : 1 });
  const watcher = w.watch.watchers[0]!;
  if (method === "bus") {
    watcher.bus!.start();
    await waitFor(() => watcher.bus!.connected, 5_000);
  }
  await watcher.tick(); // warm up
  const before = { me: selfTimes(), daemon: selfTimes(daemonPid) };
  for (let i = 0; i < ROUNDS; i++) {
    await clock.advance(30_000);
    await watcher.tick();
  }
  const after = { me: selfTimes(), daemon: selfTimes(daemonPid) };
  const seconds = after.me.children - before.me.children + (after.daemon.own - before.daemon.own);
  await w.close();
  await pm2.stop();
  return (seconds / ROUNDS) * 120; // CPU seconds per hour at a 30 s interval
}

async function detection(method: "bus" | "poll"): Promise<number> {
  // An app that runs fine until a flag file appears, then crash-loops: already known to the
  // watcher before its first crash, as a production app would be.
  const flag = join(mkdtempSync(join(tmpdir(), "jaga-bench-")), "crash");
  const pm2 = await startPm2({ app: { script: "crash-on-flag.js", env: { FLAG_FILE: flag } } });
  const w = watchHarness({ hosts: [pm2.hostConfig()] }, { clock: systemClock });
  const watcher = w.watch.watchers[0]!;
  // Ground truth: an independent bus listener timestamps every restart as PM2 announces it.
  const restarts: number[] = [];
  const truth = new Pm2Bus({
    host: "local",
    executor: new LocalExecutor(),
    pm2Home: pm2.home,
    clock: systemClock,
    log: silentLogger,
    onEvent: (e) => {
      if (e.type === "process" && e.event === "online" && e.restarts > 0) restarts.push(Date.now());
    },
  });
  truth.start();
  await waitFor(() => truth.connected, 5_000);
  let polling = true;
  if (method === "bus") {
    watcher.bus!.start();
    await waitFor(() => watcher.bus!.connected, 5_000);
    await watcher.tick();
  } else {
    await watcher.tick();
    // The poller: a tick every 30 s; the crash loop starts at a random phase of it.
    void (async () => {
      while (polling) {
        await new Promise((r) => setTimeout(r, 30_000));
        if (polling) await watcher.tick();
      }
    })();
    await new Promise((r) => setTimeout(r, Math.random() * 30_000));
  }
  writeFileSync(flag, "now");
  await waitFor(() => w.alerts().length > 0, 70_000, "alert");
  polling = false;
  const queuedAt = w.store.db.prepare<[], { created_at: number }>("SELECT created_at FROM outbox ORDER BY id LIMIT 1").get()!.created_at;
  // The fast rule (3 within 5 min) is what a fresh crash loop crosses first.
  const crossed = restarts[2]!;
  await truth.stop();
  await w.close();
  await pm2.stop();
  return (queuedAt - crossed) / 1000;
}

const bus = { cpu: await cpuPerHour("bus"), latency: await detection("bus") };
const poll = { cpu: await cpuPerHour("poll"), latency: await detection("poll") };
const pct = (s: number) => `${((s / 3600) * 100).toFixed(3)}%`;
const rows = [
  ["", "event bus + vitals (chosen)", "jlist every 30 s + vitals"],
  ["detection latency (s)", bus.latency.toFixed(2), poll.latency.toFixed(2)],
  ["CPU s/hour on watched host", bus.cpu.toFixed(1), poll.cpu.toFixed(1)],
  ["share of one core", pct(bus.cpu), pct(poll.cpu)],
  ["ratio (poll / bus)", "1.0", `${(poll.cpu / bus.cpu).toFixed(1)}x CPU, ${(poll.latency / Math.max(bus.latency, 0.001)).toFixed(0)}x latency`],
];
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const [i, r] of rows.entries()) {
  console.log(`| ${r.map((c, j) => c.padEnd(widths[j]!)).join(" | ")} |`);
  if (i === 0) console.log(`| ${widths.map((n) => "-".repeat(n)).join(" | ")} |`);
}
console.log(`\n${ROUNDS} rounds each; Node ${process.version}; targets: detection within 5 s, at most 0.5% of one core.`);
