/**
 * Jaga started the way `npm start` starts it, with JAGA_TRANSPORT=whatsapp against a loopback
 * stand-in for WhatsApp that closes every socket at once: alerts wait in the outbox, /health
 * and /metrics tell the truth, one socket at a time, and stop() is clean.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, describe, it } from "node:test";
import { silentLogger } from "../src/log.js";
import { startJaga } from "../src/main.js";
import { configSchema } from "../src/config/schema.js";
import type { Config } from "../src/config/load.js";
import { freePort } from "./helpers/sshd.js";
import { startDnsServer } from "./helpers/dns-server.js";
import { startWsServer } from "./helpers/wa-server.js";
import { waitFor } from "./helpers/pm2.js";

const dir = mkdtempSync(join(tmpdir(), "jaga-main-wa-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("startJaga with the WhatsApp transport", () => {
  it("keeps alerts while disconnected, reports itself on /health, and stops cleanly", async () => {
    const server = await startWsServer("close");
    const dns = await startDnsServer({ "wa.test": "127.0.0.1" });
    const port = await freePort();
    const rejections: unknown[] = [];
    const onRejection = (r: unknown) => rejections.push(r);
    process.on("unhandledRejection", onRejection);
    const raw = configSchema.parse({
      language: "en",
      alerts: { group: "120363000000000001@g.us" },
      watch: { enabled: false },
      digest: { enabled: false },
      whatsapp: { url: `ws://wa.test:${server.port}/ws/chat`, backoff: { base: "200ms", cap: "1s" } },
      dns: { resolvers: [dns.address] },
    });
    const config: Config = {
      ...raw,
      source: null,
      dataDir: dir,
      transport: "whatsapp",
      logLevel: "silent",
      http: { port, token: "a-long-enough-test-token" },
    };
    // No WhatsApp session yet and a terminal on stdin: the console takes commands meanwhile.
    const input = Object.assign(new PassThrough(), { isTTY: true });
    const output = new PassThrough();
    let printed = "";
    output.on("data", (c: Buffer) => (printed += c.toString()));
    const jaga = await startJaga({ config, log: silentLogger, input, output, env: {} });
    try {
      assert.equal(await jaga.alert("🔁 test alert", "test:1"), true);
      await waitFor(() => server.connections >= 2, 10_000, "reconnect attempts");
      assert.equal(server.maxConcurrent, 1, "never two sockets at once");
      assert.equal(await jaga.store.outbox.backlog(), 1, "the alert waits for WhatsApp");

      const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as {
        status: string;
        queuedOutgoing: number;
        whatsapp: { state: string; attempts: number };
      };
      assert.equal(health.status, "degraded");
      assert.equal(health.queuedOutgoing, 1);
      assert.notEqual(health.whatsapp.state, "open");
      assert.ok(health.whatsapp.attempts >= 2);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, /^jaga_whatsapp_connect_attempts_total \d+$/m);
      assert.match(metrics, /^jaga_whatsapp_connected 0$/m);
      const refused = await fetch(`http://127.0.0.1:${port}/whatsapp/reconnect`, { method: "POST", headers: { authorization: "Bearer wrong-token-of-some-length" } });
      assert.equal(refused.status, 401);

      input.write("/wa\n");
      await waitFor(() => printed.includes("📶 WhatsApp: *"), 5_000, `/wa reply in:\n${printed}`);
      assert.match(printed, /📶 WhatsApp: \*(connecting|waiting|backoff|closed|\w+)\* since .* · attempts \d+ · breaker /);
    } finally {
      await jaga.stop();
      await server.close();
      await dns.close();
      process.off("unhandledRejection", onRejection);
    }
    assert.deepEqual(rejections, []);
  });
});
