/**
 * `npm run bench:fanout`: a fleet-wide `/status` over SSH against the usual way of asking the
 * same hosts by hand. One real sshd on 127.0.0.1 is listed as N inventory hosts (N = 1, 10, 50),
 * a real PM2 behind it, once across a link that delays each direction by 20 ms
 * (`bench/latency-proxy.ts`, its own process) and once on bare loopback. Rows:
 *   - Jaga fresh: /status with nothing cached — each host's vitals probed at that moment (one
 *     exec), PM2 asked over its rpc.sock, connections pooled and open
 *   - Jaga warm: /status as a running Jaga answers it — vitals from the watchers' last round
 *     (they read every host each interval anyway), PM2 over rpc.sock, connections open
 *   - parallel ssh, ControlMaster: every host at once over its own OpenSSH master connection,
 *     opened before timing, each running `pm2 jlist` and the same vitals script Jaga runs
 *   - parallel ssh, ControlMaster, vitals only: the row above without `pm2 jlist` — what the
 *     ssh transport itself costs, to show where the difference comes from
 *   - Jaga cold: a new inventory, so every host connects first (then as fresh)
 *   - sequential ssh: one host after another, a new connection each, same command (what an
 *     admin types)
 * Rows are interleaved within each repetition (the machine is shared); medians, with ratios to
 * Jaga fresh, the like-for-like row. What each Jaga row sends is counted per answer (execs and
 * rpc.sock opens), so a row cannot quietly measure something else. Also prints Jaga's own CPU
 * per fresh /status and the resident memory of a real `jaga start` with the largest N.
 * Every host is 127.0.0.1: nothing leaves this machine. The last line sums the run up.
 *
 * On loopback all "hosts" share this machine's 2 cores and one PM2 daemon, so N hosts cost N
 * times the host-side work (a `pm2 jlist` is a Node process, ~0.2 s of CPU here); on a real
 * fleet that work runs on each host, and only the network wait and the asker's own CPU add up.
 *
 *   BENCH_SIZES=1,10  BENCH_REPS=5  npm run bench:fanout
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { shellQuote } from "../src/hosts/quote.js";
import { vitalsProbe } from "../src/ops/vitals.js";
import type { Executor } from "../src/hosts/executor.js";
import { watchHarness, type WatchHarness } from "../test/helpers/watch.js";
import { ROOT, startPm2, TSX, waitFor } from "../test/helpers/pm2.js";
import { freePort, startSshd, type TestSshd } from "../test/helpers/sshd.js";
import { npmStart } from "../test/helpers/start-command.js";

const run = promisify(execFile);
/** BENCH_SIZES=1,10 runs a subset (50 parallel `pm2 jlist` on 2 cores take a while). */
const SIZES = (process.env.BENCH_SIZES ?? "1,10,50").split(",").map(Number);
const REPS = Number(process.env.BENCH_REPS ?? 5);
/** Jaga's fresh and warm answers take milliseconds on loopback: a few per repetition. */
const INNER = Number(process.env.BENCH_INNER ?? 5);
const ONE_WAY_MS = 20;

type Row = "Jaga fresh" | "Jaga warm" | "parallel ssh, ControlMaster" | "parallel ssh, ControlMaster, vitals only" | "Jaga cold" | "sequential ssh";
const ROWS: Row[] = ["Jaga fresh", "Jaga warm", "parallel ssh, ControlMaster", "parallel ssh, ControlMaster, vitals only", "Jaga cold", "sequential ssh"];
interface Link {
  label: string;
  /** The port Jaga and ssh connect to: the delay relay's, or sshd's own. */
  port: number;
}
type Results = Map<string, number[]>;
const key = (link: string, row: Row, n: number) => `${link}|${row}|${n}`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** N inventory hosts, all the one sshd (through `port`), all the one PM2. */
function jagaConfig(n: number, sshd: TestSshd, port: number, home: string, bin: string): Record<string, unknown> {
  const hosts = Array.from({ length: n }, (_, i) => ({ name: `h${i + 1}`, ssh: sshd.target({ port }), pm2Home: home, pm2Bin: bin }));
  // 50 loopback "hosts" share 2 cores: the 30 s chat timeout would cut the slow rows off.
  return { language: "en", commandTimeout: "10m", hosts };
}

/** Execs and Unix socket opens across every host's executor. */
interface Traffic {
  runs: number;
  sockets: number;
}

/** The real executor, counting what crosses it (no more: its CPU counts as Jaga's). */
function counted(made: Executor, traffic: Traffic): Executor {
  const open = made.openUnixSocket?.bind(made);
  return {
    kind: made.kind,
    run: (argv, options) => {
      traffic.runs++;
      return made.run(argv, options);
    },
    ...(open ? { openUnixSocket: (path: string) => (traffic.sockets++, open(path)) } : {}),
    close: () => made.close(),
  };
}

/** A Jaga (pipeline, watchers, pooled executors) whose every exec and socket open is counted. */
interface CountedJaga {
  jaga: WatchHarness;
  traffic: Traffic;
}

function countedJaga(raw: Record<string, unknown>, watchInterval?: string): CountedJaga {
  const traffic: Traffic = { runs: 0, sockets: 0 };
  const cfg = watchInterval ? { ...raw, watch: { interval: watchInterval } } : raw;
  return { jaga: watchHarness(cfg, { executor: (made) => counted(made, traffic) }), traffic };
}

/** One /status, checked: every host answered `healthy` online, and it sent what the row says. */
async function statusOnce(c: CountedJaga, n: number, expect: Traffic): Promise<void> {
  const { runs, sockets } = c.traffic;
  const text = (await c.jaga.send("/status")) ?? "";
  if ((text.match(/`healthy` online/g) ?? []).length !== n || (text.match(/load /g) ?? []).length !== n) {
    throw new Error(`/status is wrong:\n${text.slice(0, 600)}`);
  }
  const sent = { runs: c.traffic.runs - runs, sockets: c.traffic.sockets - sockets };
  if (sent.runs !== expect.runs || sent.sockets !== expect.sockets) {
    throw new Error(`/status sent ${sent.runs} execs and ${sent.sockets} socket opens, expected ${expect.runs} and ${expect.sockets}`);
  }
}

/** OpenSSH with nothing from this machine's ssh config, the host key pinned in a file of our own. */
class OpenSsh {
  readonly dir = mkdtempSync(join(tmpdir(), "jaga-bench-ssh-"));
  /** Host name → port of each master opened, for `ssh -O exit`. */
  private readonly masters = new Map<string, number>();
  constructor(private readonly sshd: TestSshd) {
    // HostKeyAlias: one pinned key whatever port (relay or sshd) a host is reached on.
    writeFileSync(join(this.dir, "known_hosts"), `jaga-bench-sshd ${readFileSync(`${join(sshd.dir, "host_ed25519")}.pub`, "utf8")}`);
  }

  private base(port: number): string[] {
    const o = (s: string) => ["-o", s];
    return [
      "-F", "/dev/null",
      ...o("BatchMode=yes"), ...o("IdentitiesOnly=yes"), "-i", this.sshd.userKey,
      ...o("HostKeyAlias=jaga-bench-sshd"), ...o(`UserKnownHostsFile=${join(this.dir, "known_hosts")}`), ...o("StrictHostKeyChecking=yes"),
      ...o("LogLevel=ERROR"), "-p", String(port), "-l", this.sshd.user,
    ];
  }

  /** Options for host `name`'s own master connection (one per host, as on a real fleet). */
  private controlled(name: string, port: number): string[] {
    return [...this.base(port), "-o", "ControlMaster=auto", "-o", `ControlPath=${join(this.dir, `cm-${name}`)}`, "-o", "ControlPersist=10m"];
  }

  /** Starts host `name`'s master (ControlPersist keeps it in the background) and checks it. */
  async openMaster(name: string, port: number): Promise<void> {
    this.masters.set(name, port);
    // stdio ignored: the backgrounded master must not hold our pipes open.
    const code = await new Promise<number | null>((resolve, reject) => {
      const child: ChildProcess = spawn("ssh", [...this.controlled(name, port), "127.0.0.1", "true"], { stdio: "ignore" });
      child.once("error", reject).once("exit", resolve);
    });
    if (code !== 0) throw new Error(`ssh master for ${name} exited ${code}`);
    await run("ssh", [...this.controlled(name, port), "-O", "check", "127.0.0.1"]);
  }

  /** Runs `command` on host `name` over its master. */
  viaMaster(name: string, port: number, command: string): Promise<string> {
    return run("ssh", [...this.controlled(name, port), "127.0.0.1", command], { maxBuffer: 64 << 20 }).then((r) => r.stdout);
  }

  /** Runs `command` over a connection of its own, as plain `ssh host cmd` does. */
  fresh(port: number, command: string): Promise<string> {
    return run("ssh", [...this.base(port), "-o", "ControlMaster=no", "-o", "ControlPath=none", "127.0.0.1", command], { maxBuffer: 64 << 20 }).then((r) => r.stdout);
  }

  /** Ends every master (`ssh -O exit`), then removes the directory. */
  async close(): Promise<void> {
    await Promise.allSettled(
      [...this.masters].map(([name, port]) => run("ssh", [...this.controlled(name, port), "-O", "exit", "127.0.0.1"])),
    );
    this.masters.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The vitals Jaga shows, read by the very script Jaga runs (load, memory, cores, disks). */
function vitalsCommand(home: string): string {
  return shellQuote(["sh", "-c", vitalsProbe.script, "sh", "/", home]);
}

/** What an admin runs for the same picture: PM2's list and those vitals. */
function statusCommand(home: string, bin: string): string {
  return `PM2_HOME=${shellQuote([home])} ${shellQuote([bin])} jlist; ${vitalsCommand(home)}`;
}

function checkSshAnswer(out: string, withPm2 = true): void {
  if ((withPm2 && !out.includes('"name":"healthy"')) || !out.includes("MemTotal:")) throw new Error(`ssh answer is wrong:\n${out.slice(0, 300)}`);
}

/**
 * The resident memory of Jaga as it runs — the built CLI, its own process started as `npm start`
 * starts it (its node flags and environment), console transport, watchers on — with `n` SSH
 * hosts connected and two fleet-wide /status answered.
 */
async function jagaProcessRss(n: number, sshd: TestSshd, home: string, bin: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "jaga-bench-rss-"));
  const t = sshd.target();
  const hosts = Array.from({ length: n }, (_, i) => ({
    name: `h${i + 1}`,
    ssh: { host: t.host, port: t.port, user: t.user, privateKeyPath: t.privateKeyPath, hostKey: t.hostKey },
    pm2Home: home,
    pm2Bin: bin,
  }));
  // JSON is YAML; the watchers' DNS check asks for localhost, which never leaves the machine.
  writeFileSync(join(dir, "jaga.yaml"), JSON.stringify({ language: "en", commandTimeout: "10m", watch: { dns: { name: "localhost" } }, hosts }));
  const start = npmStart();
  const child = spawn(process.execPath, [...start.nodeArgs, join(ROOT, "dist/src/cli.js"), "start"], {
    cwd: dir,
    env: { ...process.env, ...start.env, JAGA_TRANSPORT: "console", LOG_LEVEL: "silent", JAGA_DATA_DIR: join(dir, "data") },
    stdio: ["pipe", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  const answered = (k: number) => (out.match(/`healthy` online/g) ?? []).length >= k * n;
  try {
    for (const k of [1, 2]) {
      child.stdin.write("/status\n");
      await waitFor(() => answered(k), 600_000, `/status #${k} from the jaga process`);
    }
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
  } finally {
    child.stdin.end();
    await new Promise((r) => child.once("close", r));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Starts the delay relay in front of sshd; resolves once it listens. */
async function startRelay(sshdPort: number): Promise<{ port: number; stop(): void }> {
  const port = await freePort();
  const relay = spawn(process.execPath, ["--import", TSX, join(ROOT, "bench/latency-proxy.ts"), String(port), String(sshdPort), String(ONE_WAY_MS)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((r) => relay.stdout.once("data", r));
  return { port, stop: () => relay.kill() };
}

/** Every row for N hosts on one link, interleaved per repetition (the starting row rotates). */
async function measure(link: Link, n: number, sshd: TestSshd, ssh: OpenSsh, home: string, bin: string, results: Results, cpu: Map<string, number[]>): Promise<void> {
  const raw = jagaConfig(n, sshd, link.port, home, bin);
  const command = statusCommand(home, bin);
  const names = Array.from({ length: n }, (_, i) => `${link.label === "loopback" ? "lo" : "far"}-h${i + 1}`);
  // Fresh: watchers never tick, so /status finds no vitals and probes every host.
  const fresh = countedJaga(raw);
  // Warm: one watcher round read every host; a long interval keeps it "fresh" for the whole run.
  const warm = countedJaga(raw, "1h");
  const reps = n >= 50 ? Math.max(1, Math.ceil(REPS / 2)) : REPS;
  try {
    await statusOnce(fresh, n, { runs: n, sockets: n }); // connects the pool
    await Promise.all(warm.jaga.watch.watchers.map((w) => w.tick()));
    await statusOnce(warm, n, { runs: 0, sockets: n });
    await Promise.all(names.map((h) => ssh.openMaster(h, link.port)));
    checkSshAnswer(await ssh.viaMaster(names[0]!, link.port, command));

    const rows: Record<Row, () => Promise<void>> = {
      "Jaga fresh": async () => {
        for (let i = 0; i < INNER; i++) {
          const c0 = process.cpuUsage();
          add(results, key(link.label, "Jaga fresh", n), await timeIt(() => statusOnce(fresh, n, { runs: n, sockets: n })));
          const c = process.cpuUsage(c0);
          add(cpu, key(link.label, "Jaga fresh", n), (c.user + c.system) / 1000);
        }
      },
      "Jaga warm": async () => {
        for (let i = 0; i < INNER; i++) add(results, key(link.label, "Jaga warm", n), await timeIt(() => statusOnce(warm, n, { runs: 0, sockets: n })));
      },
      "parallel ssh, ControlMaster": async () => {
        const outs: string[] = [];
        add(results, key(link.label, "parallel ssh, ControlMaster", n), await timeIt(async () => outs.push(...(await Promise.all(names.map((h) => ssh.viaMaster(h, link.port, command)))))));
        outs.forEach((o) => checkSshAnswer(o));
      },
      "parallel ssh, ControlMaster, vitals only": async () => {
        const outs: string[] = [];
        add(results, key(link.label, "parallel ssh, ControlMaster, vitals only", n), await timeIt(async () => outs.push(...(await Promise.all(names.map((h) => ssh.viaMaster(h, link.port, vitalsCommand(home))))))));
        outs.forEach((o) => checkSshAnswer(o, false));
      },
      "Jaga cold": async () => {
        const cold = countedJaga(raw);
        try {
          add(results, key(link.label, "Jaga cold", n), await timeIt(() => statusOnce(cold, n, { runs: n, sockets: n })));
        } finally {
          await cold.jaga.close();
        }
      },
      "sequential ssh": async () => {
        const outs: string[] = [];
        add(results, key(link.label, "sequential ssh", n), await timeIt(async () => {
          for (let h = 0; h < n; h++) outs.push(await ssh.fresh(link.port, command));
        }));
        outs.forEach((o) => checkSshAnswer(o));
      },
    };
    for (let r = 0; r < reps; r++) {
      for (let k = 0; k < ROWS.length; k++) await rows[ROWS[(r + k) % ROWS.length]!]();
    }
  } finally {
    await Promise.all([fresh.jaga.close(), warm.jaga.close()]);
  }
  process.stderr.write(`${link.label} N=${n} done\n`);
}

function add(m: Map<string, number[]>, k: string, v: number): void {
  m.set(k, [...(m.get(k) ?? []), v]);
}

const hosts = (n: number) => `${n} host${n === 1 ? "" : "s"}`;
const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : ms >= 10 ? `${Math.round(ms)} ms` : `${ms.toFixed(1)} ms`);

function table(title: string, link: string, results: Results): string[] {
  const lines = [`| ${title} | ${SIZES.map((n) => `N=${n}`).join(" | ")} |`, `| --- | ${SIZES.map(() => "---").join(" | ")} |`];
  for (const row of ROWS) {
    const cells = SIZES.map((n) => {
      const xs = results.get(key(link, row, n));
      const base = results.get(key(link, "Jaga fresh", n));
      if (!xs || !base) return "–";
      return row === "Jaga fresh" ? fmt(median(xs)) : `${fmt(median(xs))} (${(median(xs) / median(base)).toFixed(1)}x)`;
    });
    lines.push(`| ${row} | ${cells.join(" | ")} |`);
  }
  return lines;
}

async function main(): Promise<void> {
  const sshd = await startSshd();
  const pm2 = await startPm2({ healthy: "healthy.js" });
  const ssh = new OpenSsh(sshd);
  const relay = await startRelay(sshd.port);
  const results: Results = new Map();
  const cpu = new Map<string, number[]>();
  const far = `${ONE_WAY_MS} ms`;
  const biggest = Math.max(...SIZES);
  let rss: number;
  try {
    for (const n of SIZES) {
      await measure({ label: far, port: relay.port }, n, sshd, ssh, pm2.home, pm2.bin, results, cpu);
      await measure({ label: "loopback", port: sshd.port }, n, sshd, ssh, pm2.home, pm2.bin, results, cpu);
    }
    rss = await jagaProcessRss(biggest, sshd, pm2.home, pm2.bin);
  } finally {
    await ssh.close();
    relay.stop();
    await pm2.stop();
    await sshd.stop();
  }

  const counts = SIZES.map((n) => (n >= 50 ? Math.max(1, Math.ceil(REPS / 2)) : REPS));
  const runs = `medians; Jaga fresh and warm ${INNER}×${REPS} answers, the others ${REPS}${counts.some((c) => c !== REPS) ? ` (N=50: ${INNER}×${counts.at(-1)} and ${counts.at(-1)})` : ""}; ratios to Jaga fresh`;
  const m = (link: string, row: Row, n: number) => median(results.get(key(link, row, n)) ?? [NaN]);
  const small = Math.min(...SIZES);
  // The goal is stated for 10 hosts; a run without N=10 sums up its largest N instead.
  const goal = SIZES.includes(10) ? 10 : biggest;
  const cpuAt = (n: number) => median(cpu.get(key(far, "Jaga fresh", n)) ?? [NaN]);
  const cpuLine = (n: number) => `${cpuAt(n).toFixed(1)} ms for ${hosts(n)} (${(cpuAt(n) / n).toFixed(2)} ms per host)`;
  const lines = [
    `Every host ${ONE_WAY_MS} ms away each way (${runs}):`,
    "",
    ...table(`/status, ${far} link`, far, results),
    "",
    "Bare loopback (all hosts share this machine's 2 cores and one PM2 daemon):",
    "",
    ...table("/status, loopback", "loopback", results),
    "",
    `Jaga's own CPU per fresh /status: ${[...new Set([small, goal, biggest])].map(cpuLine).join(", ")}`,
    `Jaga's resident memory (a real \`jaga start\` process, watchers on) with ${hosts(biggest)} connected, after two /status: ${rss.toFixed(0)} MB`,
  ];
  const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}x`;
  const vsCm = (n: number) => `${fmt(m(far, "Jaga fresh", n))} vs ${fmt(m(far, "parallel ssh, ControlMaster", n))} (${ratio(m(far, "parallel ssh, ControlMaster", n), m(far, "Jaga fresh", n))})`;
  const summary = [
    `fanout: fresh ${hosts(goal)} ${far} ${fmt(m(far, "Jaga fresh", goal))} vs parallel ssh ControlMaster ${fmt(m(far, "parallel ssh, ControlMaster", goal))} (${ratio(m(far, "parallel ssh, ControlMaster", goal), m(far, "Jaga fresh", goal))})`,
    `warm ${fmt(m(far, "Jaga warm", goal))}`,
    ...SIZES.filter((n) => n !== goal).map((n) => `${hosts(n)} fresh ${vsCm(n)}`),
    ...(small !== goal ? [`loopback fresh ${goal} vs ${hosts(small)} ${ratio(m("loopback", "Jaga fresh", goal), m("loopback", "Jaga fresh", small))}`] : []),
    `Jaga CPU ${(cpuAt(goal) / goal).toFixed(2)} ms/host`,
    `RSS ${rss.toFixed(0)} MB (${hosts(biggest)})`,
  ].join(", ");
  console.log([...lines, "", summary].join("\n"));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
