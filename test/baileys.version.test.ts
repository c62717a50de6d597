/**
 * 405 and the version refresh: the WA Web build Jaga announces is read from WhatsApp's service
 * worker (a loopback stand-in serving a sw.js shaped like the real one), kept in the store, and
 * refreshed when stale; a failing page never leaves Jaga without a version.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { after, describe, it } from "node:test";
import { WebSocketServer } from "ws";
import { BUILT_IN_VERSION, versionUrlOf, VERSION_MAX_AGE_MS, WaVersion } from "../src/chat/baileys/version.js";
import { ManualClock, systemClock } from "../src/clock.js";
import { silentLogger } from "../src/log.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";
import { until, waTransport } from "./helpers/wa-transport.js";

const SYSTEM = { resolver: { kind: "system" as const, label: "system" as const } };
/** The shape of the real page: the revision sits in an escaped JSON blob among other code. */
const swJs = (rev: number) => `self.__swData=JSON.parse(/*BTDS*/"{\\"dynamic_data\\":{\\"SiteData\\":{\\"server_revision\\":${rev},\\"client_revision\\":${rev}}}}");importScripts("x.js");`;

const servers: Server[] = [];
after(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));

async function page(handler: (send: (status: number, body: string) => void) => void): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const srv = createServer((req, res) => {
    if (req.url !== "/sw.js") return void res.writeHead(404).end();
    hits++;
    handler((status, body) => res.writeHead(status).end(body));
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/sw.js`, hits: () => hits };
}

describe("405 and the version refresh", () => {
  it("derives the service worker's address from whatsapp.url", () => {
    assert.equal(versionUrlOf("wss://web.whatsapp.com/ws/chat"), "https://web.whatsapp.com/sw.js");
    assert.equal(versionUrlOf("ws://127.0.0.1:8080/ws/chat"), "http://127.0.0.1:8080/sw.js");
  });

  it("reads client_revision from sw.js, keeps it in the store, and a restarted Jaga starts from it", async () => {
    const store = openSqliteStore(":memory:");
    const clock = new ManualClock(Date.parse("2026-12-01T00:00:00Z"));
    const p = await page((send) => send(200, swJs(1030123456)));
    const v = new WaVersion({ url: p.url, kv: store.waAuth, clock, log: silentLogger, timeoutMs: 2_000 });
    assert.deepEqual(v.current(), BUILT_IN_VERSION);
    assert.equal(v.stale(), true);
    await v.refresh(SYSTEM);
    assert.deepEqual(v.current(), [2, 3000, 1030123456]);
    assert.equal(v.stale(), false);
    const again = new WaVersion({ url: p.url, kv: store.waAuth, clock, log: silentLogger });
    assert.deepEqual(again.current(), [2, 3000, 1030123456], "the last good version comes from the store");
    await clock.advance(VERSION_MAX_AGE_MS);
    assert.equal(again.stale(), true, "checked again after 24 h");
    await store.close();
  });

  it("a failing, garbled or silent page keeps the last good version, within its timeout", async () => {
    const store = openSqliteStore(":memory:");
    const clock = new ManualClock(0);
    let mode: "ok" | "500" | "garbled" | "silent" = "ok";
    const p = await page((send) => {
      if (mode === "ok") send(200, swJs(1030000001));
      else if (mode === "500") send(500, "oops");
      else if (mode === "garbled") send(200, "<html>not the service worker</html>");
      // silent: never answers
    });
    const v = new WaVersion({ url: p.url, kv: store.waAuth, clock, log: silentLogger, timeoutMs: 300 });
    await v.refresh(SYSTEM);
    for (const m of ["500", "garbled", "silent"] as const) {
      mode = m;
      const started = Date.now();
      await v.refresh(SYSTEM);
      assert.ok(Date.now() - started < 5_000, `${m}: bounded by the timeout`);
      assert.deepEqual(v.current(), [2, 3000, 1030000001], `${m}: last good version kept`);
    }
    await store.close();
  });

  it("the transport checks the version at its first connect and keeps what it found", async () => {
    // One loopback server for both: sw.js over HTTP, and a WebSocket that closes at once.
    const http = createServer((req, res) => (req.url === "/sw.js" ? res.writeHead(200).end(swJs(1031111111)) : res.writeHead(404).end()));
    servers.push(http);
    const wss = new WebSocketServer({ server: http });
    wss.on("connection", (ws) => ws.close(1000));
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    const { port } = http.address() as { port: number };
    const { transport, store } = waTransport({ url: `ws://127.0.0.1:${port}/ws/chat`, resolvers: ["system"], clock: systemClock });
    await transport.start(() => Promise.resolve());
    assert.ok(await until(() => transport.version.current()[2] === 1031111111, 5_000), "fetched at the first connect");
    await transport.stop();
    wss.close();
    const kept = JSON.parse(store.waAuth.get("jaga", ["wa-web-version"]).get("wa-web-version")!) as { version: number[] };
    assert.equal(kept.version[2], 1031111111);
    await store.close();
  });
});
