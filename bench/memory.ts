/**
 * `npm run bench:memory`: the resident memory of a real `jaga start` (the built dist/, started
 * as `npm start` starts it: the node flags and variables of package.json's start script) over
 * its start-up and a steady window, read from /proc/<pid>/status (VmRSS every 200 ms; VmHWM,
 * the kernel's own peak, at the end). All on loopback:
 *   - console: the console transport, one local host (the PM2 below), no SSH;
 *   - whatsapp + 10 hosts: the WhatsApp transport logged in to a WhatsApp stand-in
 *     (test/helpers/wa-standin.ts: the real Noise handshake and binary protocol, a paired session
 *     written into Jaga's store beforehand) through a loopback DNS server (`dns.resolvers`),
 *     an alert group and an admin, and one real sshd listed as 10 hosts with a real PM2
 *     behind it; the admin sends /status over WhatsApp every 30 s and reads the reply;
 *   - the same with plain `node dist/src/cli.js start` (no production flags), side by side;
 *   - the same, as the first connection after pairing: Jaga uploads its 812 pre-keys and the
 *     phone sends the first history sync (INITIAL_BOOTSTRAP, RECENT chunks, PUSH_NAME;
 *     BENCH_HISTORY_CHATS × BENCH_HISTORY_MESSAGES, default 200 × 50), Signal-encrypted as a
 *     phone sends it. The payloads travel inline: a real phone puts all but the first on
 *     WhatsApp's media servers, which the bench may not reach; after the download Baileys runs
 *     the same inflate and decode;
 *   - `npm start` itself, on the console: npm, its shell and Jaga, summed (npm stays as the
 *     parent process; its share does not depend on the transport).
 * Baileys' Noise certificate check is pointed at the stand-in's root key by a preload
 * (test/helpers/wa-trust-root.mjs) in the WhatsApp runs; it loads nothing Jaga would not load.
 *
 * Steady: the median VmRSS over the last BENCH_STEADY_S seconds (default 150) after
 * BENCH_SETTLE_S (30) of settling. `--quick`: 20 s steady, 10 s settle, fewer history chunks.
 * BENCH_LOG=<dir> keeps each run's log; BENCH_ONLY=2,4 runs some of the runs (numbered as in
 * the table); BENCH_START="MALLOC_ARENA_MAX=2 --max-semi-space-size=1" measures another start
 * line in place of package.json's. The last line sums it up:
 *   memory: whatsapp+10 hosts steady <x> MB (target 100), peak <y> MB (target 130); console <z> MB; history sync +<w> MB
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { startDnsServer } from "../test/helpers/dns-server.js";
import { ROOT, startPm2, type TestPm2 } from "../test/helpers/pm2.js";
import { reapOnExit } from "../test/helpers/reaper.js";
import { npmStart } from "../test/helpers/start-command.js";
import { startSshd, type TestSshd } from "../test/helpers/sshd.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";
import { firstHistorySync, SignalParty, writePairedSession } from "../test/helpers/wa-peers.js";
import { startWaStandin, type WaStandin } from "../test/helpers/wa-standin.js";

const QUICK = process.argv.includes("--quick");
const STEADY_S = Number(process.env.BENCH_STEADY_S ?? (QUICK ? 20 : 150));
const SETTLE_S = Number(process.env.BENCH_SETTLE_S ?? (QUICK ? 10 : 30));
const HOSTS = Number(process.env.BENCH_HOSTS ?? 10);
const HISTORY = {
  chats: Number(process.env.BENCH_HISTORY_CHATS ?? 200),
  messages: Number(process.env.BENCH_HISTORY_MESSAGES ?? 50),
  recentChunks: QUICK ? 2 : 4,
};
const LOG_DIR = process.env.BENCH_LOG;
const CLI = join(ROOT, "dist/src/cli.js");
const TRUST_ROOT = join(ROOT, "test/helpers/wa-trust-root.mjs");
const SAMPLE_MS = 200;
const COMMAND_EVERY_MS = 30_000;
/** 10 loopback hosts share this machine's 2 cores: a cold fleet-wide /status takes seconds. */
const COMMAND_PATIENCE_MS = 120_000;

const ME = { pn: "6281100000001", lid: "123456789012345", device: 7 };
const ADMIN = { pn: "6281200000001", lid: "223456789012345" };
const GROUP = { jid: "120363000000000001@g.us", subject: "Jaga bench" };
const WA_NAME = "wa.test";

interface Sample {
  at: number;
  rssKb: number;
}

interface RunResult {
  id: Scenario["id"];
  name: string;
  /** Median VmRSS over the steady window, MB. */
  steady: number;
  /** The highest VmRSS in the steady window, MB. */
  steadyMax: number;
  /** VmHWM at the end: the peak of the whole run, MB. */
  peak: number;
  /** From spawn to the first command answered, ms. */
  readyMs: number;
  /** CPU seconds (user + system) over the whole run. */
  cpuS: number;
  commands: { sent: number; answered: number };
  note?: string;
}

const mb = (kb: number) => kb / 1024;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? 0 : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** User + system CPU seconds of `pid` so far (clock ticks are 1/100 s on Linux). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
    return (f[11]! + f[12]!) / 100;
  } catch {
    return 0;
  }
}

function status(pid: number): { rssKb: number; hwmKb: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    return { rssKb: Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0), hwmKb: Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0) };
  } catch {
    return null;
  }
}

/** `pid` and everything below it (npm → sh → node). */
function tree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

interface Scenario {
  id: "console" | "whatsapp" | "plain" | "history" | "npm";
  name: string;
  transport: "console" | "whatsapp";
  hosts: "local" | "ssh";
  /** `node` with the production flags (default), plain `node`, or `npm start`. */
  launch: "production" | "plain" | "npm";
  history?: boolean;
}

interface Fixture {
  sshd: TestSshd;
  pm2: TestPm2;
  dnsAddress: string;
}

function configFor(s: Scenario, f: Fixture, waPort: number): Record<string, unknown> {
  const t = f.sshd.target();
  const hosts =
    s.hosts === "local"
      ? [f.pm2.hostConfig("local")]
      : Array.from({ length: HOSTS }, (_, i) => ({
          name: `h${i + 1}`,
          ssh: { host: t.host, port: t.port, user: t.user, privateKeyPath: t.privateKeyPath, hostKey: t.hostKey },
          pm2Home: f.pm2.home,
          pm2Bin: f.pm2.bin,
        }));
  return {
    language: "en",
    commandTimeout: "10m",
    people: [{ name: "Admin", phone: ADMIN.pn, role: "admin" }],
    alerts: { group: GROUP.jid },
    // The watchers' DNS check asks the hosts' resolver for localhost; WhatsApp's name goes to the loopback DNS server.
    watch: { dns: { name: "localhost" } },
    whatsapp: { url: `ws://${WA_NAME}:${waPort}/ws/chat` },
    dns: { resolvers: [f.dnsAddress] },
    hosts,
  };
}

async function runScenario(s: Scenario, f: Fixture): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), "jaga-bench-mem-"));
  reapOnExit({ path: dir });
  const dataDir = join(dir, "data");
  mkdirSync(dataDir);
  let wa: WaStandin | undefined;
  let child: ChildProcess | undefined;
  const logFile = LOG_DIR ? join(LOG_DIR, `${s.name.replace(/[^a-z0-9]+/gi, "-")}.log`) : undefined;
  try {
    let note: string | undefined;
    if (s.transport === "whatsapp") {
      const phone = new SignalParty(ME.pn, ME.lid);
      const admin = new SignalParty(ADMIN.pn, ADMIN.lid);
      const store = openSqliteStore(join(dataDir, "jaga.db"));
      // A device that has run before holds pre-keys on the server; right after pairing it has none yet.
      const session = writePairedSession(store.waAuth, { ...ME, preKeys: s.history ? 0 : 200, synced: !s.history, phoneIdentity: phone.creds.signedIdentityKey.public });
      await store.close();
      let history;
      if (s.history) {
        const h = firstHistorySync(HISTORY, ME);
        history = h.notifications;
        note = `${h.notifications.length} chunks, ${HISTORY.chats} chats × ${HISTORY.messages} messages, ${mb(h.bytes / 1024).toFixed(1)} MB decoded (${mb(h.deflated / 1024).toFixed(1)} MB deflated)`;
      }
      wa = await startWaStandin({ jaga: session, me: ME, phone, admin, group: GROUP, ...(history ? { history } : {}) });
    }
    const config = configFor(s, f, wa?.port ?? 9);
    writeFileSync(join(dir, "jaga.yaml"), JSON.stringify(config));
    const prod = productionStart();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      JAGA_TRANSPORT: s.transport,
      JAGA_CONFIG: join(dir, "jaga.yaml"),
      JAGA_DATA_DIR: dataDir,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "info",
      ...(s.launch === "production" ? prod.env : {}),
      ...(wa ? { JAGA_WA_STANDIN_ROOT: wa.rootKeyHex } : {}),
    };
    // What tsx puts there would load into Jaga too.
    delete env.NODE_OPTIONS;
    const preload = wa ? ["--import", TRUST_ROOT] : [];
    if (s.launch === "npm") {
      // The console transport: npm's own share does not depend on the transport, and the
      // stand-in's preload would have to go through NODE_OPTIONS, into npm too.
      child = spawn("npm", ["start", "--silent"], { cwd: ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
    } else {
      const nodeArgs = [...(s.launch === "production" ? prod.nodeArgs : []), ...(process.env.BENCH_NODE_EXTRA?.split(/\s+/).filter(Boolean) ?? [])];
      child = spawn(process.execPath, [...nodeArgs, ...preload, CLI, "start"], { cwd: dir, env, stdio: ["pipe", "pipe", "pipe"] });
    }
    const started = Date.now();
    const proc = child;
    reapOnExit({ pid: proc.pid });
    const lastLogs: string[] = [];
    createInterface({ input: proc.stderr! }).on("line", (l) => {
      lastLogs.push(l);
      if (lastLogs.length > 40) lastLogs.shift();
      if (logFile) appendFileSync(logFile, `${l}\n`);
    });
    let stdout = "";
    proc.stdout!.on("data", (c: Buffer) => {
      stdout += c.toString();
      if (stdout.length > 1_000_000) stdout = stdout.slice(-100_000);
    });
    const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
    let dead = false;
    void exited.then(() => (dead = true));

    // Sampling: the whole tree for `npm start`, the node process otherwise.
    const samples: Sample[] = [];
    const peaks = new Map<number, number>();
    const sampler = setInterval(() => {
      const pids = s.launch === "npm" ? tree(proc.pid!) : [proc.pid!];
      let rss = 0;
      for (const p of pids) {
        const st = status(p);
        if (!st) continue;
        rss += st.rssKb;
        peaks.set(p, Math.max(peaks.get(p) ?? 0, st.hwmKb));
      }
      if (rss) samples.push({ at: Date.now(), rssKb: rss });
    }, SAMPLE_MS);

    const fail = (why: string) => new Error(`${s.name}: ${why}\n${lastLogs.slice(-15).join("\n")}`);
    // One command: over WhatsApp as the admin, or on the console's stdin.
    const commands = { sent: 0, answered: 0 };
    const expectHosts = s.hosts === "local" ? 1 : HOSTS;
    const command = async (): Promise<boolean> => {
      commands.sent++;
      let reply: string | null;
      if (wa) {
        reply = await wa.command("/status", COMMAND_PATIENCE_MS);
      } else {
        const before = stdout.length;
        proc.stdin!.write("/status\n");
        const until = Date.now() + COMMAND_PATIENCE_MS;
        while (Date.now() < until && (stdout.slice(before).match(/`healthy` online/g) ?? []).length < expectHosts && !dead) await sleep(50);
        reply = stdout.slice(before);
      }
      const ok = (reply?.match(/`healthy` online/g) ?? []).length >= expectHosts;
      if (ok) commands.answered++;
      return ok;
    };

    try {
      if (wa) await wa.online(120_000).catch(() => Promise.reject(fail("never logged in to the stand-in")));
      if (!(await command())) throw fail("the first /status was not answered");
      const readyMs = Date.now() - started;
      const settleEnd = Date.now() + SETTLE_S * 1000;
      const steadyEnd = settleEnd + STEADY_S * 1000;
      let nextCommand = Date.now() + COMMAND_EVERY_MS;
      while (Date.now() < steadyEnd) {
        if (dead) throw fail("Jaga exited during the run");
        if (Date.now() >= nextCommand) {
          nextCommand += COMMAND_EVERY_MS;
          await command();
        }
        await sleep(200);
      }
      clearInterval(sampler);
      const cpuS = (s.launch === "npm" ? tree(proc.pid!) : [proc.pid!]).reduce((sum, p) => sum + cpuSeconds(p), 0);
      const steadySamples = samples.filter((x) => x.at >= settleEnd).map((x) => x.rssKb);
      const peak = [...peaks.values()].reduce((a, b) => a + b, 0);
      if (wa && s.history) note = `${note}; ${wa.stats.historyReceipts} of ${wa.stats.historySent} read`;
      if (wa && wa.stats.unknownIqs.size) note = `${note ? `${note}; ` : ""}unknown queries: ${[...wa.stats.unknownIqs.keys()].join(", ")}`;
      return {
        id: s.id,
        name: s.name,
        steady: mb(median(steadySamples)),
        steadyMax: mb(Math.max(...steadySamples)),
        peak: mb(peak),
        readyMs,
        cpuS,
        commands,
        ...(note ? { note } : {}),
      };
    } finally {
      clearInterval(sampler);
      // Jaga's own clean stop: end of input on the console, SIGTERM otherwise (npm passes it on).
      if (s.transport === "console") proc.stdin!.end();
      else proc.kill("SIGTERM");
      const code = await Promise.race([exited, sleep(30_000).then(() => "timeout" as const)]);
      if (code === "timeout") {
        for (const p of tree(proc.pid!).reverse()) tryKill(p);
        await exited;
        process.stderr.write(`${s.name}: did not stop within 30 s, killed\n`);
      } else if (code !== 0) {
        process.stderr.write(`${s.name}: exit code ${code}\n${lastLogs.slice(-10).join("\n")}\n`);
      }
    }
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) tryKill(child.pid!);
    await wa?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/**
 * package.json's start script, or BENCH_START ("VAR=value … --flag …") to measure another way
 * of starting before writing it into the three start files.
 */
function productionStart(): { nodeArgs: string[]; env: Record<string, string> } {
  const alt = process.env.BENCH_START;
  if (alt === undefined) return npmStart();
  const words = alt.split(/\s+/).filter(Boolean);
  const env = Object.fromEntries(words.filter((w) => /^[A-Z_][A-Z0-9_]*=/.test(w)).map((w) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)]));
  return { nodeArgs: words.filter((w) => w.startsWith("-")), env };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  // The stand-in's Signal parties are libsignal too, which prints session changes on the
  // console (Jaga counts its own instead, src/chat/baileys/signal-console.ts): not here.
  console.info = console.warn = () => undefined;
  if (LOG_DIR) mkdirSync(LOG_DIR, { recursive: true });
  const prod = productionStart();
  const flags = [...Object.entries(prod.env).map(([k, v]) => `${k}=${v}`), ...prod.nodeArgs].join(" ") || "none";
  const sshd = await startSshd();
  const pm2 = await startPm2({ healthy: "healthy.js" });
  const dns = await startDnsServer({ [WA_NAME]: "127.0.0.1" });
  const f: Fixture = { sshd, pm2, dnsAddress: dns.address };
  const scenarios: Scenario[] = [
    { id: "console", name: "console, local host", transport: "console", hosts: "local", launch: "production" },
    { id: "whatsapp", name: `whatsapp + ${HOSTS} hosts`, transport: "whatsapp", hosts: "ssh", launch: "production" },
    { id: "plain", name: `whatsapp + ${HOSTS} hosts, plain node`, transport: "whatsapp", hosts: "ssh", launch: "plain" },
    { id: "history", name: `whatsapp + ${HOSTS} hosts, first history sync`, transport: "whatsapp", hosts: "ssh", launch: "production", history: true },
    { id: "npm", name: "console, local host, npm start (npm + sh + node)", transport: "console", hosts: "local", launch: "npm" },
  ];
  const only = process.env.BENCH_ONLY?.split(",").map(Number);
  const results: RunResult[] = [];
  try {
    for (const [i, s] of scenarios.entries()) {
      if (only && !only.includes(i + 1)) continue;
      process.stderr.write(`${s.name}…\n`);
      results.push(await runScenario(s, f));
    }
  } finally {
    await dns.close();
    await pm2.stop();
    await sshd.stop();
  }
  const lines = [
    `Production start: node ${flags} (from package.json's start script). Steady: median VmRSS over ${STEADY_S} s after ${SETTLE_S} s of settling; peak: VmHWM of the whole run.`,
    "",
    "| run | steady (MB) | steady max (MB) | peak (MB) | ready (s) | CPU (s) | /status answered |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...results.map(
      (r) => `| ${r.name} | ${r.steady.toFixed(0)} | ${r.steadyMax.toFixed(0)} | ${r.peak.toFixed(0)} | ${(r.readyMs / 1000).toFixed(1)} | ${r.cpuS.toFixed(1)} | ${r.commands.answered}/${r.commands.sent} |`,
    ),
  ];
  for (const r of results.filter((x) => x.note)) lines.push(`${r.name}: ${r.note}`);
  const of = (id: Scenario["id"]) => results.find((r) => r.id === id);
  const [con, wa, plain, hist, npm] = (["console", "whatsapp", "plain", "history", "npm"] as const).map(of);
  if (wa && plain) lines.push(`Production flags vs plain node: steady ${(wa.steady / plain.steady).toFixed(2)}x, peak ${(wa.peak / plain.peak).toFixed(2)}x`);
  if (con && npm) lines.push(`npm start costs ${(npm.steady - con.steady).toFixed(0)} MB more than node directly (steady; npm stays as the parent), peak ${(npm.peak - con.peak).toFixed(0)} MB more`);
  lines.push(
    "",
    `memory: whatsapp+${HOSTS} hosts steady ${wa ? wa.steady.toFixed(0) : "–"} MB (target 100), peak ${wa ? wa.peak.toFixed(0) : "–"} MB (target 130); console ${con ? con.steady.toFixed(0) : "–"} MB; history sync +${hist && wa ? (hist.peak - wa.peak).toFixed(0) : "–"} MB peak`,
  );
  process.stdout.write(`${lines.join("\n")}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
