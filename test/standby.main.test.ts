/**
 * Two Jagas started in this process with the console transport and `standby:` on one real
 * PostgreSQL + PostgREST: the active one runs commands and lists the instances in /status; the
 * standby runs none and says which instance does; after the active one stops (a handover) the
 * standby runs them, under the next epoch, and its first queued message is the takeover message.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, before, it } from "node:test";
import type { Config } from "../src/config/load.js";
import { configSchema } from "../src/config/schema.js";
import { silentLogger } from "../src/log.js";
import { startJaga, type Jaga } from "../src/main.js";
import { waitFor } from "./helpers/pm2.js";
import { startSupabaseStack, type SupabaseStack } from "./helpers/supabase-stack.js";

const dir = mkdtempSync(join(tmpdir(), "jaga-standby-main-"));
let stack: SupabaseStack;
before(async () => {
  stack = await startSupabaseStack();
});
after(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Console {
  jaga: Jaga;
  input: PassThrough;
  printed(): string;
}

async function start(name: string): Promise<Console> {
  const raw = configSchema.parse({
    language: "en",
    watch: { enabled: false },
    digest: { enabled: false },
    hosts: [{ name: "local", local: true, pm2Home: join(dir, "no-pm2") }],
    standby: { name, lease: "main-test", ttl: "3s", poll: "200ms" },
  });
  const config: Config = { ...raw, source: null, dataDir: join(dir, name), transport: "console", logLevel: "silent" };
  const input = new PassThrough();
  const output = new PassThrough();
  let printed = "";
  output.on("data", (c: Buffer) => (printed += c.toString()));
  const jaga = await startJaga({ config, log: silentLogger, input, output, env: { SUPABASE_URL: stack.url, SUPABASE_SERVICE_ROLE_KEY: stack.serviceRoleKey } });
  return { jaga, input, printed: () => printed };
}

it("commands run on the active instance only; /status lists the instances; a handover moves them", async () => {
  const a = await start("a");
  await waitFor(() => a.jaga.standby!.isActive(), 10_000, "a active");
  const b = await start("b");
  try {
    await waitFor(() => b.jaga.standby!.status().holder?.instance === "a", 10_000, "b sees a");
    await waitFor(() => a.jaga.standby!.status().members.length === 2, 10_000, "a sees b");

    a.input.write("/status\n");
    await waitFor(() => a.printed().includes("🛡️ Instances:"), 10_000, `a's /status in:\n${a.printed()}`);
    assert.match(a.printed(), /🛡️ Instances: \*a\* active \(epoch 1, this one\) · b standby, heard \d+s ago/);

    b.input.write("/status\n");
    await waitFor(() => b.printed().includes("is a standby"), 10_000, `b's answer in:\n${b.printed()}`);
    assert.match(b.printed(), /ℹ️ \*b\* is a standby; a is the active instance and runs commands/);
    assert.doesNotMatch(b.printed(), /Instances:/, "the standby ran nothing");
    // The standby queued nothing: no alert, no takeover message (it took nothing over).
    assert.equal(await b.jaga.store.outbox.backlog(), 0);

    await a.jaga.stop();
    await waitFor(() => b.jaga.standby!.isActive(), 5_000, "b active");
    // Active from the start of its term; the takeover message is queued as the term begins (after
    // it reads the shared backlog), and stays in the local outbox once moved to the shared one.
    await waitFor(async () => (await b.jaga.store.outbox.byKey("takeover:main-test:2")) !== null, 5_000, "the takeover message queued");
    const first = await b.jaga.store.outbox.byKey("takeover:main-test:2");
    assert.ok(first, "the takeover message was queued");
    assert.match(first.text, /^🔄 \*b\* took over as the active Jaga \(a handed over at \d\d:\d\d:\d\d\)/);
    b.input.write("/status\n");
    await waitFor(() => /\*b\* active \(epoch 2, this one\)/.test(b.printed()), 10_000, `b's /status in:\n${b.printed()}`);
  } finally {
    await a.jaga.stop();
    await b.jaga.stop();
  }
});
