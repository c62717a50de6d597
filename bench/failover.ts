/**
 * `npm run bench:failover`: how long a standby takes to become the active Jaga, measured with
 * real processes. Two `jaga start` (JAGA_TRANSPORT=whatsapp, `standby:` with the default ttl of
 * 15 s unless FAILOVER_TTL says otherwise) share a lease in a real PostgreSQL behind a real
 * PostgREST (test/helpers/supabase-stack.ts), with a loopback WhatsApp stand-in that keeps every
 * socket open, all on 127.0.0.1. Each run:
 *
 *   handoff   SIGTERM to the active one → the other says "active" on /health and its socket is open
 *   takeover  kill -9 of the active one → the same (the lease has to expire first)
 *
 * and the stopped one is started again as the standby. Between samples (every 50 ms) no two
 * instances may say "active" and the stand-in may never see two sockets; either is counted as a
 * violation and fails the bench. `lost` and `duplicated` count what the shared outbox
 * (jaga.outbox) holds at the end: every failover must queue exactly one takeover message (the
 * new active instance's first), and the incidents of three hosts that refuse every connection
 * (opened by the first active instance, "unreachable" all along) must each be one incident in
 * the shared desk with one opening alert, however often the active instance changed — none
 * missing, none repeated.
 *
 *   FAILOVER_RUNS=5 FAILOVER_TTL=15 FAILOVER_VIA=postgrest|direct npm run bench:failover
 *
 * The last line reads: failover: handoff <median> s, takeover <median> s, lost <n>, duplicated <n> (<runs> runs)
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { activeOf, JagaFleet, until, type JagaInstance as Instance } from "../test/helpers/jaga-instances.js";
import { freePort } from "../test/helpers/sshd.js";
import { startSupabaseStack, type SupabaseStack } from "../test/helpers/supabase-stack.js";
import { startWsServer, type FakeWaServer } from "../test/helpers/wa-server.js";

const RUNS = Number(process.env.FAILOVER_RUNS ?? 5);
const TTL_S = Number(process.env.FAILOVER_TTL ?? 15);
const VIA = process.env.FAILOVER_VIA === "direct" ? "direct" : "postgrest";

const dir = mkdtempSync(join(tmpdir(), "jaga-bench-failover-"));
/** Hosts that refuse every connection: an "unreachable" incident each, open for the whole run. */
const GONE = ["gone-1", "gone-2", "gone-3"];
const LEASE = "bench-failover";
/** The first few violations, said in words (which instances, how many sockets, when). */
const seen: string[] = [];
const t00 = Date.now();
const at = () => ((Date.now() - t00) / 1000).toFixed(2);
/** Polls every 10 ms, not the helper's 25: a failover's time is read off it. */
const within = (what: string, cond: () => boolean, ms: number) => until(what, cond, ms, 10);
const role = (i: Instance) => i.health?.standby?.role;

/** Set first thing in main(); read by the fleet only when it starts an instance. */
let stack: SupabaseStack;
const fleet = new JagaFleet(dir, () => stack);

/** `jaga start` with jaga's defaults but the ttl, resolved once its /health says a role. */
function start(name: string, wa: FakeWaServer, closedPort: number): Promise<Instance> {
  return fleet.spawn(name, {
    lease: LEASE,
    via: VIA,
    ttlS: TTL_S,
    poll: null,
    language: null,
    logLevel: "warn",
    watch: "watch: { interval: 1s, unreachableAfter: 1, dns: { name: localhost } }",
    whatsapp: `whatsapp: { url: "ws://127.0.0.1:${wa.port}/ws/chat", connectTimeout: 5m }`,
    extra: ["hosts:", ...GONE.map((h) => `  - { name: ${h}, ssh: { host: 127.0.0.1, port: ${closedPort}, user: jaga, privateKeyPath: ${JSON.stringify(join(dir, "key"))} } }`)],
  });
}

/** /health of every running instance, every 50 ms; the invariant checked on each sample. */
function observe(wa: FakeWaServer) {
  return fleet.observe(() => wa.open, {
    onRole: (i, was, now) => {
      if (process.env.FAILOVER_TRACE) console.log(`  ${at()} s: ${i.name} (pid ${i.child.pid}) ${was} → ${now}, epoch ${i.health?.standby?.epoch ?? "-"}`);
    },
    onSample: (live, open) => {
      const active = activeOf(live).map((i) => i.name);
      if ((active.length > 1 || open > 1) && seen.length < 10) seen.push(`${at()} s: active ${active.join("+") || "none"}, ${open} sockets`);
    },
  });
}

function takeoverMessages(i: Instance): string[] {
  const db = new Database(join(i.home, "data", "jaga.db"), { readonly: true, fileMustExist: true });
  try {
    return db.prepare<[], { k: string }>(`SELECT dedupe_key AS k FROM outbox WHERE dedupe_key LIKE 'takeover:%'`).all().map((r) => r.k);
  } finally {
    db.close();
  }
}

/** What the shared outbox and desk hold: lost and duplicated messages, against what must be there. */
async function count(stack: SupabaseStack, failovers: number, local: string[]): Promise<{ lost: number; duplicated: number; detail: string }> {
  const keys = (await stack.sql<{ k: string }>(`select dedupe_key as k from jaga.outbox where lease = $1`, [LEASE])).map((r) => r.k);
  const incidents = await stack.sql<{ host: string; uid: string }>(`select host, uid from jaga.incident where lease = $1 and kind = 'unreachable'`, [LEASE]);
  // Every failover is one new term, and the very first start is one more.
  const takeovers = keys.filter((k) => k.startsWith("takeover:")).length;
  const openings = incidents.map((i) => keys.filter((k) => k === `incident:${i.uid}:open`).length);
  const hostsWithOne = new Set(incidents.map((i) => i.host));
  const lost = Math.max(0, failovers + 1 - takeovers) + GONE.filter((h) => !hostsWithOne.has(h)).length + openings.filter((n) => n === 0).length;
  const duplicated = local.length - new Set(local).size + (incidents.length - hostsWithOne.size) + openings.reduce((n, o) => n + Math.max(0, o - 1), 0);
  return { lost, duplicated, detail: `${takeovers} takeover messages for ${failovers + 1} terms; ${incidents.length} incidents for ${GONE.length} hosts, ${openings.reduce((a, b) => a + b, 0)} opening alerts` };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const secs = (ms: number) => (ms / 1000).toFixed(2);

async function main(): Promise<void> {
  const [started, wa, closedPort] = await Promise.all([startSupabaseStack(), startWsServer("silent"), freePort()]);
  stack = started;
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "key")]);
  const observer = observe(wa);
  observer.start();
  const handoffs: number[] = [];
  const takeovers: number[] = [];
  let failovers = 0;
  try {
    let a = await start("a", wa, closedPort);
    let b = await start("b", wa, closedPort);
    const pair = () => [a, b];
    const activeOne = async () => {
      await within("one active with its socket", () => activeOf(pair()).length === 1 && wa.open === 1, 60_000);
      const act = activeOf(pair())[0]!;
      return { act, other: act === a ? b : a };
    };
    const failover = async (signal: "SIGTERM" | "SIGKILL"): Promise<number> => {
      const { act, other } = await activeOne();
      await within("the other stands by", () => role(other) === "standby", 30_000);
      const t0 = Date.now();
      if (process.env.FAILOVER_TRACE) console.log(`  ${at()} s: ${signal} ${act.name} (pid ${act.child.pid})`);
      act.child.kill(signal);
      await within("the other active with its socket", () => role(other) === "active" && wa.open === 1, TTL_S * 1000 + 30_000);
      const took = Date.now() - t0;
      failovers++;
      await act.exit;
      const again = await start(act.name, wa, closedPort);
      if (act === a) a = again;
      else b = again;
      return took;
    };
    for (let run = 1; run <= RUNS; run++) {
      handoffs.push(await failover("SIGTERM"));
      takeovers.push(await failover("SIGKILL"));
      console.log(`run ${run}: handoff ${secs(handoffs.at(-1)!)} s, takeover ${secs(takeovers.at(-1)!)} s (at ${((Date.now() - t00) / 1000).toFixed(1)} s)`);
    }
    await activeOne();
    // The last takeover's message reaches the shared outbox with the new term's first pump round.
    await new Promise((r) => setTimeout(r, 3_000));
    const { lost, duplicated, detail } = await count(stack, failovers, pair().flatMap(takeoverMessages));
    console.log(detail);
    console.log("");
    console.log(`| ${VIA}, ttl ${TTL_S} s | median | worst |`);
    console.log("| --- | --- | --- |");
    console.log(`| handoff (SIGTERM) | ${secs(median(handoffs))} s | ${secs(Math.max(...handoffs))} s |`);
    console.log(`| takeover (kill -9) | ${secs(median(takeovers))} s | ${secs(Math.max(...takeovers))} s |`);
    const violations = observer.violations.length;
    console.log(`| two active, or two sockets, at any sample | ${violations} | |`);
    for (const v of seen) console.log(`  violation at ${v}`);
    console.log("");
    console.log(`failover: handoff ${secs(median(handoffs))} s, takeover ${secs(median(takeovers))} s, lost ${lost}, duplicated ${duplicated} (${RUNS} runs)`);
    if (violations > 0 || lost > 0 || duplicated > 0) process.exitCode = 1;
  } finally {
    observer.stop();
    await fleet.killAll();
    await wa.close();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
