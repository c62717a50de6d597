/**
 * `npm run bench:watch`: what watching PM2 costs as the apps' log volume grows, and how fast a
 * restart storm is noticed — in wall time, with real processes: a real PM2 daemon whose app
 * `chatty` logs 0, 20, 200 or 2 000 lines a second (test/fixtures/apps/chatty.js, two silent apps
 * beside it), watched locally and over the real loopback sshd (test/helpers/sshd.ts).
 *
 * Each cell is one watcher in its own child process (so its CPU is its own), one method:
 * - `bus`: PM2's event bus (`pub.sock`), every message decoded as the watcher decodes it, the
 *   restart counter fed from its events. axon's pub socket sends every subscriber everything —
 *   each app's every log line included — and filtering is the subscriber's job.
 * - `poll`: `getMonitorData` over `rpc.sock` every 2 s (`--poll`), the counters from the list.
 * - `jaga`: the HostWatcher as it ships, running its own loops with the default config (vitals
 *   and a DNS check every `watch.interval`), alerts through its real desk and outbox.
 * - `none`: nobody watching, for the same window right before each cell: the daemon's own cost
 *   of the logging, the baseline its Δ is taken from (on a shared box that drifts more between
 *   cells than watching adds to it).
 *
 * CPU seconds per hour, scaled from a measured window (`--window`, default 30 s): the watcher
 * process's own and its reaped children's (locally the vitals commands); sshd's — every process
 * under the listener, i.e. the session serving that watcher and what it runs; the PM2 daemon's own
 * (not its apps'), as a Δ over its `none` window. That Δ is noise past a few lines a second (the
 * daemon's own logging varies by more from one window to the next), so the daemon's part of what
 * a list-reading method costs the watched host is also measured directly: `--lists` lists asked
 * back to back at each rate, the logging's cost over that time taken off. Then a storm: an app that was healthy
 * (crash-on-flag.js) crash-loops from a random moment on; the latency is from the flag (its first
 * crash follows within 0.1 s) to the storm found (`bus`, `poll`: the restart-storm rule crossed;
 * `jaga`: the alert in the outbox, cause and evidence gathered).
 *
 * The machine is shared: read figures side by side within one run, not as absolutes.
 *
 * @example
 * npm run bench:watch                         # every rate, 30 s windows (about 25 min)
 * npm run bench:watch -- --quick              # smoke: rates 0 and 2000, 5 s windows
 * npm run bench:watch -- --window 20 --rates 0,2000 --poll 2 --transports ssh --methods poll,jaga --lists 500
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { systemClock } from "../src/clock.js";
import { configSchema, type HostConfig } from "../src/config/schema.js";
import { Inventory } from "../src/hosts/inventory.js";
import { LocalExecutor } from "../src/hosts/local.js";
import { silentLogger } from "../src/log.js";
import { pm2Rpc } from "../src/ops/pm2-rpc.js";
import { defaultExecutorFactory } from "../src/main.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";
import { restartStorm } from "../src/watch/detectors.js";
import { createWatch } from "../src/watch/index.js";
import { Pm2Bus } from "../src/watch/pm2-bus.js";
import { RestartTracker, type RestartDelta } from "../src/watch/restarts.js";
import { testConfig } from "../test/helpers/harness.js";
import { APPS, startPm2, TSX, waitFor, type TestPm2 } from "../test/helpers/pm2.js";
import { descendants, startSshd, type TestSshd } from "../test/helpers/sshd.js";
import { npmStart } from "../test/helpers/start-command.js";

type Method = "bus" | "poll" | "jaga";
type Transport = "local" | "ssh";
interface AgentSpec {
  method: Method;
  host: Record<string, unknown>;
  pollMs: number;
}

const TICK_S = 1 / 100; // USER_HZ
const SETTLE_MS = 3_000;

// ---------------------------------------------------------------------------------------------
// The watcher under test, in its own process. Prints one JSON line per fact: ready, storm.

async function agent(spec: AgentSpec): Promise<void> {
  const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
  const config = testConfig({ language: "en", hosts: [spec.host], watch: { dns: { enabled: true, name: "localhost" } } });
  const store = openSqliteStore(":memory:");
  const hosts = Inventory.fromConfig(config.hosts, defaultExecutorFactory);
  const host = hosts.hosts[0]!;
  let stop: () => Promise<void>;

  if (spec.method === "jaga") {
    const watch = createWatch({
      config,
      hosts,
      incidents: store.incidents,
      state: store.watch,
      alert: (text, dedupeKey) => store.outbox.enqueue({ chatId: "alerts", text, dedupeKey, at: Date.now() }),
      alerts: { chatId: "alerts", queued: () => say({ storm: Date.now() }) },
      clock: systemClock,
      log: silentLogger,
    });
    const watcher = watch.watchers[0]!;
    watcher.start();
    await waitFor(() => watcher.lastVitalsAt > 0, 30_000, "the first round");
    stop = () => watch.stop();
  } else {
    // The mechanism alone: counters in, the restart-storm rule out.
    const tracker = new RestartTracker(host.name, store.watch);
    const rule = config.watch.restartStorm;
    let found = false;
    const judge = (deltas: RestartDelta[]) => {
      const now = Date.now();
      for (const d of deltas) {
        const records = store.watch.restarts(host.name, d.app, now - Math.max(rule.within, rule.fast.within));
        if (!found && restartStorm(records, now, rule)) {
          found = true;
          say({ storm: now });
        }
      }
    };
    tracker.observe(await host.pm2.list({ timeoutMs: 10_000 }), Date.now(), { complete: true });
    if (spec.method === "bus") {
      const bus = new Pm2Bus({
        host: host.name,
        executor: host.executor,
        pm2Home: String(spec.host.pm2Home),
        clock: systemClock,
        log: silentLogger,
        onEvent: (e) => {
          if (e.type === "process") judge(tracker.observe([{ name: e.name, pmId: e.pmId, restarts: e.restarts }], e.at, { complete: false }));
        },
      });
      bus.start();
      await waitFor(() => bus.connected, 15_000, "the bus");
      stop = () => bus.stop();
    } else {
      const halt = new AbortController();
      const loop = (async () => {
        while (!halt.signal.aborted) {
          const started = Date.now();
          try {
            judge(tracker.observe(await host.pm2.list({ timeoutMs: 8_000, signal: halt.signal }), Date.now(), { complete: true }));
          } catch {
            // a missed poll: the counter catches up at the next one
          }
          await systemClock.sleep(Math.max(0, spec.pollMs - (Date.now() - started)), halt.signal).catch(() => undefined);
        }
      })();
      stop = async () => {
        halt.abort();
        await loop;
      };
    }
  }
  // Startup's garbage collected now, not inside the measured window (the agent runs with --expose-gc).
  (globalThis as { gc?: () => void }).gc?.();
  say({ ready: Date.now() });
  process.once("SIGTERM", () => {
    void (async () => {
      await stop();
      await hosts.close();
      await store.close();
      process.exit(0);
    })();
  });
}

// ---------------------------------------------------------------------------------------------
// The runner.

/**
 * A process's CPU seconds: its own (every thread's run time from /proc/<pid>/task/<tid>/schedstat,
 * in nanoseconds: a window of seconds needs better than the 10 ms of utime) and its reaped
 * children's (cutime+cstime, in ticks).
 */
function times(pid: number): { own: number; children: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        // the thread ended meanwhile
      }
    }
    return { own: ns / 1e9, children: (f[13]! + f[14]!) * TICK_S };
  } catch {
    return null;
  }
}

/** Every process under the sshd listener and its CPU so far (its reaped children's included). */
function sshdTimes(listener: number | null): Map<number, number> {
  const out = new Map<number, number>();
  if (listener === null) return out;
  for (const pid of descendants(listener)) {
    const t = times(pid);
    if (t) out.set(pid, t.own + t.children);
  }
  return out;
}

/** CPU spent between two snapshots: new processes count from zero. */
function sshdDelta(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, t] of after) sum += t - (before.get(pid) ?? 0);
  return sum;
}

function listenerPid(sshd: TestSshd): number | null {
  const mark = join(sshd.dir, "sshd_config");
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // sshd retitles itself ("sshd: … [listener] …"): its cmdline is one string then, not argv.
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      const ppid = readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]!.split(" ")[1];
      if (cmdline.includes(mark) && ppid === String(process.pid)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

interface Agent {
  child: ChildProcess;
  lines: object[];
  next(key: string, ms: number): Promise<number>;
  stop(): Promise<void>;
}

function startAgent(spec: AgentSpec): Agent {
  // The node flags and environment of `npm start` (no optimizing compiler, small young
  // generation: more CPU per line than plain node, so measured as shipped).
  // --no-memory-reducer: V8's idle-time GCs after startup (40 ms bursts for half a minute) would
  // land in the window; in a Jaga that has run for minutes they are long over.
  const start = npmStart();
  const child = spawn(process.execPath, [...start.nodeArgs, "--expose-gc", "--no-memory-reducer", "--import", TSX, fileURLToPath(import.meta.url), "--agent", JSON.stringify(spec)], {
    env: { ...process.env, ...start.env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines: Record<string, number>[] = [];
  let buf = "";
  child.stdout.on("data", (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.startsWith("{")) lines.push(JSON.parse(line) as Record<string, number>);
    }
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    child,
    lines,
    async next(key, ms) {
      await waitFor(() => lines.some((l) => key in l) || child.exitCode !== null, ms, `agent: ${key}`);
      const hit = lines.find((l) => key in l);
      if (!hit) throw new Error(`the ${spec.method} agent exited before "${key}"`);
      return hit[key]!;
    },
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      const hard = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(hard);
    },
  };
}

interface Cell {
  transport: Transport;
  rate: number;
  method: Method;
  /** CPU seconds per hour. */
  jaga: number;
  sshd: number;
  daemon: number;
  /** The daemon's CPU s/hour in the window just before, nobody watching (`daemon` is the Δ over it). */
  alone: number;
  /** Seconds from the flag to the storm found; null when not found within 30 s. */
  latency: number | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const perHour = (seconds: number, windowMs: number) => (seconds / windowMs) * 3_600_000;

let flaky = 0;

/** One method on one transport: CPU over the window, then a storm and how soon it is found. */
async function measure(pm2: TestPm2, sshd: TestSshd | null, transport: Transport, method: Method, rate: number, o: Options): Promise<Cell> {
  // A production app that was fine until now: known to the watcher before its first crash.
  const name = `flaky-${++flaky}`;
  const dir = mkdtempSync(join(tmpdir(), "jaga-bench-"));
  const flag = join(dir, "crash");
  const eco = join(dir, "eco.json");
  writeFileSync(eco, JSON.stringify({ apps: [{ name, script: join(APPS, "crash-on-flag.js"), env: { FLAG_FILE: flag } }] }));
  await pm2.cli("start", eco);
  // The daemon's cost with nobody watching, right before: on a shared box its own logging
  // work drifts more between cells than watching adds to it.
  const alone = await daemonAlone(pm2, o);
  const host = transport === "local" ? pm2.hostConfig() : ({ name: "stb", ssh: sshd!.target(), pm2Home: pm2.home, pm2Bin: pm2.bin } satisfies Partial<HostConfig>);
  const a = startAgent({ method, host, pollMs: o.pollMs });
  try {
    await a.next("ready", 60_000);
    await sleep(SETTLE_MS);
    const listener = sshd ? listenerPid(sshd) : null;
    const daemonPid = Number(readFileSync(join(pm2.home, "pm2.pid"), "utf8"));
    const before = { agent: times(a.child.pid!)!, daemon: times(daemonPid)!, sshd: sshdTimes(listener) };
    await sleep(o.windowMs);
    const after = { agent: times(a.child.pid!)!, daemon: times(daemonPid)!, sshd: sshdTimes(listener) };
    // The storm begins at a random moment of the poll's cycle.
    await sleep(Math.random() * o.pollMs);
    writeFileSync(flag, "now");
    const crashed = Date.now();
    const found = await a.next("storm", 30_000).catch(() => null);
    return {
      transport,
      rate,
      method,
      jaga: perHour(after.agent.own + after.agent.children - before.agent.own - before.agent.children, o.windowMs),
      sshd: perHour(sshdDelta(before.sshd, after.sshd), o.windowMs),
      daemon: perHour(after.daemon.own - before.daemon.own, o.windowMs) - alone,
      alone,
      latency: found === null ? null : (found - crashed) / 1000,
    };
  } finally {
    await a.stop();
    await pm2.cli("delete", name).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The daemon's CPU per list (seconds), from `n` lists asked back to back, less what its logging
 * costs over the same time (its rate over the seconds just before): precise where a 30 s window
 * is not — at 2 000 lines/s the logging alone varies by more than a list every 2 s costs.
 */
async function daemonPerList(pm2: TestPm2, n: number): Promise<number> {
  const daemonPid = Number(readFileSync(join(pm2.home, "pm2.pid"), "utf8"));
  const executor = new LocalExecutor();
  await pm2Rpc(executor, pm2.home, "getMonitorData", [{}]);
  const b0 = times(daemonPid)!.own;
  const t0 = Date.now();
  await sleep(5_000);
  const logging = (times(daemonPid)!.own - b0) / (Date.now() - t0);
  const c0 = times(daemonPid)!.own;
  const t1 = Date.now();
  for (let i = 0; i < n; i++) await pm2Rpc(executor, pm2.home, "getMonitorData", [{}]);
  return Math.max(0, times(daemonPid)!.own - c0 - logging * (Date.now() - t1)) / n;
}

/** The daemon with nobody watching, CPU s/hour: what the logging itself costs it. */
async function daemonAlone(pm2: TestPm2, o: Options): Promise<number> {
  const daemonPid = Number(readFileSync(join(pm2.home, "pm2.pid"), "utf8"));
  const before = times(daemonPid)!;
  await sleep(o.windowMs);
  return perHour(times(daemonPid)!.own - before.own, o.windowMs);
}

interface Options {
  windowMs: number;
  pollMs: number;
  rates: number[];
  transports: Transport[];
  methods: Method[];
  /** Lists asked back to back for the daemon's per-list cost. */
  lists: number;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      window: { type: "string" },
      poll: { type: "string", default: "2" },
      rates: { type: "string" },
      transports: { type: "string", default: "local,ssh" },
      methods: { type: "string", default: "bus,poll,jaga" },
      lists: { type: "string" },
    },
    allowPositionals: false,
  });
  const list = (s: string) => s.split(",").map((x) => x.trim()).filter(Boolean);
  return {
    windowMs: Number(values.window ?? (values.quick ? 5 : 30)) * 1000,
    pollMs: Number(values.poll) * 1000,
    rates: list(values.rates ?? (values.quick ? "0,2000" : "0,20,200,2000")).map(Number),
    transports: list(values.transports) as Transport[],
    methods: list(values.methods) as Method[],
    lists: Number(values.lists ?? (values.quick ? 100 : 500)),
  };
}

const fmt = (n: number, digits = 1) => n.toFixed(digits);
const pct = (seconds: number) => `${((seconds / 3600) * 100).toFixed(2)} %`;
/** 0.5 % of one core, in CPU s/hour. */
const TARGET = 18;

async function main(): Promise<void> {
  const o = options();
  const jagaListMs = configSchema.parse({}).watch.pm2Interval;
  console.log(
    `bench:watch — window ${o.windowMs / 1000} s per cell, poll every ${o.pollMs / 1000} s (jaga: its default ${jagaListMs / 1000} s), ` +
      `rates ${o.rates.join("/")} lines/s, ${o.transports.join("+")}; Node ${process.version}; CPU s/hour (share of one core)\n`,
  );
  const sshd = o.transports.includes("ssh") ? await startSshd() : null;
  const cells: Cell[] = [];
  const perList = new Map<number, number>();
  try {
    for (const rate of o.rates) {
      const pm2 = await startPm2({
        chatty: { script: "chatty.js", env: { LINES_PER_SEC: String(rate) } },
        quiet: { script: "chatty.js", env: { LINES_PER_SEC: "0" } },
        idle: { script: "chatty.js", env: { LINES_PER_SEC: "0" } },
      });
      try {
        perList.set(rate, await daemonPerList(pm2, o.lists));
        for (const transport of o.transports) for (const method of o.methods) cells.push(await measure(pm2, sshd, transport, method, rate, o));
        process.stderr.write(`  ${rate} lines/s done\n`);
      } finally {
        await pm2.stop();
      }
    }
  } finally {
    await sshd?.stop();
  }

  const find = (t: Transport, rate: number, m: Method) => cells.find((c) => c.transport === t && c.rate === rate && c.method === m);
  const lowest = Math.min(...o.rates);
  /**
   * The daemon's part for a list-reading method: the larger of its per-list cost at this rate
   * times the lists an hour, and the Δ its window showed at the lowest rate (isolated lists, where
   * the logging is too little to hide it). Null for the bus: what the daemon spends writing each
   * line to a subscriber drowns in its own logging cost.
   */
  const daemonPart = (c: Cell): number | null => {
    if (c.method === "bus") return null;
    const lists = 3_600_000 / (c.method === "jaga" ? jagaListMs : o.pollMs);
    return Math.max(perList.get(c.rate)! * lists, find(c.transport, lowest, c.method)?.daemon ?? 0);
  };
  /** What watching costs the watched host: sshd's part (locally: the watcher itself) and the daemon's. */
  const watchedHost = (c: Cell) => (c.transport === "local" ? c.jaga : c.sshd) + (daemonPart(c) ?? 0);
  const hostText = (c: Cell) => `${daemonPart(c) === null ? "≥ " : ""}${fmt(watchedHost(c))} (${pct(watchedHost(c))})`;

  const header = ["transport", "lines/s", "method", "Jaga", "sshd", "PM2 daemon Δ in the window", "watched host", "storm found after (s)"];
  const rows = cells
    .sort((a, b) => a.transport.localeCompare(b.transport) || a.rate - b.rate || o.methods.indexOf(a.method) - o.methods.indexOf(b.method))
    .map((c) => [
      c.transport,
      String(c.rate),
      c.method,
      `${fmt(c.jaga)} (${pct(c.jaga)})`,
      c.transport === "ssh" ? fmt(c.sshd) : "-",
      fmt(c.daemon),
      hostText(c),
      c.latency === null ? "not in 30 s" : fmt(c.latency, 2),
    ]);
  // The daemon alone, per rate: what the Δ column is measured against, and how much it varies.
  for (const rate of o.rates) {
    const alone = cells.filter((c) => c.rate === rate).map((c) => c.alone);
    const mean = alone.reduce((a, b) => a + b, 0) / Math.max(alone.length, 1);
    rows.push(["-", String(rate), "none", "-", "-", `${fmt(mean)} (${fmt(Math.min(...alone))}–${fmt(Math.max(...alone))}), all of it`, "-", "-"]);
  }
  const widths = header.map((_, i) => Math.max(header[i]!.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((x, i) => x.padEnd(widths[i]!)).join(" | ")} |`;
  console.log(line(header));
  console.log(`| ${widths.map((n) => "-".repeat(n)).join(" | ")} |`);
  for (const r of rows) console.log(line(r));

  console.log(
    `\nPM2 daemon CPU per list (${o.lists} back to back, its logging's cost taken off): ` +
      o.rates.map((r) => `${r} lines/s ${fmt(perList.get(r)! * 1000, 2)} ms`).join(" · ") +
      `.\nWatched host = sshd (locally: Jaga) + the daemon's part: for poll and jaga the larger of per-list × lists/hour and the Δ at ${lowest} lines/s;` +
      ` for the bus not resolved (≥), its window Δ drowning in the daemon's own logging (none rows).`,
  );
  // Side by side: what the bus costs over the poll, per rate, on each side.
  for (const t of o.transports) {
    const ratios = o.rates.map((rate) => {
      const bus = find(t, rate, "bus");
      const poll = find(t, rate, "poll");
      if (!bus || !poll) return null;
      return `${rate}: Jaga ${fmt(bus.jaga / Math.max(poll.jaga, 0.01))}x` + (t === "ssh" ? `, sshd ${fmt(bus.sshd / Math.max(poll.sshd, 0.01))}x` : "");
    });
    if (ratios.some(Boolean)) console.log(`bus / poll, ${t}: ${ratios.filter(Boolean).join(" · ")}`);
  }

  // The summary line: each method at the highest rate, the worst latency, the targets.
  const top = Math.max(...o.rates);
  const part = (m: Method) =>
    o.transports
      .map((t) => {
        const c = find(t, top, m);
        return c ? `${m}/${t} Jaga ${fmt(c.jaga)} host ${daemonPart(c) === null ? "≥" : ""}${fmt(watchedHost(c))}` : null;
      })
      .filter(Boolean)
      .join(", ");
  const worst = (m: Method) => {
    const ls = cells.filter((c) => c.method === m).map((c) => c.latency);
    return ls.includes(null) ? "missed" : `${fmt(Math.max(...(ls as number[])), 2)} s`;
  };
  const jagaCells = cells.filter((c) => c.method === "jaga");
  const met = jagaCells.length > 0 && jagaCells.every((c) => c.jaga <= TARGET && watchedHost(c) <= TARGET && c.latency !== null && c.latency <= 5);
  console.log(
    `\nSUMMARY window=${o.windowMs / 1000}s poll=${o.pollMs / 1000}s @${top} lines/s CPU s/h: ${o.methods.map(part).join(" | ")} ` +
      `| worst storm latency: ${o.methods.map((m) => `${m} ${worst(m)}`).join(", ")} | jaga ≤ ${TARGET} s/h on both hosts and ≤ 5 s at every rate: ${met ? "yes" : "no"}`,
  );
}

const i = process.argv.indexOf("--agent");
if (i > 0) await agent(JSON.parse(process.argv[i + 1]!) as AgentSpec);
else await main();
