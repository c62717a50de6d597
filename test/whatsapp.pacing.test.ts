/**
 * Pacing and coalescing, never dropping: the real outbox and pump with the per-chat budget
 * (src/chat/pacing.ts) on an injected clock. A burst for one chat becomes one message listing
 * them all; what queued while WhatsApp was away becomes one "while I was offline" message; a
 * spent daily budget makes messages wait for the next day, none is lost.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OutboxPump } from "../src/chat/outbox-pump.js";
import { Pacer, type Headers } from "../src/chat/pacing.js";
import { ManualClock } from "../src/clock.js";
import { silentLogger } from "../src/log.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";

const GROUP = "120363000000000001@g.us";
const DM = "6281234567890";

function headers(log: string[] = []): Headers {
  return {
    batch: (n) => `🧾 ${n} alerts`,
    offline: (n, o) => `📴 offline ${Math.round((o.to - o.from) / 60_000)}m, ${n} messages`,
    budgetWarning: (chat, used, budget) => void log.push(`warn ${chat} ${used}/${budget}`),
    budgetSpent: (chat, budget) => void log.push(`spent ${chat} ${budget}`),
  };
}

function setup(o: { dailyBudget?: number; outage?: { from: number; to: number } | null } = {}) {
  const clock = new ManualClock(Date.parse("2026-12-01T07:00:00Z"));
  const store = openSqliteStore(":memory:");
  const sent: { at: number; chat: string; text: string }[] = [];
  const transport = {
    send: (chat: string, text: string) => Promise.resolve(void sent.push({ at: clock.now(), chat, text })),
    lastOutage: () => o.outage ?? null,
  };
  const notes: string[] = [];
  const pacer = new Pacer({ intervalMs: 3_000, jitterMs: 1_000, dailyBudget: o.dailyBudget ?? 300, random: () => 0.5 }, headers(notes));
  const pump = new OutboxPump(store.outbox, transport, clock, silentLogger, 5_000, 60_000, { pacer });
  const queue = (chatId: string, text: string) => store.outbox.enqueue({ chatId, text, dedupeKey: `${chatId}:${text}`, at: clock.now() });
  const settle = async () => {
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    await pump.idle();
  };
  return { clock, store, pump, sent, notes, queue, settle };
}

describe("pacing and coalescing", () => {
  it("a burst of five alerts to the group: the first at once, the other four as one message 3.5 s later; a direct chat is not held back", async () => {
    const p = setup();
    p.pump.start();
    await p.queue(GROUP, "alert 1");
    p.pump.kick();
    await p.settle();
    for (const n of [2, 3, 4, 5]) await p.queue(GROUP, `alert ${n}`);
    await p.queue(DM, "reply");
    p.pump.kick();
    await p.settle();
    assert.deepEqual(p.sent.map((s) => [s.chat, s.text]), [[GROUP, "alert 1"], [DM, "reply"]]);
    await p.clock.advance(3_499);
    await p.settle();
    assert.equal(p.sent.length, 2, "not before the group's slot (3 s + jitter)");
    await p.clock.advance(1);
    await p.settle();
    assert.equal(p.sent.length, 3);
    const merged = p.sent[2]!;
    assert.equal(merged.chat, GROUP);
    assert.match(merged.text, /^🧾 4 alerts\n\n───\n\nalert 2\n\n───\n\nalert 3\n\n───\n\nalert 4\n\n───\n\nalert 5$/);
    assert.equal(await p.store.outbox.backlog(), 0, "every row is marked sent");
    await p.pump.stop();
    await p.store.close();
  });

  it("while I was offline: what queued during WhatsApp's outage goes as one message saying for how long", async () => {
    const start = Date.parse("2026-12-01T07:00:00Z");
    const p = setup({ outage: { from: start - 38 * 60_000, to: start + 1 } });
    await p.queue(GROUP, "🔁 storm opened");
    await p.queue(GROUP, "✅ storm resolved");
    p.pump.start();
    await p.settle();
    assert.equal(p.sent.length, 1);
    assert.match(p.sent[0]!.text, /^📴 offline 38m, 2 messages\n\n───\n\n🔁 storm opened\n\n───\n\n✅ storm resolved$/);
    await p.pump.stop();
    await p.store.close();
  });

  it("daily budget: warns at 80 %, then messages wait for the next day — none is dropped", async () => {
    const p = setup({ dailyBudget: 5 });
    p.pump.start();
    for (let n = 1; n <= 7; n++) {
      await p.queue(GROUP, `m${n}`);
      p.pump.kick();
      await p.settle();
      await p.clock.advance(4_000);
      await p.settle();
    }
    assert.equal(p.sent.length, 5);
    assert.deepEqual(p.notes, [`warn ${GROUP} 4/5`, `spent ${GROUP} 5`]);
    assert.equal(await p.store.outbox.backlog(), 2, "kept, not dropped");
    await p.clock.advance(24 * 3_600_000);
    await p.settle();
    assert.equal(p.sent.length, 6);
    assert.match(p.sent[5]!.text, /^🧾 2 alerts/);
    assert.equal(await p.store.outbox.backlog(), 0);
    await p.pump.stop();
    await p.store.close();
  });
});
