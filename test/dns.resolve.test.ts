/**
 * What one DNS probe costs: at most one OS lookup per name in flight (getaddrinfo cannot be
 * cancelled and holds a threadpool thread until the OS resolver gives up), and each resolver
 * asked once however often it is listed. The OS lookups here are of `localhost` (/etc/hosts);
 * the DNS server is a loopback stand-in.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { probeName } from "../src/dns/probe.js";
import { osLookup, resolveWith } from "../src/dns/resolve.js";
import { parseResolver } from "../src/dns/resolvers.js";
import { startDnsServer, type DnsServer } from "./helpers/dns-server.js";

const servers: DnsServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

describe("DNS probe cost", () => {
  it("a lookup of a name joins the OS lookup of it still running; the next one after it ends is new", async () => {
    const first = osLookup("localhost");
    assert.equal(osLookup("localhost"), first, "joined, not a second getaddrinfo");
    const [a, b] = await Promise.all([first, resolveWith({ kind: "system", label: "system" }, "localhost", 2_000)]);
    assert.ok(a.ok && b.ok);
    assert.deepEqual(a, b);
    const again = osLookup("localhost");
    assert.notEqual(again, first);
    await again;
  });

  it("a resolver listed twice is asked once per probe", async () => {
    const dns = await startDnsServer({ "wa.test": "127.0.0.1" }, "refuse");
    servers.push(dns);
    const spec = parseResolver(dns.address)!;
    const p = await probeName([spec, spec], "wa.test", 2_000);
    assert.equal(p.answer, undefined);
    assert.deepEqual(p.failures, [{ resolver: dns.address, code: "EREFUSED" }]);
    assert.equal(dns.queries.get("wa.test"), 2, "one A and one AAAA question");
  });

  it("answers with the first resolver that answers, not when one that drops queries gives up", async () => {
    const [silent, answering] = await Promise.all([startDnsServer({ "wa.test": "127.0.0.1" }, "silent"), startDnsServer({ "wa.test": "127.0.0.1" })]);
    servers.push(silent, answering);
    const p = await probeName([parseResolver(silent.address)!, parseResolver(answering.address)!], "wa.test", 1_000);
    assert.equal(p.answer?.resolver.label, answering.address);
    assert.deepEqual(p.answer?.addresses, [{ address: "127.0.0.1", family: 4 }]);
    assert.deepEqual(p.failures, [], "the silent server had not given up yet");
    assert.equal(p.systemOk, null, "system is not in the list");
  });
});
