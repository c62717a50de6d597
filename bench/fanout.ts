/**
 * `npm run bench:fanout`: `/status` latency over SSH on loopback, one real sshd listed as N
 * inventory hosts (N = 1, 10, 50), against a real PM2. Compares:
 *   - Jaga warm: pooled connections already open (what a running Jaga answers with)
 *   - Jaga cold: a fresh inventory, so every host connects first
 *   - ssh2 connect-per-command: the same /status, but a new SSH connection per command
 *   - sequential OpenSSH: `ssh host pm2 jlist` for one host after another (what an admin types)
 * Prints medians with ratios to Jaga warm, and Jaga's resident memory with 50 hosts connected.
 * "Warm" is Jaga as it runs: connections pooled, PM2 asked over its socket, and host vitals
 * served from the watchers' last round (they read every host each interval anyway).
 * Every host is 127.0.0.1: nothing leaves this machine. Set BENCH_REPS to change repetitions.
 *
 * Note: on loopback all "hosts" share this machine's CPUs, so N hosts cost N times the remote
 * work (each /status runs pm2 and the login shell on every host); on a real fleet that work is
 * spread over N machines and only the network wait overlaps.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import ssh2 from "ssh2";
import type { ExecOptions, ExecResult, Executor } from "../src/hosts/executor.js";
import { shellQuote } from "../src/hosts/quote.js";
import { Inventory } from "../src/hosts/inventory.js";
import { harness, testConfig } from "../test/helpers/harness.js";
import { watchHarness } from "../test/helpers/watch.js";
import { ROOT, startPm2, TSX, waitFor } from "../test/helpers/pm2.js";
import { freePort, startSshd, type TestSshd } from "../test/helpers/sshd.js";
import { Pipeline } from "../src/pipeline/pipeline.js";
import { Directory } from "../src/pipeline/people.js";
import { commands } from "../commands/index.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";
import { systemClock } from "../src/clock.js";
import { silentLogger } from "../src/log.js";

const run = promisify(execFile);
/** BENCH_SIZES=1,10 runs a subset (e.g. where the login shell makes 50 parallel logins crawl). */
const SIZES = (process.env.BENCH_SIZES ?? "1,10,50").split(",").map(Number);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const OWN_DAEMONS = "Jaga warm, a PM2 daemon per host";
const ONE_WAY_MS = 20;
const OVER_NETWORK = `Jaga warm, every host ${ONE_WAY_MS} ms away`;
/** Warm answers take milliseconds, where a scheduler hiccup is the same size: take many. */
const WARM_REPS = Number(process.env.BENCH_WARM_REPS ?? 31);

/** One new SSH connection per command: the naive way, for comparison only. */
class ConnectPerCommand implements Executor {
  readonly kind = "ssh" as const;
  constructor(private readonly sshd: TestSshd) {}
  async run(argv: readonly string[], _options: ExecOptions = {}): Promise<ExecResult> {
    const started = Date.now();
    const ssh = new ssh2.Client();
    await new Promise<void>((resolve, reject) => {
      ssh.once("ready", resolve).once("error", reject);
      ssh.connect({ host: "127.0.0.1", port: this.sshd.port, username: this.sshd.user, privateKey: readFileSync(this.sshd.userKey) });
    });
    try {
      const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        ssh.exec(`exec ${shellQuote(argv)}`, (err, ch) => {
          if (err) return reject(err);
          let stdout = "";
          let stderr = "";
          let code: number | null = null;
          ch.on("data", (c: Buffer) => (stdout += c.toString()));
          ch.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
          ch.on("exit", (c: number | null) => (code = c));
          ch.on("close", () => resolve({ code, stdout, stderr }));
        });
      });
      return { ...r, truncated: false, timedOut: false, durationMs: Date.now() - started };
    } finally {
      ssh.end();
    }
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function hostsFor(sshd: TestSshd, home: string, bin: string, n: number) {
  return Array.from({ length: n }, (_, i) => ({ name: `h${i + 1}`, ssh: sshd.target(), pm2Home: home, pm2Bin: bin }));
}

/** 50 loopback "hosts" share this machine's CPUs; the 30 s chat timeout would cut them off. */
function benchConfig(n: number, sshd: TestSshd, home: string, bin: string) {
  return { language: "en", commandTimeout: "10m", hosts: hostsFor(sshd, home, bin, n) };
}

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * The resident memory of Jaga as it runs — the built CLI, its own process, console transport,
 * watchers on — with `n` SSH hosts connected and two fleet-wide /status answered.
 */
async function jagaProcessRss(n: number, sshd: TestSshd, home: string, bin: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "jaga-bench-rss-"));
  const t = sshd.target();
  const hosts = Array.from({ length: n }, (_, i) =>
    JSON.stringify({ name: `h${i + 1}`, ssh: { host: t.host, port: t.port, user: t.user, privateKeyPath: t.privateKeyPath, hostKey: t.hostKey }, pm2Home: home, pm2Bin: bin }),
  );
  // JSON is YAML; the watchers' DNS check asks for localhost, which never leaves the machine.
  writeFileSync(join(dir, "jaga.yaml"), JSON.stringify({ language: "en", commandTimeout: "10m", watch: { dns: { name: "localhost" } }, hosts: hosts.map((h) => JSON.parse(h) as unknown) }));
  const child = spawn(process.execPath, [join(ROOT, "dist/src/cli.js")], {
    cwd: dir,
    env: { ...process.env, JAGA_TRANSPORT: "console", LOG_LEVEL: "silent", JAGA_DATA_DIR: join(dir, "data") },
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

/**
 * Median /status of Jaga as it runs: pooled connections, and watchers that have read every
 * host's vitals this interval (a running Jaga reads them every 30 s whether anyone asks or not).
 * The first answer is checked, so a broken setup cannot pass for a fast one.
 */
async function warmStatus(raw: Record<string, unknown>, n: number): Promise<number> {
  const warm = watchHarness(raw);
  try {
    await Promise.all(warm.watch.watchers.map((w) => w.tick()));
    const check = (await warm.send("/status")) ?? "";
    if ((check.match(/`healthy` online/g) ?? []).length !== n) throw new Error(`warm-up /status is wrong:\n${check.slice(0, 500)}`);
    const w: number[] = [];
    for (let i = 0; i < WARM_REPS; i++) w.push(await timeIt(() => warm.send("/status")));
    return median(w);
  } finally {
    await warm.close();
  }
}

async function main(): Promise<void> {
  const sshd = await startSshd();
  const pm2 = await startPm2({ healthy: "healthy.js" });
  const results: Record<string, Record<number, number>> = {
    "Jaga warm": {},
    [OWN_DAEMONS]: {},
    [OVER_NETWORK]: {},
    "Jaga cold": {},
    "ssh2 connect-per-command": {},
    "sequential ssh pm2 jlist": {},
  };
  let rss50: number | undefined;
  let rssHosts: number | undefined;
  try {
    for (const n of SIZES) {
      const raw = benchConfig(n, sshd, pm2.home, pm2.bin);
      const reps = n >= 50 ? Math.max(1, Math.ceil(REPS / 2)) : REPS;

      results["Jaga warm"]![n] = await warmStatus(raw, n);

      const c: number[] = [];
      for (let i = 0; i < reps; i++) {
        const cold = harness(raw);
        c.push(await timeIt(() => cold.send("/status")));
        await cold.close();
      }
      results["Jaga cold"]![n] = median(c);

      const p: number[] = [];
      for (let i = 0; i < reps; i++) {
        const config = testConfig(raw);
        const inventory = Inventory.fromConfig(config.hosts, () => new ConnectPerCommand(sshd));
        const store = openSqliteStore(":memory:");
        const pipeline = new Pipeline({ commands, directory: new Directory(config), hosts: inventory, store, config, clock: systemClock, log: silentLogger });
        p.push(await timeIt(() => pipeline.handle({ id: "b", chatId: "console", isGroup: false, senderId: "console", text: "/status", at: Date.now() })));
        await store.close();
      }
      results["ssh2 connect-per-command"]![n] = median(p);

      const s: number[] = [];
      const sshArgs = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-i", sshd.userKey, "-p", String(sshd.port), `${sshd.user}@127.0.0.1`];
      for (let i = 0; i < reps; i++) {
        s.push(
          await timeIt(async () => {
            for (let h = 0; h < n; h++) await run("ssh", [...sshArgs, `PM2_HOME=${pm2.home} ${pm2.bin} jlist`], { maxBuffer: 64 * 1024 * 1024 });
          }),
        );
      }
      results["sequential ssh pm2 jlist"]![n] = median(s);
      process.stderr.write(`N=${n} done\n`);
    }
    // Closer to a real fleet: every inventory host has a PM2 daemon of its own (up to 10).
    for (const n of SIZES.filter((k) => k <= 10)) {
      const daemons = await Promise.all(Array.from({ length: n }, () => startPm2({ healthy: "healthy.js" })));
      try {
        const raw = { ...benchConfig(n, sshd, pm2.home, pm2.bin), hosts: daemons.map((d, i) => ({ name: `h${i + 1}`, ssh: sshd.target(), pm2Home: d.home, pm2Bin: d.bin })) };
        results[OWN_DAEMONS]![n] = await warmStatus(raw, n);
      } finally {
        await Promise.all(daemons.map((d) => d.stop()));
      }
    }
    // What fan-out is for: hosts across a network. Every host 20 ms away each way (a relay
    // process in front of sshd), so the host-side work is small next to the round trips.
    for (const n of SIZES) {
      const port = await freePort();
      const relay = spawn(process.execPath, ["--import", TSX, join(ROOT, "bench/latency-proxy.ts"), String(port), String(sshd.port), String(ONE_WAY_MS)], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      try {
        await new Promise((r) => relay.stdout.once("data", r));
        const raw = { ...benchConfig(n, sshd, pm2.home, pm2.bin), hosts: hostsFor(sshd, pm2.home, pm2.bin, n).map((h) => ({ ...h, ssh: sshd.target({ port }) })) };
        results[OVER_NETWORK]![n] = await warmStatus(raw, n);
      } finally {
        relay.kill();
      }
    }
    const biggest = Math.max(...SIZES);
    rss50 = await jagaProcessRss(biggest, sshd, pm2.home, pm2.bin);
    rssHosts = biggest;
  } finally {
    await pm2.stop();
    await sshd.stop();
  }

  const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);
  const lines = [
    `| /status median (${REPS} runs, warm ${WARM_REPS}; N=50: ${Math.max(1, Math.ceil(REPS / 2))}) | ${SIZES.map((n) => `N=${n}`).join(" | ")} |`,
    `| --- | ${SIZES.map(() => "---").join(" | ")} |`,
  ];
  for (const [name, byN] of Object.entries(results)) {
    const cells = SIZES.map((n) => (byN[n] === undefined ? "–" : `${fmt(byN[n])} (${(byN[n] / results["Jaga warm"]![n]!).toFixed(1)}x)`));
    lines.push(`| ${name} | ${cells.join(" | ")} |`);
  }
  lines.push("");
  if (rss50) lines.push(`Jaga's resident memory (a real \`jaga start\` process) with ${rssHosts} hosts connected, after two /status: ${rss50.toFixed(0)} MB`);
  const warm = results["Jaga warm"]!;
  if (warm[1] && warm[10]) lines.push(`Warm /status, 10 hosts vs 1: ${(warm[10] / warm[1]).toFixed(2)}x`);
  const far = results[OVER_NETWORK]!;
  if (far[1] && far[10]) lines.push(`Warm /status with every host ${ONE_WAY_MS} ms away, 10 hosts vs 1: ${(far[10] / far[1]).toFixed(2)}x`);
  const own = results[OWN_DAEMONS]!;
  if (own[1] && own[10]) lines.push(`Warm /status with a PM2 daemon per host, 10 hosts vs 1: ${(own[10] / own[1]).toFixed(2)}x`);
  const seq = results["sequential ssh pm2 jlist"]![10];
  if (seq && warm[10]) lines.push(`Sequential ssh vs Jaga warm at N=10: ${(seq / warm[10]).toFixed(1)}x`);
  console.log(lines.join("\n"));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

