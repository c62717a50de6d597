/**
 * The DNS outage of report 001, twice: Baileys' README reconnect pattern ("on close, unless
 * logged out, connect again") against Jaga's reconnector. Both resolve the WhatsApp host through
 * a DNS server on 127.0.0.1 that refuses for the outage and then answers; the "WhatsApp server"
 * is a WebSocket server on 127.0.0.1. Nothing leaves loopback.
 *
 * Each run is its own child process, so CPU and peak RSS are its own. The outage lasts 10
 * minutes: Jaga runs on a clock compressed 30x (its timing takes an injected clock; Baileys' own
 * timers do not matter while no socket is open), so 10 minutes take 20 s. The README pattern
 * has no clock to compress and is a tight loop, so its run is bounded to 20 s of wall time and
 * its attempts are also shown scaled to 10 minutes.
 *
 * @example
 * npm run bench:reconnect
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { systemClock, type Clock } from "../src/clock.js";

const OUTAGE_VIRTUAL_MS = 10 * 60_000;
const COMPRESSION = 30;
const README_BOUND_MS = 20_000;

interface Result {
  name: string;
  attempts: number;
  /** Wall-clock ms the outage ran for in this process. */
  outageWallMs: number;
  cpuSeconds: number;
  peakRssMb: number;
  recoveryMs: number | null;
  dnsQueries: number;
}

/** A clock running `k` times faster than the wall (sleep(ms) waits ms / k). */
function compressedClock(k: number): Clock & { real(ms: number): number } {
  const t0 = Date.now();
  return {
    now: () => t0 + (Date.now() - t0) * k,
    real: (ms) => ms / k,
    sleep: (ms, signal) => systemClock.sleep(ms / k, signal),
  };
}

async function child(kind: "readme" | "jaga"): Promise<Result> {
  const { startDnsServer } = await import("../test/helpers/dns-server.js");
  const { startWsServer } = await import("../test/helpers/wa-server.js");
  const dns = await startDnsServer({ "wa.test": "127.0.0.1" }, "refuse");
  const srv = await startWsServer("close");
  const url = `ws://wa.test:${srv.port}/ws/chat`;
  const spec = { kind: "server" as const, label: dns.address, server: dns.address };
  // Everything is loaded before the meter starts: the outage is measured, not module loading.
  const { makeWASocket, DisconnectReason } = await import("@whiskeysockets/baileys");
  const { Agent } = await import("node:http");
  const { makeLookup } = await import("../src/dns/lookup.js");
  const { sqliteAuthState } = await import("../src/chat/baileys/auth-state.js");
  const { openSqliteStore } = await import("../src/store/sqlite/index.js");
  const { silentLogger } = await import("../src/log.js");
  const { waTransport } = await import("../test/helpers/wa-transport.js");
  let attempts = 0;
  let stopAll: () => Promise<void>;
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();

  if (kind === "readme") {
    const store = openSqliteStore(":memory:");
    const auth = sqliteAuthState(store.waAuth);
    let done = false;
    let current: ReturnType<typeof makeWASocket> | undefined;
    // Baileys' README, word for word apart from the loopback url and resolver.
    const connectToWhatsApp = () => {
      if (done) return;
      attempts++;
      const sock = makeWASocket({
        auth: auth.state,
        waWebSocketUrl: url,
        logger: silentLogger,
        agent: new Agent({ lookup: makeLookup({ resolver: spec }) }) as never,
      });
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
    stopAll = async () => {
      done = true;
      await current?.end(undefined).catch(() => undefined);
      await store.close();
    };
    await new Promise((r) => setTimeout(r, README_BOUND_MS));
  } else {
    const clock = compressedClock(COMPRESSION);
    const { transport, store } = waTransport({
      url,
      resolvers: [dns.address],
      clock,
      overrides: {
        connectTimeoutMs: 20_000,
        backoff: { baseMs: 2_000, capMs: 300_000, resetAfterMs: 60_000 },
        breaker: { failures: 10, withinMs: 300_000, openForMs: 600_000 },
        dns: { probeIntervalMs: 1_000, recheckIntervalMs: 30_000, timeoutMs: 2_000 },
      },
    });
    await transport.start(() => Promise.resolve());
    stopAll = async () => {
      await transport.stop();
      await store.close();
    };
    await new Promise((r) => setTimeout(r, clock.real(OUTAGE_VIRTUAL_MS)));
    attempts = transport.reconnector.status().attempts;
  }
  const outageWallMs = Date.now() - t0;
  const attemptsDuringOutage = attempts;
  const connectionsBefore = srv.connections;
  dns.mode = "answer";
  const back = Date.now();
  let recoveryMs: number | null = null;
  while (Date.now() - back < 10_000) {
    if (srv.connections > connectionsBefore) {
      recoveryMs = Date.now() - back;
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const cpu = process.cpuUsage(cpu0);
  await stopAll();
  const dnsQueries = [...dns.queries.values()].reduce((a, b) => a + b, 0);
  await srv.close();
  await dns.close();
  return {
    name: kind === "readme" ? "Baileys README pattern" : "Jaga reconnector",
    attempts: attemptsDuringOutage,
    outageWallMs,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    recoveryMs,
    dnsQueries,
  };
}

function runChild(kind: "readme" | "jaga"): Promise<Result> {
  return new Promise((resolve, reject) => {
    const tsx = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url));
    const p = spawn(tsx, [fileURLToPath(import.meta.url), "--child", kind], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    // A pinned event loop must not hang the benchmark: hard stop well past the bound.
    const kill = setTimeout(() => p.kill("SIGKILL"), README_BOUND_MS + 60_000);
    p.on("exit", () => {
      clearTimeout(kill);
      const line = out.split("\n").find((l) => l.startsWith("RESULT "));
      if (line) resolve(JSON.parse(line.slice(7)) as Result);
      else reject(new Error(`${kind} run produced no result`));
    });
  });
}

async function main(): Promise<void> {
  const i = process.argv.indexOf("--child");
  if (i > 0) {
    const r = await child(process.argv[i + 1] as "readme" | "jaga");
    process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
    process.exit(0);
  }
  console.log(`DNS outage of 10 min through a loopback DNS server (REFUSED, then answers); Node ${process.version}\n`);
  const readme = await runChild("readme");
  const jaga = await runChild("jaga");
  // The README run covered only part of the outage; Jaga's compressed run covered all of it.
  const scale = (r: Result) => (r === jaga ? 1 : OUTAGE_VIRTUAL_MS / r.outageWallMs);
  const rows: [string, (r: Result) => string][] = [
    ["outage simulated (wall s)", (r) => (r.outageWallMs / 1000).toFixed(1)],
    ["socket attempts (measured)", (r) => String(r.attempts)],
    ["socket attempts per 10 min", (r) => String(Math.round(r.attempts * scale(r)))],
    ["DNS queries", (r) => String(r.dnsQueries)],
    ["CPU seconds (measured)", (r) => r.cpuSeconds.toFixed(2)],
    ["CPU seconds per 10 min", (r) => (r.cpuSeconds * scale(r)).toFixed(2)],
    ["peak RSS (MB)", (r) => r.peakRssMb.toFixed(0)],
    ["DNS answers -> connected (ms)", (r) => (r.recoveryMs === null ? "never (10 s)" : String(r.recoveryMs))],
  ];
  const w = Math.max(...rows.map(([n]) => n.length));
  console.log(`| ${"".padEnd(w)} | ${readme.name.padEnd(22)} | ${jaga.name.padEnd(22)} |`);
  console.log(`| ${"-".repeat(w)} | ${"-".repeat(22)} | ${"-".repeat(22)} |`);
  for (const [n, f] of rows) console.log(`| ${n.padEnd(w)} | ${f(readme).padStart(22)} | ${f(jaga).padStart(22)} |`);
  console.log(
    `\nJaga's clock ran ${COMPRESSION}x fast: all 10 virtual minutes of probing happened in ${(jaga.outageWallMs / 1000).toFixed(0)} s, so its ` +
      `figures are already per 10 min. The README run was bounded to ${README_BOUND_MS / 1000} s of wall time and scaled to 10 min.`,
  );
}

await main();
