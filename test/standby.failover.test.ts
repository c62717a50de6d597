/**
 * Failover with real processes: two `jaga start` (JAGA_TRANSPORT=whatsapp, `standby:` in their
 * jaga.yaml, each its own data directory) against a real PostgreSQL + PostgREST
 * (test/helpers/supabase-stack.ts) and one loopback WhatsApp stand-in that accepts a socket and
 * never answers, so the active instance's socket stays open for as long as it is active: two
 * sockets at once would show as two open connections there.
 *
 * Throughout, both /health pages and the stand-in are sampled every 50 ms; at no sample may two
 * instances say "active", and the stand-in may never have seen two sockets open at once.
 * Scenarios, in order: both started at once; SIGTERM of the active one (handover); kill -9 of
 * the active one (takeover at the expiry, the standby reporting it silent first); PostgREST
 * stopped (the active one steps down before its lease expires, nobody is active while the
 * database cannot be reached, one is again after); and, over a direct connection, kill -9 taken
 * over through the session advisory lock long before the ttl. After the kill -9, what the killed
 * instance had queued is in the shared outbox (jaga.outbox), unsent, for the new active one.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { activeOf, JagaFleet, until, type JagaInstance as Instance, type SpawnOptions as FleetOptions } from "./helpers/jaga-instances.js";
import { freePort } from "./helpers/sshd.js";
import { startSupabaseStack, type SupabaseStack } from "./helpers/supabase-stack.js";
import { startTcpProxy } from "./helpers/tcp-proxy.js";
import { startWsServer, type FakeWaServer } from "./helpers/wa-server.js";

const dir = mkdtempSync(join(tmpdir(), "jaga-failover-"));
const TTL_S = 3;
let stack: SupabaseStack;
let wa: FakeWaServer;
const fleet = new JagaFleet(dir, () => stack);

before(async () => {
  [stack, wa] = await Promise.all([startSupabaseStack(), startWsServer("silent")]);
});
after(async () => {
  await fleet.killAll();
  await wa?.close();
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** `watch` replaces the default `watch: { enabled: false }` line; `extra` lines go at the end; `lease` names the lease. */
type SpawnOptions = Partial<Pick<FleetOptions, "databaseUrl" | "watch" | "extra" | "lease">>;

function spawnJaga(name: string, via: "postgrest" | "direct", ttlS = TTL_S, o: SpawnOptions = {}): Promise<Instance> {
  return fleet.spawn(name, {
    ...o,
    via,
    ttlS,
    lease: o.lease ?? `failover-${via}`,
    // The stand-in never answers: the handshake hangs, and the socket stays open that long.
    whatsapp: `whatsapp: { url: "ws://127.0.0.1:${wa.port}/ws/chat", connectTimeout: 5m }`,
  });
}

const observe = () => fleet.observe(() => wa.open);
const reap = (lease: string) => fleet.reap(lease);

/** The messages queued in an instance's outbox (its data directory's SQLite, read beside it). */
function queued(i: Instance): string[] {
  const db = new Database(join(i.home, "data", "jaga.db"), { readonly: true, fileMustExist: true });
  try {
    return db.prepare<[], { text: string }>(`SELECT text FROM outbox WHERE dedupe_key LIKE 'takeover:%' ORDER BY id`).all().map((r) => r.text);
  } finally {
    db.close();
  }
}

describe("two real `jaga start` processes sharing one lease (PostgREST)", () => {
  const observer = observe();
  let a: Instance;
  let b: Instance;
  before(() => observer.start());
  after(async () => {
    observer.stop();
    await reap("failover-postgrest");
    assert.deepEqual(observer.violations, []);
    assert.ok(observer.samples > 50, `only ${observer.samples} samples`);
    assert.ok(wa.maxConcurrent <= 1, `the stand-in saw ${wa.maxConcurrent} sockets at once`);
  });

  it("started at once: exactly one is active and holds the one socket; the other stands by and reports it", async () => {
    [a, b] = await Promise.all([spawnJaga("a", "postgrest"), spawnJaga("b", "postgrest")]);
    await until("one active", () => activeOf([a, b]).length === 1);
    await until("the socket of the active one", () => wa.open === 1);
    const [act] = activeOf([a, b]);
    const other = act === a ? b : a;
    await until("the standby has read the holder", () => other.health?.standby?.holder?.instance === act!.name);
    assert.equal(other.health?.standby?.role, "standby");
    await until("both list both", () => [a, b].every((i) => (i.health?.standby?.instances.length ?? 0) === 2), 8_000);
    assert.deepEqual(other.health?.reasons ?? [], [], "a healthy standby is not degraded for having no socket");
  });

  it("SIGTERM: the active one hands over at once, its socket closed before the other opens one", async () => {
    const [act] = activeOf([a, b]);
    const other = act === a ? b : a;
    const t0 = Date.now();
    act!.child.kill("SIGTERM");
    await until("the other active", () => other.health?.standby?.role === "active", 10_000);
    const handoff = Date.now() - t0;
    // The target is 3 s (bench:failover measures it, about 1 s); a loaded CI machine gets a second more.
    assert.ok(handoff <= 4_000, `handover took ${handoff} ms`);
    assert.deepEqual(await act!.exit, { code: 0, signal: null });
    await until("the new socket", () => wa.open === 1);
    const texts = queued(other);
    assert.equal(texts.length, 1, texts.join("\n---\n"));
    assert.match(texts[0]!, new RegExp(`^🔄 \\*${other.name}\\* took over as the active Jaga \\(${act!.name} handed over at `));
    if (act === a) a = await spawnJaga("a", "postgrest");
    else b = await spawnJaga("b", "postgrest");
  });

  it("kill -9: the standby reports the active one silent, then takes over after the lease expires", async () => {
    await until("one active", () => activeOf([a, b]).length === 1);
    const [act] = activeOf([a, b]);
    const other = act === a ? b : a;
    await until("the restarted one stands by", () => other.health?.standby?.role === "standby" && other.health.standby.holder !== null);
    const t0 = Date.now();
    act!.child.kill("SIGKILL");
    const logFrom = other.stderr.length;
    await until("the other active", () => other.health?.standby?.role === "active", 15_000);
    const takeover = Date.now() - t0;
    // Read from its log, not by sampling /health: on a loaded machine the silent spell between the
    // last renewal and the takeover can fall between two samples.
    const log = other.stderr.slice(logFrom);
    const silentAt = log.indexOf('"msg":"standby: the active instance went silent"');
    assert.ok(silentAt >= 0, `the standby said the active one went silent:\n${log.slice(-3000)}`);
    const acquiredAt = log.indexOf('"msg":"standby: lease acquired; this instance is active"');
    assert.ok(acquiredAt >= 0 && silentAt < acquiredAt, "before it took over");
    assert.ok(takeover >= (TTL_S * 1000) / 3, `took over after ${takeover} ms: before the lease could have expired`);
    assert.ok(takeover <= TTL_S * 1000 + 2_500, `took over after ${takeover} ms`);
    await until("its socket", () => wa.open === 1);
    const texts = queued(other);
    assert.match(texts.at(-1)!, new RegExp(`took over as the active Jaga \\(${act!.name} went silent: last heard of at `));
    // What the killed one had queued (its own takeover message: the stand-in never lets anything
    // out) is in the shared outbox, once and unsent: the new active instance's queue, not its own.
    const shared = await stack.sql<{ text: string; sent_at: string | null; dead_at: string | null }>(
      `select text, sent_at, dead_at from jaga.outbox where lease = 'failover-postgrest' and dedupe_key like 'takeover:%' order by id`,
    );
    const left = shared.filter((r) => r.text.startsWith(`🔄 *${act!.name}* took over`));
    assert.ok(left.length >= 1, shared.map((r) => r.text).join("\n---\n"));
    assert.ok(left.every((r) => r.sent_at === null && r.dead_at === null), "still to be sent, by the new active one");
    if (act === a) a = await spawnJaga("a", "postgrest");
    else b = await spawnJaga("b", "postgrest");
  });

  it("PostgREST stopped: the active one steps down (its socket closed) before its lease can expire, and nobody is active until it is back", async () => {
    await until("one active", () => activeOf([a, b]).length === 1);
    await until("the socket", () => wa.open === 1);
    stack.setDown(true);
    const t0 = Date.now();
    try {
      await until("nobody active", () => activeOf([a, b]).length === 0 && wa.open === 0, 8_000);
      const down = Date.now() - t0;
      assert.ok(down < TTL_S * 1000, `stepped down after ${down} ms, the ttl is ${TTL_S} s`);
      await new Promise((r) => setTimeout(r, TTL_S * 1000));
      assert.equal(activeOf([a, b]).length, 0, "nobody can be active without the database");
    } finally {
      stack.setDown(false);
    }
    await until("one active again", () => activeOf([a, b]).length === 1, 10_000);
    await until("its socket", () => wa.open === 1);
  });

  it("both stopped with SIGTERM exit 0; both started again at once: one active, what was queued still queued once", async () => {
    const queuedBefore = await stack.sql<{ k: string }>(`select dedupe_key as k from jaga.outbox where lease = 'failover-postgrest' and sent_at is null order by id`);
    for (const i of [a, b]) i.child.kill("SIGTERM");
    for (const i of [a, b]) assert.deepEqual(await i.exit, { code: 0, signal: null });
    await until("no socket", () => wa.open === 0);
    [a, b] = await Promise.all([spawnJaga("a", "postgrest"), spawnJaga("b", "postgrest")]);
    await until("one active", () => activeOf([a, b]).length === 1);
    await until("its socket", () => wa.open === 1);
    // Its takeover message (keyed by its term) reaches the shared outbox with its first pump round.
    await until("its takeover message in the shared outbox", async () =>
      (await stack.sql(`select 1 from jaga.outbox o join jaga.lease l on l.name = o.lease where o.lease = 'failover-postgrest' and o.dedupe_key = 'takeover:failover-postgrest:' || l.epoch`)).length === 1,
    );
    const after = (await stack.sql<{ k: string }>(`select dedupe_key as k from jaga.outbox where lease = 'failover-postgrest' and sent_at is null order by id`)).map((r) => r.k);
    assert.deepEqual(after.slice(0, queuedBefore.length), queuedBefore.map((r) => r.k), "the old terms' queue, in order");
    assert.equal(new Set(after).size, after.length, "none twice");
    for (const i of [a, b]) i.child.kill("SIGTERM");
    for (const i of [a, b]) assert.deepEqual(await i.exit, { code: 0, signal: null });
    await until("no socket", () => wa.open === 0);
  });
});

describe("over a direct connection (JAGA_DATABASE_URL): the session advisory lock", () => {
  const observer = observe();
  before(() => observer.start());
  after(async () => {
    observer.stop();
    await reap("failover-direct");
    assert.deepEqual(observer.violations, []);
  });

  it("kill -9 of the active one is taken over when its connection dies, long before the ttl", async () => {
    const ttl = 30;
    const [a, b] = await Promise.all([spawnJaga("a", "direct", ttl), spawnJaga("b", "direct", ttl)]);
    await until("one active", () => activeOf([a, b]).length === 1);
    const [act] = activeOf([a, b]);
    const other = act === a ? b : a;
    await until("the standby stands by", () => other.health?.standby?.holder !== null && other.health?.standby?.holder !== undefined);
    const t0 = Date.now();
    act!.child.kill("SIGKILL");
    await until("the other active", () => other.health?.standby?.role === "active", 10_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${other.stderr.slice(-4000)}`);
    });
    const takeover = Date.now() - t0;
    assert.ok(takeover < 5_000, `took over after ${takeover} ms; the ttl is ${ttl} s`);
    await until("its socket", () => wa.open === 1);
    assert.match(queued(other).at(-1)!, new RegExp(`\\(${act!.name}'s database connection ended at `));
    other.child.kill("SIGTERM");
    assert.deepEqual(await other.exit, { code: 0, signal: null });
  });
});

describe("over a direct connection, blackholed (a pulled cable, nothing closed)", () => {
  const observer = observe();
  const lease = `blackhole-${process.pid}`;
  before(() => observer.start());
  after(async () => {
    observer.stop();
    await reap(lease);
    assert.deepEqual(observer.violations, []);
  });

  it("the active one steps down (its socket closed) before its lease can expire; the other takes over only after that", async () => {
    const ttl = 4;
    const target = new URL(stack.databaseUrl);
    const proxies = await Promise.all([startTcpProxy(Number(target.port)), startTcpProxy(Number(target.port))]);
    const through = (port: number) => Object.assign(new URL(stack.databaseUrl), { port: String(port) }).toString();
    try {
      const [a, b] = await Promise.all([
        spawnJaga("a", "direct", ttl, { lease, databaseUrl: through(proxies[0].port) }),
        spawnJaga("b", "direct", ttl, { lease, databaseUrl: through(proxies[1].port) }),
      ]);
      await until("one active", () => activeOf([a, b]).length === 1);
      await until("its socket", () => wa.open === 1);
      const [act] = activeOf([a, b]);
      const other = act === a ? b : a;
      await until("the other stands by", () => other.health?.standby?.holder?.instance === act!.name);
      const logFrom = act!.stderr.length;
      const t0 = Date.now();
      proxies[act === a ? 0 : 1].setBlackhole(true);
      // Still running and answering /health, but not active: it cannot renew, so it lets go first.
      await until("the cut-off one steps down, its socket closed", () => act!.health?.standby?.role !== "active" && wa.open === 0, ttl * 1000);
      const down = Date.now() - t0;
      assert.ok(act!.running, "it steps down; it does not die");
      assert.ok(down < ttl * 1000, `stepped down after ${down} ms, the ttl is ${ttl} s`);
      await until("the other active", () => other.health?.standby?.role === "active", ttl * 1000 + 8_000);
      const takeover = Date.now() - t0;
      assert.ok(takeover >= down, "not before the old one let go");
      await until("one socket again", () => wa.open === 1);
      assert.ok(wa.maxConcurrent <= 1, `the stand-in saw ${wa.maxConcurrent} sockets at once`);
      assert.match(act!.stderr.slice(logFrom), /standby: /, "the cut-off one said why it let go");
      // The cable back: it stands by behind the new holder, and both stop cleanly.
      proxies[act === a ? 0 : 1].setBlackhole(false);
      await until("it stands by again", () => act!.health?.standby?.role === "standby" && act!.health.standby.holder?.instance === other.name, 20_000);
      for (const i of [a, b]) i.child.kill("SIGTERM");
      for (const i of [a, b]) assert.deepEqual(await i.exit, { code: 0, signal: null });
    } finally {
      await Promise.all(proxies.map((p) => p.close()));
    }
  });
});

describe("the incident desk is the lease's: the instance that takes over continues the incidents", () => {
  const observer = observe();
  const lease = `desk-${process.pid}`;
  before(() => observer.start());
  after(async () => {
    observer.stop();
    await reap(lease);
    assert.deepEqual(observer.violations, []);
  });

  it("kill -9 of the active one mid-incident: the new one continues it (same number, no second opening alert) and names it on taking over", async () => {
    // A host that refuses every connection: "unreachable" after one failed round, on both instances.
    const key = join(dir, "desk-key");
    await promisify(execFile)("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    const closed = await freePort();
    const o: SpawnOptions = {
      lease,
      watch: "watch: { interval: 1s, unreachableAfter: 1, dns: { name: localhost } }",
      extra: ["hosts:", `  - { name: gone, ssh: { host: 127.0.0.1, port: ${closed}, user: jaga, privateKeyPath: ${JSON.stringify(key)} } }`],
    };
    const [a, b] = await Promise.all([spawnJaga("a", "postgrest", TTL_S, o), spawnJaga("b", "postgrest", TTL_S, o)]);
    await until("one active", () => activeOf([a, b]).length === 1);
    const [act] = activeOf([a, b]);
    const other = act === a ? b : a;
    const incidents = () =>
      stack.sql<{ id: string; uid: string; state: string }>(`select id, uid, state from jaga.incident where lease = '${lease}' and host = 'gone' order by id`);
    await until("the active one opened the incident in the shared desk", async () => (await incidents()).length === 1, 15_000);
    const [opened] = await incidents();
    await until("the standby stands by", () => other.health?.standby?.holder?.instance === act!.name);

    act!.child.kill("SIGKILL");
    await until("the other active", () => other.health?.standby?.role === "active", 15_000);
    // Its takeover message is queued first; then two of its own rounds (1 s apart) still find the host unreachable.
    await until("its takeover message", async () => (await stack.sql(`select 1 from jaga.outbox where lease = '${lease}' and dedupe_key like 'takeover:%' and text like '🔄 *${other.name}*%'`)).length === 1, 10_000);
    await new Promise((r) => setTimeout(r, 2_500));

    assert.deepEqual(await incidents(), [opened], "the same incident, still open: not a second one");
    const alerts = await stack.sql<{ dedupe_key: string; text: string }>(
      `select dedupe_key, text from jaga.outbox where lease = '${lease}' order by id`,
    );
    const openings = alerts.filter((r) => r.dedupe_key.endsWith(":open"));
    assert.deepEqual(openings.map((r) => r.dedupe_key), [`incident:${opened!.uid}:open`], alerts.map((r) => r.dedupe_key).join("\n"));
    const takeover = alerts.find((r) => r.dedupe_key.startsWith("takeover:") && r.text.startsWith(`🔄 *${other.name}*`));
    assert.ok(takeover, alerts.map((r) => r.text).join("\n---\n"));
    assert.match(takeover.text, new RegExp(`#${opened!.id} unreachable gone`), "the takeover message names the incident it continues");
    other.child.kill("SIGTERM");
    assert.deepEqual(await other.exit, { code: 0, signal: null });
  });
});

