/**
 * The shared outbox (src/standby/shared-outbox.ts, migrations/20261216080000_standby_outbox.sql)
 * against a real PostgreSQL and a real PostgREST (test/helpers/supabase-sb.stack.ts), through both
 * paths Jaga has: supabase-js RPC and a direct `pg` connection.
 *
 * What must hold: the embedded outbox's contract (order, a dedupe key queued once, sending →
 * sent → acked, retries that wait for their time, dead letters, stats); every write under an
 * epoch that is no longer the lease's is refused by the database and changes nothing; and an
 * alert queued by the active instance before it dies is sent by the one that takes over — once,
 * with what the old one already sent not sent again; what an instance queues in its embedded
 * outbox is moved to the shared one once (a crash mid-move included), and not at all without a
 * term; only the service role may call any of it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OutboxPump } from "../src/chat/outbox-pump.js";
import { ManualClock, systemClock } from "../src/clock.js";
import { silentLogger } from "../src/log.js";
import { FencedError } from "../src/standby/db.js";
import { LeaseKeeper } from "../src/standby/lease.js";
import { NotActiveError } from "../src/standby/shared-auth.js";
import { ForwardingOutbox, SharedOutbox } from "../src/standby/shared-outbox.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";
import { createSupabaseClient } from "../src/store/supabase/client.js";
import { claim, release, standbyDatabase } from "./helpers/standby-db.js";

const sb = standbyDatabase();
const { viaPostgrest, leaseName } = sb;
const viaDirect = () => sb.viaDirect({ queryTimeoutMs: 2_000 });

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A transport that records what it took, under message ids of its own. */
function recorder(prefix: string) {
  const t = {
    delivered: [] as string[],
    n: 0,
    send: (_chat: string, text: string) => {
      t.delivered.push(text);
      return Promise.resolve();
    },
    sendOnce: (_chat: string, text: string) => {
      t.delivered.push(text);
      return Promise.resolve([`${prefix}-${++t.n}`]);
    },
  };
  return t;
}

for (const path of ["postgrest", "direct"] as const) {
  const db = () => (path === "postgrest" ? viaPostgrest() : viaDirect());

  describe(`shared outbox over ${path}`, () => {
    it("keeps the contract: order, a dedupe key queued once, sending → sent → acked, retry when due, dead letters, stats", async () => {
      const lease = leaseName();
      const d = db();
      const epoch = (await claim(d, lease, "a#1"))!;
      const outbox = new SharedOutbox({ db: d, lease, epoch: () => epoch });
      const at = 1_765_000_000_000;

      assert.equal(await outbox.enqueue({ chatId: "g", text: "one", dedupeKey: "k1", at }), true);
      assert.equal(await outbox.enqueue({ chatId: "g", text: "two", dedupeKey: "k2", at: at + 1, thread: "k1", edit: "✅ resolved" }), true);
      assert.equal(await outbox.enqueue({ chatId: "g", text: "one again", dedupeKey: "k1", at: at + 2 }), false, "a dedupe key is queued once");
      assert.equal(await outbox.enqueue({ chatId: "g", text: "three", at: at + 3 }), true);
      assert.equal(await outbox.enqueue({ chatId: "g", text: "four", at: at + 4 }), true, "no key: never deduplicated");

      const pending = await outbox.pending(10);
      assert.deepEqual(pending.map((m) => m.text), ["one", "two", "three", "four"]);
      assert.ok(pending[0]!.id < pending[1]!.id && pending[1]!.id < pending[2]!.id);
      assert.deepEqual(
        { ...pending[1]!, id: 0 },
        { id: 0, chatId: "g", text: "two", dedupeKey: "k2", createdAt: at + 1, sendingAt: null, attempts: 0, lastError: null, sentAt: null, msgIds: [], thread: "k1", edit: "✅ resolved" },
      );
      assert.deepEqual((await outbox.pending(2)).map((m) => m.text), ["one", "two"], "the limit");
      assert.equal(await outbox.backlog(), 4);

      const [one, two, three, four] = pending as [typeof pending[0], typeof pending[0], typeof pending[0], typeof pending[0]];
      await outbox.markSending(one.id, at + 10);
      const sending = (await outbox.get(one.id))!;
      assert.equal(sending.sendingAt, at + 10);
      assert.equal(sending.attempts, 1);
      await outbox.markSent(one.id, at + 11, ["wa-1", "wa-2"]);
      const sent = (await outbox.byKey("k1"))!;
      assert.equal(sent.sentAt, at + 11);
      assert.deepEqual(sent.msgIds, ["wa-1", "wa-2"]);
      assert.deepEqual((await outbox.pending(10)).map((m) => m.text), ["two", "three", "four"], "sent is no longer pending");
      assert.deepEqual((await outbox.byMessageId("wa-2")).map((m) => m.id), [one.id]);
      assert.deepEqual((await outbox.unacked(at + 12, 10)).map((m) => m.id), [one.id]);
      assert.deepEqual(await outbox.unacked(at + 11, 10), [], "written before `before` only");

      // Acked once every message of the row is; a late ack after a read changes nothing.
      assert.deepEqual(await outbox.recordDelivery("wa-1", "read", null, at + 20), [{ outboxId: one.id, state: "read" }]);
      assert.equal((await outbox.unacked(at + 30, 10)).length, 1, "wa-2 is not acked yet");
      assert.deepEqual(await outbox.recordDelivery("wa-2", "acked", null, at + 21), [{ outboxId: one.id, state: "acked" }]);
      assert.deepEqual(await outbox.unacked(at + 30, 10), []);
      assert.deepEqual(await outbox.recordDelivery("wa-1", "acked", null, at + 22), []);
      assert.deepEqual(await outbox.recordDelivery("not-ours", "acked", null, at + 22), []);

      // A send that failed is no longer "maybe sent"; a retry waits for its time; a dead letter blocks nothing.
      await outbox.markSending(two.id, at + 30);
      await outbox.markFailed(two.id, "not connected", at + 31);
      const failed = (await outbox.get(two.id))!;
      assert.equal(failed.sendingAt, null);
      assert.equal(failed.lastError, "not connected");
      await outbox.retryAt(two.id, "rate limited", "429", at + 1_000);
      assert.deepEqual((await outbox.pending(10, at + 999)).map((m) => m.text), ["three", "four"], "a retry waits for its time");
      assert.deepEqual((await outbox.pending(10, at + 1_000)).map((m) => m.text), ["two", "three", "four"]);
      await outbox.deadLetter(three.id, "463", "permanent", at + 40);
      assert.deepEqual((await outbox.pending(10)).map((m) => m.text), ["two", "four"], "dead letters are never pending");

      assert.deepEqual(await outbox.stats(), { queued: 2, unacked: 0, retrying: 1, dead: 1, oldestQueuedAt: at + 1 });
      await outbox.markSending(four.id, at + 50);
      await outbox.markSent(four.id, at + 51, ["wa-4"]);
      assert.equal((await outbox.stats()).unacked, 1);
      assert.equal(await outbox.get(987_654_321), null);
      assert.equal(await outbox.byKey("no-such-key"), null);
    });

    it("refuses every write under an older epoch, in the database, and changes nothing", async () => {
      const lease = leaseName();
      const d = db();
      const e1 = (await claim(d, lease, "a#1"))!;
      const fenced: string[] = [];
      const a = new SharedOutbox({ db: d, lease, epoch: () => e1, onFenced: (m) => fenced.push(m) });
      await a.enqueue({ chatId: "g", text: "queued by a", dedupeKey: "x", at: 1 });
      const [row] = await a.pending(1);

      // b takes over (a handed over; the same holds after an expiry: a new term, the next epoch).
      await release(d, lease, "a#1", e1);
      const e2 = (await claim(d, lease, "b#1"))!;
      assert.equal(e2, e1 + 1);

      await assert.rejects(a.markSending(row!.id, 2), FencedError);
      await assert.rejects(a.markSent(row!.id, 3, ["wa-stale"]), (err: unknown) => err instanceof FencedError && /epoch 1 is not the current epoch/.test(err.message));
      await assert.rejects(a.enqueue({ chatId: "g", text: "late alert", dedupeKey: "y", at: 4 }), FencedError);
      await assert.rejects(a.deadLetter(row!.id, "463", "x", 5), FencedError);
      assert.equal(fenced.length, 4, "each refusal is reported (the keeper gives the lease up)");

      // Nothing changed: the row is as a left it, and nothing new was queued.
      const b = new SharedOutbox({ db: d, lease, epoch: () => e2 });
      const [still] = await b.pending(10);
      assert.equal(still!.id, row!.id);
      assert.equal(still!.sendingAt, null);
      assert.equal(still!.sentAt, null);
      assert.deepEqual(still!.msgIds, []);
      assert.equal(await b.byKey("y"), null);
      const [dbRow] = await sb.stack.sql<{ epoch: string }>(`select epoch from jaga.outbox where id = $1`, [row!.id]);
      assert.equal(Number(dbRow!.epoch), e1);
      // The current holder writes.
      await b.markSent(row!.id, 6, ["wa-b"]);
      assert.equal((await b.get(row!.id))!.sentAt, 6);
      const [after] = await sb.stack.sql<{ epoch: string }>(`select epoch from jaga.outbox where id = $1`, [row!.id]);
      assert.equal(Number(after!.epoch), e2, "the row names the term it was last written under");

      // No term held: nothing is even sent to the database.
      const idle = new SharedOutbox({ db: d, lease, epoch: () => null });
      await assert.rejects(idle.enqueue({ chatId: "g", text: "z", at: 7 }), NotActiveError);
      // And a plain INSERT (no epoch declared) is refused by the trigger.
      await assert.rejects(
        sb.stack.sql(`insert into jaga.outbox (lease, chat_id, text, created_at, epoch) values ($1, 'g', 'raw', 1, $2)`, [lease, e2]),
        (err: unknown) => (err as { code?: string }).code === "PT409",
      );
    });
  });
}

describe("shared outbox across a takeover", () => {
  it("an alert queued by A before it dies is sent once, by B; what A sent is not sent again", async () => {
    const lease = leaseName();
    const ttlMs = 2_000;
    const clock = new ManualClock(1_765_000_000_000);
    const ka = new LeaseKeeper({ db: viaDirect(), lease, instance: "a", ttlMs, clock: systemClock, log: silentLogger });
    sb.track(ka);
    ka.start();
    await until("a active", () => ka.held());
    const a = new SharedOutbox({ db: viaPostgrest(), lease, epoch: () => ka.currentEpoch(), onFenced: (m) => ka.fenced(m) });

    // A queues three alerts and sends the first (the pump's steps, by hand), then dies before the rest.
    for (const n of [1, 2, 3]) assert.equal(await a.enqueue({ chatId: "g", text: `alert ${n}`, dedupeKey: `incident:${lease}:${n}`, at: clock.now() }), true);
    const ta = recorder("a");
    const [first] = await a.pending(1);
    await a.markSending(first!.id, clock.now());
    assert.deepEqual(await ta.sendOnce("g", first!.text), ["a-1"]);
    await a.markSent(first!.id, clock.now(), ["a-1"]);
    await ka.abandon(); // killed: no release, the lease runs out in the database

    // B takes over once the lease has run out, under the next epoch.
    const kb = new LeaseKeeper({ db: viaDirect(), lease, instance: "b", ttlMs, clock: systemClock, log: silentLogger });
    sb.track(kb);
    kb.start();
    await until("b active", () => kb.held(), 10_000);
    assert.equal(kb.currentEpoch(), 2);
    const b = new SharedOutbox({ db: viaPostgrest(), lease, epoch: () => kb.currentEpoch(), onFenced: (m) => kb.fenced(m) });
    // The same alert raised again by B's own watchers is not queued twice.
    assert.equal(await b.enqueue({ chatId: "g", text: "alert 2", dedupeKey: `incident:${lease}:2`, at: clock.now() }), false);

    const tb = recorder("b");
    const pumpB = new OutboxPump(b, tb, clock, silentLogger);
    pumpB.start();
    await pumpB.idle();
    await pumpB.stop();
    assert.deepEqual(ta.delivered, ["alert 1"]);
    assert.deepEqual(tb.delivered, ["alert 2", "alert 3"], "B sends what A left, in order, and not what A sent");
    assert.equal(await b.backlog(), 0);

    // A, had it survived unaware, could not mark anything in B's queue.
    const stale = new SharedOutbox({ db: viaPostgrest(), lease, epoch: () => 1 });
    await assert.rejects(stale.markSent(first!.id, clock.now(), ["a-2"]), FencedError);
    await kb.abandon();
  });
});

describe("the local outbox, forwarded to the shared one", () => {
  it("what A's desk queued locally reaches the shared queue once (a crash mid-move included) and B sends it after the takeover", async () => {
    const lease = leaseName();
    const d = viaDirect();
    const clock = new ManualClock(1_765_000_000_000);
    const storeA = openSqliteStore(":memory:");
    const storeB = openSqliteStore(":memory:");
    try {
      const e1 = (await claim(d, lease, "a#1"))!;
      const sharedA = new SharedOutbox({ db: d, lease, epoch: () => e1 });
      const fwdA = new ForwardingOutbox(storeA.outbox, sharedA, "a", clock);
      // A's desk queues into its embedded outbox (the incident and its alert in one SQLite transaction).
      await storeA.outbox.enqueue({ chatId: "g", text: "disk full on stb", dedupeKey: "incident:u1:open", at: clock.now() });
      await storeA.outbox.enqueue({ chatId: "g", text: "a reply with no key", at: clock.now() + 1 });
      // A crash between the shared insert and the local mark: the first row is in both.
      const [firstLocal] = await storeA.outbox.pending(1);
      await sharedA.enqueue({ chatId: "g", text: firstLocal!.text, dedupeKey: firstLocal!.dedupeKey, at: firstLocal!.createdAt });
      assert.equal(await fwdA.forward(), 2);
      assert.equal(await fwdA.forward(), 0, "moved once");
      assert.equal(await storeA.outbox.backlog(), 0, "nothing waits locally any more");
      assert.deepEqual((await sharedA.pending(10)).map((m) => [m.text, m.dedupeKey]), [
        ["disk full on stb", "incident:u1:open"],
        ["a reply with no key", `local:a:${firstLocal!.id + 1}`],
      ]);
      assert.equal(await fwdA.backlog(), 2);

      // A dies; B takes the next term and sends what A left, then its own, each once, in order.
      await release(d, lease, "a#1", e1);
      const e2 = (await claim(d, lease, "b#1"))!;
      const fwdB = new ForwardingOutbox(storeB.outbox, new SharedOutbox({ db: d, lease, epoch: () => e2 }), "b", clock);
      await storeB.outbox.enqueue({ chatId: "g", text: "b took over", dedupeKey: `takeover:${lease}:${e2}`, at: clock.now() + 2 });
      const t = recorder("b");
      const pump = new OutboxPump(fwdB, t, clock, silentLogger);
      pump.start();
      await pump.idle();
      await pump.stop();
      assert.deepEqual(t.delivered, ["disk full on stb", "a reply with no key", "b took over"]);
      assert.equal(await fwdB.backlog(), 0);
      // A, under its old term, can move nothing more into B's queue.
      await storeA.outbox.enqueue({ chatId: "g", text: "late", at: clock.now() + 3 });
      await assert.rejects(fwdA.forward(), FencedError);
      assert.equal(await storeA.outbox.backlog(), 1, "kept locally, not lost");
      // With no term held at all, there is nothing to send, and the local queue stays as it is.
      const idle = new ForwardingOutbox(storeA.outbox, new SharedOutbox({ db: d, lease, epoch: () => null }), "a", clock);
      assert.deepEqual(await idle.pending(10), []);
      assert.equal(await storeA.outbox.backlog(), 1);
    } finally {
      await storeA.close();
      await storeB.close();
    }
  });
});

describe("who may call the outbox functions", () => {
  it("only the service role: not anon, not a signed-in admin, not a service client", async () => {
    const calls: [string, Record<string, unknown>][] = [
      ["jaga_outbox_enqueue", { p_name: "rls", p_epoch: 1, p_chat_id: "g", p_text: "x", p_dedupe_key: null, p_at: 1 }],
      ["jaga_outbox_mark", { p_name: "rls", p_epoch: 1, p_id: 1, p_step: "sent", p_at: 1 }],
      ["jaga_outbox_record", { p_name: "rls", p_epoch: 1, p_msg_id: "m", p_state: "acked", p_code: null, p_at: 1 }],
      ["jaga_outbox_select", { p_name: "rls", p_what: "pending", p_at: 1 }],
      ["jaga_outbox_stats", { p_name: "rls" }],
    ];
    for (const token of [undefined, await sb.stack.userToken("admin"), await sb.stack.serviceClientToken("kjp-bot")]) {
      for (const [fn, args] of calls) {
        const { error } = await sb.stack.client(token).rpc(fn, args);
        assert.equal(error?.code, "42501", `${fn}, token ${token ? "user" : "anon"}`);
      }
    }
    const service = createSupabaseClient({ url: sb.stack.url, key: sb.stack.serviceRoleKey });
    const ok = await service.rpc("jaga_outbox_stats", { p_name: "rls" });
    assert.equal(ok.error, null);
    const table = await service.schema("jaga").from("outbox").select();
    assert.ok(table.error, "schema jaga is not exposed");
  });
});
