/**
 * Real Baileys sockets against loopback servers that fail in different ways. Asserts attempt
 * counts, one socket at a time, recovery time after DNS answers again, and that no promise
 * rejection escapes. Nothing here reaches a public address: the url and the resolvers point at
 * servers this file started on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { startDnsServer, type DnsServer } from "./helpers/dns-server.js";
import { refusingPort, startWsServer } from "./helpers/wa-server.js";
import { until, waTransport } from "./helpers/wa-transport.js";

const unhandled: unknown[] = [];
const onUnhandled = (err: unknown) => unhandled.push(err);
before(() => process.on("unhandledRejection", onUnhandled));
after(() => {
  process.off("unhandledRejection", onUnhandled);
  assert.deepEqual(unhandled, [], "no unhandled rejection");
});

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

describe("Baileys on loopback", () => {
  it("a port that refuses: backs off, 408 ECONNREFUSED is not taken for DNS", async () => {
    const port = await refusingPort();
    const { transport, store } = waTransport({ url: `ws://127.0.0.1:${port}/ws/chat`, resolvers: ["127.0.0.1:1"] });
    // The resolver is never asked: an IP literal needs no DNS.
    cleanup.push(() => store.close(), () => transport.stop());
    await transport.start(() => Promise.resolve());
    assert.ok(await until(() => transport.reconnector.status().attempts >= 4, 5_000));
    const s = transport.reconnector.status();
    assert.equal(s.lastClose?.code, 408);
    assert.equal(s.lastClose?.errorCode, "ECONNREFUSED");
    assert.equal(s.lastClose?.kind, "retry");
    assert.notEqual(s.state, "dns-wait");
    await transport.stop();
    assert.equal(transport.reconnector.status().state, "stopped");
  });

  it("a WebSocket server that closes at once: one socket at a time, attempts match connections", async () => {
    const srv = await startWsServer("close");
    const { transport, store } = waTransport({ url: srv.url, resolvers: ["127.0.0.1:1"] });
    cleanup.push(() => srv.close(), () => store.close(), () => transport.stop());
    await transport.start(() => Promise.resolve());
    // Stop between attempts (in backoff), so no attempt is caught half-way to the server.
    assert.ok(await until(() => srv.connections >= 5 && transport.reconnector.status().state === "backoff", 5_000));
    await transport.stop();
    const s = transport.reconnector.status();
    assert.equal(srv.maxConcurrent, 1, "never two sockets");
    assert.equal(srv.connections, s.attempts);
    assert.equal(s.lastClose?.code, 428);
    // Backoff 50..200 ms: 5 attempts take at least a little time; a tight loop would do hundreds.
    assert.ok(s.attempts < 40, `attempts ${s.attempts}`);
  });

  it("a server that never answers: the handshake times out, then backoff", async () => {
    const srv = await startWsServer("silent");
    const { transport, store } = waTransport({ url: srv.url, resolvers: ["127.0.0.1:1"] });
    cleanup.push(() => srv.close(), () => store.close(), () => transport.stop());
    const started = Date.now();
    await transport.start(() => Promise.resolve());
    assert.ok(await until(() => transport.reconnector.status().attempts >= 2, 5_000));
    const s = transport.reconnector.status();
    assert.equal(s.lastClose?.code, 408);
    assert.match(s.lastClose?.message ?? "", /timed out/);
    assert.ok(Date.now() - started >= 300, "the first attempt waited for the handshake timeout");
    await transport.stop();
    assert.equal(srv.maxConcurrent, 1);
  });

  it("a name the DNS server refuses, then resolves: no socket during the outage, connects within a probe interval", async () => {
    const srv = await startWsServer("close");
    const dns: DnsServer = await startDnsServer({ "wa.test": "127.0.0.1" }, "refuse");
    const { transport, store } = waTransport({ url: `ws://wa.test:${srv.port}/ws/chat`, resolvers: [dns.address] });
    cleanup.push(() => srv.close(), () => dns.close(), () => store.close(), () => transport.stop());
    await transport.start(() => Promise.resolve());
    assert.ok(await until(() => transport.reconnector.status().state === "dns-wait", 3_000));
    const s1 = transport.reconnector.status();
    assert.equal(s1.lastClose?.code, 408);
    assert.ok(["ENOTFOUND", "EAI_AGAIN"].includes(s1.lastClose?.errorCode ?? ""), s1.lastClose?.errorCode);
    // One second of outage: probes go on, sockets do not.
    await new Promise((r) => setTimeout(r, 1_000));
    const s2 = transport.reconnector.status();
    assert.equal(s2.attempts, 1, "no socket while DNS fails");
    assert.equal(srv.connections, 0);
    assert.ok(s2.dnsProbes >= 5 && s2.dnsProbes <= 15, `probes ${s2.dnsProbes}`);
    dns.mode = "answer";
    const back = Date.now();
    assert.ok(await until(() => srv.connections >= 1, 3_000));
    const recovery = Date.now() - back;
    assert.ok(recovery < 1_000, `recovered in ${recovery} ms`);
    assert.equal(transport.reconnector.status().systemDnsBroken, false, "system is not in the list");
    await transport.stop();
    assert.equal(srv.maxConcurrent, 1);
  });
});
