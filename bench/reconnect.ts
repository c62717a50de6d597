/**
 * `npm run bench:reconnect`: a DNS outage as report 001 met it, for Baileys' README reconnect
 * pattern ("on close, unless logged out, connect again") and for Jaga's reconnector, side by
 * side, at real speed, in two ways DNS fails:
 * - `refused`: every DNS server answers REFUSED at once;
 * - `dropped`: every DNS server takes the query and never answers, so each one waits its timeout.
 *
 * Three DNS servers on loopback (127.53.x.1–3, port 53) stand in for Jaga's default resolvers
 * `[system, 1.1.1.1, 8.8.8.8]`: each program runs in a private mount namespace whose
 * /etc/resolv.conf lists the three (and nsswitch.conf says `hosts: files dns`), so "system" is
 * the real getaddrinfo asking them — with glibc's own timeouts — and Jaga's other two entries
 * are the second and third server, asked directly. The README pattern has only the OS resolver,
 * so both programs ask the same three servers. The WhatsApp server is a WebSocket server on
 * 127.0.0.1. Nothing leaves loopback; the child refuses to start unless its resolver files are
 * the bench's. Needs root (the namespace, and port 53).
 *
 * Each run is its own child process (its CPU and peak RSS are its own; the servers live in this
 * parent). Two measurements, both in wall time:
 * - the outage: `--minutes` (default 2) of DNS failing from the program's start; the counts are
 *   scaled to 10 minutes the same way for both programs: the first 10 s (start-up, the first
 *   socket) as measured, the rest at the rate measured from then on (`--minutes 10`: unscaled);
 * - recovery: `--trials` (default 5) fresh runs per program and mode, DNS answering again 6, 11,
 *   17, 22 and 27 s into the outage (spread over the README pattern's 28 s lookup in `dropped`),
 *   timed from the servers answering to the WhatsApp server's next connection.
 *
 * The machine is shared: read the figures side by side within one run.
 *
 * @example
 * npm run bench:reconnect                             # about 15 min
 * npm run bench:reconnect -- --minutes 10 --trials 9  # the full 10 minutes, unscaled
 * npm run bench:reconnect -- --minutes 0.5 --trials 2 # smoke
 * npm run bench:reconnect -- --modes dropped          # one failure mode
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { configSchema } from "../src/config/schema.js";

type Program = "readme" | "jaga";
type Mode = "refused" | "dropped";
const PROGRAMS: Program[] = ["readme", "jaga"];
let MODES: Mode[] = ["refused", "dropped"];
const HOST = "wa.test";
const TEN_MIN = 10 * 60_000;

/** What the parent tells a child. */
interface ChildSpec {
  program: Program;
  url: string;
  /** Jaga's `dns.resolvers`. */
  resolvers: string[];
  /** The resolv.conf the namespace must show; anything else and the child stops. */
  resolvConf: string;
}

interface Sample {
  attempts: number;
  cpuSeconds: number;
  peakRssMb: number;
  /** Jaga only: its reconnector's state and probes at the end of the window. */
  state?: string;
  dnsProbes?: number;
  /** Jaga only: how often it said "system DNS broken" (the three resolvers failed alike). */
  systemDnsBroken?: number;
}

// ---------------------------------------------------------------------------------------------
// The child: one program, driven by lines on stdin (start, report, stop).

async function child(spec: ChildSpec): Promise<void> {
  // Never the machine's resolver: only inside the bench's namespace.
  const nss = readFileSync("/etc/nsswitch.conf", "utf8");
  if (readFileSync("/etc/resolv.conf", "utf8") !== spec.resolvConf || !/^hosts:\s+files dns\s*$/m.test(nss)) {
    throw new Error("not in the bench's mount namespace: /etc/resolv.conf or nsswitch.conf is the machine's");
  }
  // Everything is loaded before the meter starts: the outage is measured, not module loading.
  const { makeWASocket, DisconnectReason } = await import("@whiskeysockets/baileys");
  const { sqliteAuthState } = await import("../src/chat/baileys/auth-state.js");
  const { openSqliteStore } = await import("../src/store/sqlite/index.js");
  const { silentLogger } = await import("../src/log.js");
  const { waTransport } = await import("../test/helpers/wa-transport.js");
  const send = (line: string) => process.stdout.write(`${line}\n`);

  let attempts = () => 0;
  let extra = (): Partial<Sample> => ({});
  let stop = (): Promise<void> => Promise.resolve();
  let cpu0 = process.cpuUsage();
  const start = () => {
    cpu0 = process.cpuUsage();
    if (spec.program === "readme") {
      const store = openSqliteStore(":memory:");
      const auth = sqliteAuthState(store.waAuth);
      let n = 0;
      let done = false;
      let current: ReturnType<typeof makeWASocket> | undefined;
      // Baileys' README, word for word apart from the url, the logger and the auth store (the
      // same in-memory one Jaga uses). No agent: Node's default lookup, the OS resolver.
      const connectToWhatsApp = () => {
        if (done) return;
        n++;
        const sock = makeWASocket({ auth: auth.state, waWebSocketUrl: spec.url, logger: silentLogger });
        current = sock;
        sock.ev.on("connection.update", (update) => {
          const { connection, lastDisconnect } = update;
          if (connection === "close") {
            const shouldReconnect = (lastDisconnect?.error as { output?: { statusCode?: number } })?.output?.statusCode !== DisconnectReason.loggedOut;
            if (shouldReconnect) connectToWhatsApp();
          }
        });
      };
      connectToWhatsApp();
      attempts = () => n;
      stop = async () => {
        done = true;
        await current?.end(undefined).catch(() => undefined);
        await store.close();
      };
    } else {
      // Jaga as it ships: every timing from the config's defaults.
      const c = configSchema.parse({ whatsapp: { url: spec.url }, dns: { resolvers: spec.resolvers } });
      const { transport, store } = waTransport({
        url: spec.url,
        resolvers: c.dns.resolvers,
        overrides: {
          connectTimeoutMs: c.whatsapp.connectTimeout,
          backoff: { baseMs: c.whatsapp.backoff.base, capMs: c.whatsapp.backoff.cap, resetAfterMs: c.whatsapp.backoff.resetAfter },
          breaker: { failures: c.whatsapp.breaker.failures, withinMs: c.whatsapp.breaker.within, openForMs: c.whatsapp.breaker.openFor },
          dns: { probeIntervalMs: c.dns.probeInterval, recheckIntervalMs: c.dns.recheckInterval, timeoutMs: c.dns.timeout },
          versionTimeoutMs: 5_000,
        },
      });
      let systemDnsBroken = 0;
      transport.reconnector.onChange((e) => {
        if (e.type === "system-dns" && e.broken) systemDnsBroken++;
      });
      void transport.start(() => Promise.resolve());
      attempts = () => transport.reconnector.status().attempts;
      extra = () => ({ state: transport.reconnector.status().state, dnsProbes: transport.reconnector.status().dnsProbes, systemDnsBroken });
      stop = async () => {
        await transport.stop();
        await store.close();
      };
    }
  };
  send("READY");
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === "start") {
      start();
      send("STARTED");
    } else if (line === "report") {
      const cpu = process.cpuUsage(cpu0);
      const s: Sample = { attempts: attempts(), cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssMb: process.resourceUsage().maxRSS / 1024, ...extra() };
      send(`REPORT ${JSON.stringify(s)}`);
    } else if (line === "stop") {
      await stop();
      send("STOPPED");
      process.exit(0);
    }
  }
  // The parent is gone: nothing to report to.
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// The parent: servers, namespaces, windows, trials, the table.

type DnsServer = Awaited<ReturnType<typeof import("../test/helpers/dns-server.js").startDnsServer>>;
type WaServer = Awaited<ReturnType<typeof import("../test/helpers/wa-server.js").startWsServer>>;

interface Bench {
  servers: DnsServer[];
  dir: string;
  resolvConf: string;
}

/** Three DNS servers on 127.53.x.1–3:53 (a free x), and the resolver files that list them. */
async function setUp(): Promise<Bench> {
  const { startDnsServer } = await import("../test/helpers/dns-server.js");
  for (let tries = 0; ; tries++) {
    const x = 1 + Math.floor(Math.random() * 254);
    const servers: DnsServer[] = [];
    try {
      for (const i of [1, 2, 3]) servers.push(await startDnsServer({ [HOST]: "127.0.0.1" }, "refuse", { address: `127.53.${x}.${i}`, port: 53 }));
    } catch (err) {
      await Promise.all(servers.map((s) => s.close()));
      if (tries < 20) continue;
      throw err;
    }
    const dir = mkdtempSync(join(tmpdir(), "jaga-bench-reconnect-"));
    const resolvConf = servers.map((s) => `nameserver ${s.host}\n`).join("");
    writeFileSync(join(dir, "resolv.conf"), resolvConf);
    writeFileSync(join(dir, "nsswitch.conf"), "hosts: files dns\n");
    return { servers, dir, resolvConf };
  }
}

function setMode(b: Bench, mode: Mode | "answer"): void {
  for (const s of b.servers) s.mode = mode === "refused" ? "refuse" : mode === "dropped" ? "silent" : "answer";
}

function queries(b: Bench): number {
  return b.servers.reduce((n, s) => n + (s.queries.get(HOST) ?? 0), 0);
}

/** A child in its own mount namespace: the bench's resolv.conf and nsswitch.conf, no nscd. */
class Child {
  private readonly p: ChildProcess;
  private readonly lines: string[] = [];
  private waiting?: () => void;
  private exited = false;

  constructor(b: Bench, spec: ChildSpec) {
    const script = [
      'mount --bind "$1/resolv.conf" /etc/resolv.conf',
      'mount --bind "$1/nsswitch.conf" /etc/nsswitch.conf',
      // A running nscd would answer from the machine's resolver: hide its socket.
      "{ [ ! -d /run/nscd ] || mount -t tmpfs jaga-bench /run/nscd; }",
      'shift; exec "$@"',
    ].join(" && ");
    const tsx = import.meta.resolve("tsx");
    this.p = spawn(
      "unshare",
      ["--mount", "--propagation", "private", "sh", "-c", script, "sh", b.dir, process.execPath, "--import", tsx, fileURLToPath(import.meta.url), "--child", JSON.stringify(spec)],
      { stdio: ["pipe", "pipe", "inherit"] },
    );
    createInterface({ input: this.p.stdout! }).on("line", (l) => {
      this.lines.push(l);
      this.waiting?.();
    });
    this.p.on("exit", () => {
      this.exited = true;
      this.waiting?.();
    });
  }

  /** Sends `command` (if any) and waits for the line starting with `prefix`. */
  async ask(command: string | null, prefix: string, timeoutMs = 120_000): Promise<string> {
    if (command) this.p.stdin!.write(`${command}\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.lines.findIndex((l) => l.startsWith(prefix));
      if (i >= 0) return this.lines.splice(0, i + 1)[i]!.slice(prefix.length).trim();
      if (this.exited) throw new Error(`the child exited before ${prefix}`);
      if (Date.now() > deadline) {
        this.kill();
        throw new Error(`no ${prefix} from the child in ${timeoutMs} ms`);
      }
      await new Promise<void>((r) => {
        this.waiting = r;
        setTimeout(r, 1_000);
      });
    }
  }

  kill(): void {
    if (!this.exited) this.p.kill("SIGKILL");
  }

  async stop(): Promise<void> {
    try {
      await this.ask("stop", "STOPPED", 60_000);
    } finally {
      this.kill();
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function spawnChild(b: Bench, program: Program, srv: WaServer): Promise<Child> {
  const [, second, third] = b.servers.map((s) => s.host);
  const c = new Child(b, { program, url: `ws://${HOST}:${srv.port}/ws/chat`, resolvers: ["system", second!, third!], resolvConf: b.resolvConf });
  await c.ask(null, "READY");
  return c;
}

interface Outage {
  sample: Sample;
  queries: number;
  wallMs: number;
  /** The same, `WARM_MS` in: what the start cost, before the steady state. */
  warm: { sample: Sample; queries: number; wallMs: number };
  connections: number;
}

/** When the steady state is taken to begin: the first socket built and failed, every module warm. */
const WARM_MS = 10_000;

async function outage(b: Bench, program: Program, mode: Mode, windowMs: number): Promise<Outage> {
  const { startWsServer } = await import("../test/helpers/wa-server.js");
  const srv = await startWsServer("close");
  setMode(b, mode);
  const c = await spawnChild(b, program, srv);
  try {
    for (const s of b.servers) s.queries.clear();
    await c.ask("start", "STARTED");
    const t0 = Date.now();
    const take = async () => ({ sample: JSON.parse(await c.ask("report", "REPORT")) as Sample, queries: queries(b), wallMs: Date.now() - t0 });
    await sleep(WARM_MS);
    const warm = await take();
    await sleep(t0 + windowMs - Date.now());
    const result = { ...(await take()), warm, connections: srv.connections };
    await c.stop();
    return result;
  } finally {
    c.kill();
    await srv.close();
  }
}

interface Trial {
  /** DNS answering again → the WhatsApp server's next connection; null: not within the limit. */
  ms: number | null;
  sample: Sample;
}

/** One trial: DNS fails for `downMs` from the program's start, then answers again. */
async function recovery(b: Bench, program: Program, mode: Mode, downMs: number, giveUpMs: number): Promise<Trial> {
  const { startWsServer } = await import("../test/helpers/wa-server.js");
  const srv = await startWsServer("close");
  setMode(b, mode);
  const c = await spawnChild(b, program, srv);
  try {
    await c.ask("start", "STARTED");
    await sleep(downMs);
    const before = srv.connections;
    setMode(b, "answer");
    const back = performance.now();
    let ms: number | null = null;
    while (performance.now() - back < giveUpMs) {
      if (srv.connections > before) {
        ms = performance.now() - back;
        break;
      }
      await sleep(1);
    }
    const sample = JSON.parse(await c.ask("report", "REPORT")) as Sample;
    setMode(b, mode);
    await c.stop();
    return { ms, sample };
  } finally {
    c.kill();
    await srv.close();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }).replace(/,/g, " ");
const ratio = (a: number, b: number) => (b <= 0 ? "∞" : a / b >= 10 ? fmt(a / b) : fmt(a / b, 1));

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { minutes: { type: "string", default: "2" }, trials: { type: "string", default: "5" }, modes: { type: "string", default: MODES.join(",") } } });
  MODES = values.modes.split(",").filter((m): m is Mode => m === "refused" || m === "dropped");
  const windowMs = Number(values.minutes) * 60_000;
  const trials = Number(values.trials);
  if (!(windowMs >= 2 * WARM_MS) || !(trials >= 1)) throw new Error(`--minutes must be at least ${(2 * WARM_MS) / 60_000} and --trials at least 1`);
  if (process.getuid?.() !== 0) {
    console.error("bench:reconnect needs root: a private mount namespace for resolv.conf, and DNS servers on port 53 of loopback");
    process.exit(1);
  }
  const b = await setUp();
  // Interrupted: the children go with the terminal's signal; the resolver files go too.
  process.once("SIGINT", () => {
    rmSync(b.dir, { recursive: true, force: true });
    process.exit(130);
  });
  const giveUpMs = 60_000;
  // DNS comes back at these moments into the outage, the same for every program and mode.
  const downs = Array.from({ length: trials }, (_, i) => Math.round(3_000 + (27_000 * (i + 0.5)) / trials));
  console.log(
    `DNS outage through three loopback DNS servers (resolv.conf: ${b.servers.map((s) => s.host).join(", ")}; Jaga: dns.resolvers [system, ${b.servers
      .slice(1)
      .map((s) => s.host)
      .join(", ")}]); ${fmt(windowMs / 60_000, 1)}-min outage windows scaled to 10 min, ${trials} recovery trials (DNS back ${downs
      .map((d) => fmt(d / 1000, 1))
      .join(", ")} s in); Node ${process.version}\n`,
  );
  try {
    const outages = new Map<string, Outage>();
    const recoveries = new Map<string, (number | null)[]>();
    for (const mode of MODES) {
      for (const program of PROGRAMS) {
        const o = await outage(b, program, mode, windowMs);
        outages.set(`${program}/${mode}`, o);
        const said = o.sample.systemDnsBroken ? `, said "system DNS broken" ${o.sample.systemDnsBroken}x` : "";
        const j = o.sample.state ? ` · Jaga ended in ${o.sample.state} after ${o.sample.dnsProbes} probes${said}` : "";
        console.log(`outage ${mode}/${program}: ${o.sample.attempts} attempts, ${o.queries} DNS queries, ${fmt(o.sample.cpuSeconds, 2)} CPU s in ${fmt(o.wallMs / 1000, 1)} s${j}`);
        if (o.connections > 0) console.log(`  (!) ${o.connections} connections reached the WhatsApp server while DNS was failing`);
      }
      for (const down of downs) {
        for (const program of PROGRAMS) {
          const { ms, sample } = await recovery(b, program, mode, down, giveUpMs);
          const key = `${program}/${mode}`;
          recoveries.set(key, [...(recoveries.get(key) ?? []), ms]);
          const said = sample.systemDnsBroken ? ` · said "system DNS broken" ${sample.systemDnsBroken}x` : "";
          console.log(
            `recovery ${mode}/${program}, DNS back ${fmt(down / 1000, 1)} s in: ${ms === null ? `not connected in ${giveUpMs / 1000} s` : `${fmt(ms)} ms`} (${sample.attempts} attempts)${said}`,
          );
        }
      }
    }

    // The first WARM_MS as measured, the rest of 10 min at the rate measured after it.
    const scaled = (o: Outage, f: (x: { sample: Sample; queries: number }) => number) =>
      f(o.warm) + ((f(o) - f(o.warm)) * (TEN_MIN - o.warm.wallMs)) / (o.wallMs - o.warm.wallMs);
    const per10 = {
      attempts: (o: Outage) => scaled(o, (x) => x.sample.attempts),
      queries: (o: Outage) => scaled(o, (x) => x.queries),
      cpu: (o: Outage) => scaled(o, (x) => x.sample.cpuSeconds),
    };
    const rec = (program: Program, mode: Mode) => {
      const xs = recoveries.get(`${program}/${mode}`)!;
      const got = xs.filter((x): x is number => x !== null);
      return { median: got.length ? median(got) : null, worst: got.length === xs.length ? Math.max(...got) : null, n: xs.length };
    };
    const recCell = (program: Program, mode: Mode) => {
      const r = rec(program, mode);
      return `${r.median === null ? "never" : fmt(r.median)} / ${r.worst === null ? `>${giveUpMs / 1000} s` : fmt(r.worst)}`;
    };
    const cols = MODES.flatMap((mode) => PROGRAMS.map((program) => ({ mode, program, o: outages.get(`${program}/${mode}`)! })));
    const rows: [string, (c: (typeof cols)[number]) => string][] = [
      [`socket attempts (${fmt(windowMs / 60_000, 1)} min, measured)`, (c) => fmt(c.o.sample.attempts)],
      ["socket attempts per 10 min", (c) => fmt(per10.attempts(c.o))],
      ["DNS queries per 10 min", (c) => fmt(per10.queries(c.o))],
      ["CPU seconds per 10 min", (c) => fmt(per10.cpu(c.o), 2)],
      ["peak RSS (MB)", (c) => fmt(c.o.sample.peakRssMb)],
      [`DNS back → connected, median / worst (ms, ${trials} trials)`, (c) => recCell(c.program, c.mode)],
    ];
    console.log(`\n| | ${cols.map((c) => `${c.mode}: ${c.program === "readme" ? "README pattern" : "Jaga"}`).join(" | ")} |`);
    console.log(`| --- | ${cols.map(() => "---").join(" | ")} |`);
    for (const [name, f] of rows) console.log(`| ${name} | ${cols.map(f).join(" | ")} |`);

    const o = (program: Program, mode: Mode) => outages.get(`${program}/${mode}`)!;
    const times = (mode: Mode, f: (o: Outage) => number) => ratio(f(o("readme", mode)), f(o("jaga", mode)));
    const all = MODES.flatMap((mode) => recoveries.get(`jaga/${mode}`)!);
    const got = all.filter((x): x is number => x !== null);
    console.log(
      `\nPer 10 min: the first ${WARM_MS / 1000} s as measured (start-up, the first socket), the rest at the rate measured ` +
        `from then to the end of the ${fmt(windowMs / 60_000, 1)}-min window; the same for both programs. Recovery: from the ` +
        `servers answering again to the WhatsApp server's next connection, a fresh process per trial.`,
    );
    // The summary: README pattern ÷ Jaga per mode, and Jaga's recovery over every trial.
    const modes = MODES.map((mode, i) =>
      i === 0 ? `${mode} ${times(mode, per10.attempts)}x fewer attempts, ${times(mode, per10.cpu)}x less CPU` : `${mode} ${times(mode, per10.attempts)}x, ${times(mode, per10.cpu)}x`,
    );
    console.log(
      `reconnect: ${modes.join("; ")}; recovery median ${got.length ? fmt(median(got)) : "never"} ms, ` +
        `worst ${got.length === all.length ? `${fmt(Math.max(...got))} ms` : `over ${giveUpMs / 1000} s`} (${all.length} trials)`,
    );
  } finally {
    await Promise.all(b.servers.map((s) => s.close()));
    rmSync(b.dir, { recursive: true, force: true });
  }
}

const i = process.argv.indexOf("--child");
if (i > 0) {
  await child(JSON.parse(process.argv[i + 1]!) as ChildSpec);
} else {
  await main();
}
