/** The health server over real HTTP on 127.0.0.1, with a real reconnector behind it. */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, describe, it } from "node:test";
import { ManualClock } from "../src/clock.js";
import { PortInUseError, startHttpServer, type HttpServer } from "../src/http/server.js";
import type { HealthSources } from "../src/http/health.js";
import type { StoreCondition } from "../src/store/health.js";
import { translator } from "../src/i18n/index.js";
import { silentLogger } from "../src/log.js";
import type { WhatsAppControl } from "../src/reconnect/control.js";
import { Reconnector, type ManagedSocket } from "../src/reconnect/reconnector.js";
import { VERSION } from "../src/version.js";

const TOKEN = "test-token-0123456789abcdef";
const clock = new ManualClock(Date.parse("2026-03-01T00:00:00Z"));
let opened = 0;
const reconnector = new Reconnector({
  clock,
  connect: (): ManagedSocket => {
    opened++;
    // Fails at once, like a refused port.
    return { closed: Promise.resolve({ code: 408, errorCode: "ECONNREFUSED", message: "refused" }), close: () => undefined };
  },
  probe: () => Promise.resolve({ systemOk: null, failures: [] }),
  route: { resolver: { kind: "system", label: "system" }, hostname: "wa.test" },
  backoff: { baseMs: 2_000, capMs: 300_000, resetAfterMs: 60_000 },
  breaker: { failures: 10, withinMs: 300_000, openForMs: 600_000 },
  dns: { probeIntervalMs: 1_000, recheckIntervalMs: 30_000 },
  random: () => 0.5,
});
const control: WhatsAppControl = {
  status: () => reconnector.status(),
  reconnectNow: () => reconnector.reconnectNow(),
  resetBreaker: () => reconnector.resetBreaker(),
  backlog: () => Promise.resolve(3),
  ignored: () => ({ "unknown-sender": 2 }),
  host: "wa.test",
};
const sources: HealthSources = {
  clock,
  startedAt: clock.now() - 90_000,
  version: VERSION,
  transport: "whatsapp",
  whatsapp: control,
  backlog: () => Promise.resolve(3),
  hosts: () => [{ name: "local", reachable: true }],
};
const servers: HttpServer[] = [];
after(async () => {
  await reconnector.stop();
  for (const s of servers) await s.close();
});

async function track(from: HealthSources, token?: string): Promise<HttpServer> {
  const s = await startHttpServer({ port: 0, token, sources: from, log: silentLogger, t: translator("en") });
  servers.push(s);
  return s;
}

async function start(token?: string) {
  return `http://127.0.0.1:${(await track(sources, token)).port}`;
}

describe("health endpoint", () => {
  it("GET /health reports the connection, the outbox, the hosts, uptime and version", async () => {
    reconnector.start();
    await new Promise((r) => setImmediate(r));
    const base = await start();
    const res = await fetch(`${base}/health`);
    assert.equal(res.status, 503, "degraded answers 503");
    const body = (await res.json()) as Record<string, unknown> & { whatsapp: Record<string, unknown> };
    assert.equal(body.status, "degraded");
    assert.deepEqual(body.reasons, ["whatsapp backoff"]);
    assert.equal(body.version, VERSION);
    assert.equal(body.uptimeSeconds, 90);
    assert.equal(body.queuedOutgoing, 3);
    assert.deepEqual(body.hosts, [{ name: "local", reachable: true }]);
    assert.equal(body.whatsapp.state, "backoff");
    assert.equal(body.whatsapp.attempts, 1);
    assert.equal(typeof body.whatsapp.since, "string");
    assert.equal(body.whatsapp.nextAttemptAt, new Date(clock.now() + 1_000).toISOString());
    assert.deepEqual(body.whatsapp.lastClose, { code: 408, reason: "ECONNREFUSED", kind: "retry", at: new Date(clock.now()).toISOString() });
    assert.deepEqual((body.whatsapp.breaker as { state: string }).state, "closed");
  });

  it("answers 200 when ok, 503 with the reason when the store cannot be written or its disk is critical", async () => {
    const disk = { path: "/srv/jaga/data", sizeBytes: 4 * 2 ** 20, freeBytes: 2 * 2 ** 20, usedPercent: 50 };
    let store: StoreCondition = { writable: true, since: null, problem: null, lastError: null, disk };
    const base = `http://127.0.0.1:${(await track({ ...sources, whatsapp: undefined, transport: "console", store: () => store, diskCritical: 90 })).port}`;
    const ok = await fetch(`${base}/health`);
    assert.equal(ok.status, 200);
    const okBody = (await ok.json()) as { status: string; reasons: string[]; store: Record<string, unknown> };
    assert.equal(okBody.status, "ok");
    assert.deepEqual(okBody.reasons, []);
    assert.deepEqual(okBody.store, { writable: true, since: null, problem: null, lastError: null, dataDir: { path: disk.path, usedPercent: 50, freeBytes: disk.freeBytes, sizeBytes: disk.sizeBytes } });

    store = { ...store, writable: false, since: clock.now(), problem: "full", lastError: "database or disk is full", disk: { ...disk, freeBytes: 0, usedPercent: 100 } };
    const full = await fetch(`${base}/health`);
    assert.equal(full.status, 503);
    const fullBody = (await full.json()) as { status: string; reasons: string[]; store: Record<string, unknown> };
    assert.equal(fullBody.status, "degraded");
    assert.deepEqual(fullBody.reasons, [
      "Jaga cannot write its data (disk full: /srv/jaga/data, 0 B free of 4.0 MB)",
      "data disk /srv/jaga/data at 100% (critical 90%), 0 B free",
    ]);
    assert.equal(fullBody.store.since, new Date(clock.now()).toISOString());
    assert.equal(fullBody.store.lastError, "database or disk is full");
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^jaga_store_writable 0$/m);
    assert.match(metrics, /^jaga_data_disk_used_percent 100$/m);

    // Writable again, but the disk past critical: still degraded, for that reason alone.
    store = { writable: true, since: null, problem: null, lastError: null, disk: { ...disk, freeBytes: 300_000, usedPercent: 93 } };
    const critical = await fetch(`${base}/health`);
    assert.equal(critical.status, 503);
    assert.deepEqual(((await critical.json()) as { reasons: string[] }).reasons, ["data disk /srv/jaga/data at 93% (critical 90%), 293 KB free"]);
  });

  it("GET /metrics speaks Prometheus text", async () => {
    const base = await start();
    const res = await fetch(`${base}/metrics`);
    assert.match(res.headers.get("content-type") ?? "", /text\/plain; version=0.0.4/);
    const text = await res.text();
    assert.match(text, /^# TYPE jaga_whatsapp_connect_attempts_total counter$/m);
    assert.match(text, /^jaga_whatsapp_connect_attempts_total 1$/m);
    assert.match(text, /^jaga_whatsapp_connected 0$/m);
    assert.match(text, /^jaga_whatsapp_state\{state="backoff"\} 1$/m);
    assert.match(text, /^jaga_whatsapp_ignored_messages_total\{reason="unknown-sender"\} 2$/m);
  });

  it("without a token the action routes do not exist", async () => {
    const base = await start();
    const res = await fetch(`${base}/whatsapp/reconnect`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 404);
  });

  it("POST /whatsapp/reconnect and /whatsapp/breaker/reset need the bearer token", async () => {
    const base = await start(TOKEN);
    const before = opened;
    for (const auth of [undefined, "Bearer wrong", `Basic ${TOKEN}`, `Bearer ${TOKEN}x`]) {
      const res = await fetch(`${base}/whatsapp/reconnect`, { method: "POST", headers: auth ? { authorization: auth } : {} });
      assert.equal(res.status, 401, String(auth));
    }
    assert.equal(opened, before);
    assert.equal((await fetch(`${base}/whatsapp/reconnect`)).status, 405);
    const ok = await fetch(`${base}/whatsapp/reconnect`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 202);
    await new Promise((r) => setImmediate(r));
    assert.equal(opened, before + 1, "reconnected at once");
    const reset = await fetch(`${base}/whatsapp/breaker/reset`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(reset.status, 202);
  });

  it("a port in use is reported with its holder", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as { port: number }).port;
    try {
      await assert.rejects(startHttpServer({ port, sources, log: silentLogger, t: translator("en") }), (err: unknown) => {
        assert.ok(err instanceof PortInUseError);
        assert.match(err.message, new RegExp(`Port ${port} on 127.0.0.1 is already in use`));
        assert.match(err.message, new RegExp(`pid ${process.pid}`));
        return true;
      });
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });
});
