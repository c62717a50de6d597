import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { OutboxPump } from "../src/chat/outbox-pump.js";
import { ManualClock } from "../src/clock.js";
import { createLogger, silentLogger } from "../src/log.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";
import { waitFor } from "./helpers/pm2.js";

const dir = mkdtempSync(join(tmpdir(), "jaga-outbox-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A transport whose link can be cut, recording what it delivered. */
function flakyTransport() {
  const t = {
    up: true,
    delivered: [] as string[],
    send(_chat: string, text: string) {
      if (!t.up) return Promise.reject(new Error("not connected"));
      t.delivered.push(text);
      return Promise.resolve();
    },
  };
  return t;
}

describe("outbox", () => {
  it("keeps messages across a restart and sends them in order, each once", async () => {
    const file = join(dir, "restart.db");
    const clock = new ManualClock(1_000);
    let store = openSqliteStore(file);
    for (const n of [1, 2, 3]) await store.outbox.enqueue({ chatId: "g", text: `alert ${n}`, dedupeKey: `k${n}`, at: clock.now() });
    await store.close();

    store = openSqliteStore(file);
    const transport = flakyTransport();
    const pump = new OutboxPump(store.outbox, transport, clock, silentLogger);
    pump.start();
    await pump.idle();
    assert.deepEqual(transport.delivered, ["alert 1", "alert 2", "alert 3"]);
    assert.equal(await store.outbox.backlog(), 0);
    // The same alert raised again after a restart is not sent again.
    assert.equal(await store.outbox.enqueue({ chatId: "g", text: "alert 2", dedupeKey: "k2", at: clock.now() }), false);
    pump.kick();
    await pump.idle();
    assert.equal(transport.delivered.length, 3);
    await pump.stop();
    await store.close();
  });

  it("holds everything while the link is down and resumes in order", async () => {
    const clock = new ManualClock(0);
    const store = openSqliteStore(":memory:");
    const transport = flakyTransport();
    transport.up = false;
    const pump = new OutboxPump(store.outbox, transport, clock, silentLogger, 5_000);
    for (const n of [1, 2]) await store.outbox.enqueue({ chatId: "g", text: `m${n}`, at: clock.now() });
    pump.start();
    await new Promise((r) => setImmediate(r));
    assert.equal(await store.outbox.backlog(), 2);
    assert.equal((await store.outbox.pending(1))[0]!.lastError, "not connected");
    await store.outbox.enqueue({ chatId: "g", text: "m3", at: clock.now() });
    transport.up = true;
    await clock.advance(5_000);
    await pump.idle();
    assert.deepEqual(transport.delivered, ["m1", "m2", "m3"]);
    await pump.stop();
    await store.close();
  });

  it("a round that cannot read the outbox comes back after the retry pause (a shared outbox's database out of reach)", async () => {
    const clock = new ManualClock(0);
    const store = openSqliteStore(":memory:");
    let reachable = false;
    // The real outbox, behind a link that is down at first: its reads fail, as a database's would.
    const outbox = { ...store.outbox, pending: (limit: number, now?: number) => (reachable ? store.outbox.pending(limit, now) : Promise.reject(new Error("connect ECONNREFUSED"))) };
    const transport = flakyTransport();
    const pump = new OutboxPump(outbox, transport, clock, silentLogger, 5_000);
    await store.outbox.enqueue({ chatId: "g", text: "queued while the database was away", at: clock.now() });
    pump.start();
    await pump.idle();
    assert.deepEqual(transport.delivered, []);
    reachable = true;
    await clock.advance(4_999);
    await pump.idle();
    assert.deepEqual(transport.delivered, [], "not before the pause");
    await clock.advance(1);
    await pump.idle();
    assert.deepEqual(transport.delivered, ["queued while the database was away"], "no new message needed to wake it");
    await pump.stop();
    await store.close();
  });
});

describe("outbox sending step", () => {
  it("a send cut short by a crash is sent again, recognised as the one possible duplicate", async () => {
    const file = join(dir, "sending.db");
    const clock = new ManualClock(1_000);
    let store = openSqliteStore(file);
    await store.outbox.enqueue({ chatId: "g", text: "cut short", dedupeKey: "a", at: clock.now() });
    await store.outbox.enqueue({ chatId: "g", text: "failed", dedupeKey: "b", at: clock.now() });
    const [cut, failed] = await store.outbox.pending(10);
    // The pump's steps, as a crash would leave them: one row handed to the transport and never
    // marked sent; one whose send failed (known not delivered).
    await store.outbox.markSending(cut!.id, 2_000);
    await store.outbox.markSending(failed!.id, 2_000);
    await store.outbox.markFailed(failed!.id, "not connected", 2_000);
    store.db.close(); // kill -9: nothing else happens

    store = openSqliteStore(file);
    const rows = await store.outbox.pending(10);
    assert.deepEqual(
      rows.map((m) => [m.text, m.sendingAt, m.attempts]),
      [
        ["cut short", 2_000, 1],
        ["failed", null, 1],
      ],
    );
    const lines: string[] = [];
    const log = createLogger("info", { write: (line: string) => void lines.push(line) });
    const transport = flakyTransport();
    const pump = new OutboxPump(store.outbox, transport, clock, log);
    pump.start();
    await pump.idle();
    assert.deepEqual(transport.delivered, ["cut short", "failed"]);
    const warnings = lines.map((l) => JSON.parse(l) as { msg: string; outboxId?: number }).filter((l) => /may arrive twice/.test(l.msg));
    assert.deepEqual(
      warnings.map((w) => w.outboxId),
      [cut!.id],
      "only the row cut short between the transport and markSent is flagged",
    );
    assert.equal(await store.outbox.backlog(), 0);
    await pump.stop();
    await store.close();
  });
});

describe("outbox pump backoff", () => {
  it("waits longer while sends keep failing, and a kick (WhatsApp reconnected) retries at once", async () => {
    const clock = new ManualClock(0);
    const store = openSqliteStore(":memory:");
    let attempts = 0;
    const transport = flakyTransport();
    transport.up = false;
    const counting = { send: (chat: string, text: string) => (attempts++, transport.send(chat, text)) };
    const pump = new OutboxPump(store.outbox, counting, clock, silentLogger, 5_000, 60_000);
    await store.outbox.enqueue({ chatId: "g", text: "m1", at: 0 });
    pump.start();
    await waitFor(() => attempts === 1, 2_000, "first attempt");
    await clock.advance(5_000);
    await waitFor(() => attempts === 2, 2_000, "second attempt after 5 s");
    await clock.advance(5_000);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(attempts, 2, "the second pause is 10 s");
    await clock.advance(5_000);
    await waitFor(() => attempts === 3, 2_000, "third attempt after 10 s more");
    transport.up = true;
    pump.kick();
    await waitFor(() => transport.delivered.length === 1, 2_000, "delivery right after the kick");
    await pump.stop();
    await store.close();
  });
});

describe("sqlite store", () => {
  it("migrates once and keeps the audit log across reopen", async () => {
    const file = join(dir, "audit.db");
    const a = openSqliteStore(file);
    await a.audit.add({ at: 1, actor: "console", actorName: "console", command: "status", args: "{}", host: "local", outcome: "ok", durationMs: 5, errorId: null });
    await a.close();
    const b = openSqliteStore(file);
    const [r] = await b.audit.recent(5);
    assert.equal(r!.command, "status");
    const names = b.db.prepare<[], { name: string }>("SELECT name FROM _migrations").all().map((x) => x.name);
    assert.equal(new Set(names).size, names.length);
    assert.ok(names.includes("audit.001.create") && names.includes("outbox.001.create"));
    await b.close();
  });
});
