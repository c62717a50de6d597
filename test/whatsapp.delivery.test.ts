/**
 * Delivery you can verify, at the Baileys socket boundary: the real WhatsApp transport and the
 * real outbox and pump, with a stand-in socket that emits exactly what rc14 emits after a send —
 * the server's `ack` stanza on the WebSocket client (`CB:ack,class:message`), an error ack as
 * `messages.update` with `status: ERROR` and `messageStubParameters: ['463']`, receipts as
 * `messages.update` DELIVERY_ACK / READ. No real WhatsApp server is reached.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import { proto, type WAMessage } from "@whiskeysockets/baileys";
import { OutboxPump } from "../src/chat/outbox-pump.js";
import { healthSnapshot } from "../src/http/health.js";
import { renderMetrics } from "../src/http/metrics.js";
import { ManualClock } from "../src/clock.js";
import { silentLogger } from "../src/log.js";
import type { Outbox, OutboxMessage } from "../src/store/store.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";
import { waTransport } from "./helpers/wa-transport.js";

const GROUP = "120363000000000001@g.us";
const Status = proto.WebMessageInfo.Status;

/**
 * `fastAck`: the server's ack comes right after the write, while the pump is still recording the
 * send, as a shared outbox does it — a database call (PostgREST) per row.
 */
async function setup(policy: { maxAttempts?: number; ackTimeoutMs?: number } = {}, o: { fastAck?: boolean } = {}) {
  const clock = new ManualClock(Date.parse("2026-12-01T07:00:00Z"));
  const store = openSqliteStore(":memory:");
  const { transport } = waTransport({
    url: "ws://127.0.0.1:9/ws/chat",
    resolvers: ["127.0.0.1:1"],
    clock,
    alertGroup: GROUP,
    overrides: { kv: store.waAuth, sent: store.waSent, delivery: () => store.outbox.stats() },
  });
  await transport.reconnector.stop();
  const ev = new EventEmitter();
  const ws = new EventEmitter();
  const writes: { jid: string; id: string; text: string }[] = [];
  const sock = {
    ev,
    ws,
    user: { id: "6281100000001:7@s.whatsapp.net" },
    groupMetadata: () => Promise.reject(new Error("not needed here")),
    // As Baileys: resolves once the stanza is written, with the message it built.
    sendMessage: (jid: string, content: { text: string }, opts: { messageId?: string }) => {
      // Baileys makes an id when none is given (generateMessageIDV2).
      const id = opts.messageId ?? `3EB0${String(writes.length).padStart(16, "0")}`;
      writes.push({ jid, id, text: content.text });
      if (o.fastAck) setImmediate(() => serverAck(id));
      return Promise.resolve(proto.WebMessageInfo.fromObject({ key: { remoteJid: jid, fromMe: true, id }, message: { extendedTextMessage: { text: content.text } } }) as WAMessage);
    },
  };
  (transport as unknown as { attach(s: unknown): void }).attach(sock);
  ev.emit("connection.update", { connection: "open" });
  Object.defineProperty(transport, "connected", { get: () => true });
  const dead: { m: OutboxMessage; code: string }[] = [];
  const outbox: Outbox = o.fastAck
    ? { ...store.outbox, markSent: (id, at, msgIds) => new Promise<void>((r) => setTimeout(r, 20)).then(() => store.outbox.markSent(id, at, msgIds)) }
    : store.outbox;
  const pump = new OutboxPump(outbox, transport, clock, silentLogger, 5_000, 60_000, { ...policy, onDeadLetter: (m, code) => dead.push({ m, code }) });
  const alert = async (text: string) => {
    await store.outbox.enqueue({ chatId: GROUP, text, dedupeKey: text, at: clock.now() });
    pump.kick();
    await pump.idle();
  };
  const settle = async () => {
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    await pump.idle();
  };
  const serverAck = (id: string) => ws.emit("CB:ack,class:message", { tag: "ack", attrs: { id, class: "message", from: GROUP, t: "1764572400" } });
  const update = (id: string, status: number, params?: string[]) =>
    ev.emit("messages.update", [{ key: { remoteJid: GROUP, fromMe: true, id }, update: { status, ...(params ? { messageStubParameters: params } : {}) } }]);
  return { clock, store, pump, transport, writes, dead, alert, settle, serverAck, update };
}

describe("delivery you can verify", () => {
  it("server ack and receipts: written → acked → delivered → read, shown in the outbox's counts", async () => {
    const d = await setup();
    await d.alert("🔁 storm");
    const [w] = d.writes;
    assert.ok(w);
    assert.deepEqual(await d.store.outbox.stats(), { queued: 0, unacked: 1, retrying: 0, dead: 0, oldestQueuedAt: null });
    d.serverAck(w.id);
    await d.settle();
    assert.equal((await d.store.outbox.stats()).unacked, 0, "the server took it");
    d.update(w.id, Status.DELIVERY_ACK);
    d.update(w.id, Status.READ);
    d.update(w.id, Status.SERVER_ACK); // late and out of order: changes nothing
    await d.settle();
    const row = d.store.db.prepare("SELECT acked_at, delivered_at, dead_at FROM outbox").get() as Record<string, number | null>;
    assert.ok(row.acked_at && row.delivered_at && row.dead_at === null);
    assert.equal(d.writes.length, 1, "sent once");
    await d.pump.stop();
    await d.store.close();
  });

  it("an ack that outruns the pump's \"sent\" mark is recorded once the mark is: acked, never re-sent as unacked", async () => {
    const d = await setup({ ackTimeoutMs: 30_000 }, { fastAck: true });
    await d.alert("acked before it was marked sent");
    await d.settle();
    assert.equal((await d.store.outbox.stats()).unacked, 0, "the server took it");
    await d.clock.advance(60_000);
    await d.settle();
    assert.equal(d.writes.length, 1, "sent once");
    assert.equal((await d.store.outbox.stats()).retrying, 0);
    await d.pump.stop();
    await d.store.close();
  });

  it("463: an error ack dead-letters the alert (never re-sent), raises the dead-letter hook, and later alerts are not blocked", async () => {
    const d = await setup();
    await d.alert("first");
    d.update(d.writes[0]!.id, Status.ERROR, ["463"]);
    await d.settle();
    await d.alert("second");
    await d.alert("third");
    d.serverAck(d.writes[1]!.id);
    d.serverAck(d.writes[2]!.id);
    await d.settle();
    await d.clock.advance(10 * 60_000);
    await d.settle();
    assert.deepEqual(d.writes.map((w) => w.text), ["first", "second", "third"], "463 is never re-sent blindly");
    assert.deepEqual(d.dead.map((x) => [x.m.id, x.code]), [[1, "463"]]);
    const s = await d.store.outbox.stats();
    assert.equal(s.dead, 1);
    await d.pump.stop();
    await d.store.close();
  });

  it("479 in the alert group: dead-lettered like 463", async () => {
    const d = await setup();
    await d.alert("to a group that rejects us");
    d.update(d.writes[0]!.id, Status.ERROR, ["479"]);
    await d.settle();
    assert.deepEqual(d.dead.map((x) => x.code), ["479"]);
    await d.pump.stop();
    await d.store.close();
  });

  it("a transient error ack is retried under the same message id with backoff, while later alerts go out", async () => {
    const d = await setup();
    await d.alert("flaky");
    const id = d.writes[0]!.id;
    d.update(id, Status.ERROR, ["500"]);
    await d.settle();
    await d.alert("next");
    assert.deepEqual(d.writes.map((w) => w.text), ["flaky", "next"], "no head-of-line block");
    await d.clock.advance(10_000);
    await d.settle();
    assert.deepEqual(d.writes.map((w) => [w.text, w.id === id]), [["flaky", true], ["next", false], ["flaky", true]], "the same id again: the receiver drops a copy");
    assert.equal(d.dead.length, 0);
    await d.pump.stop();
    await d.store.close();
  });

  it("missing ack: re-sent under the same id after the ack timeout, dead-lettered when out of tries", async () => {
    const d = await setup({ ackTimeoutMs: 30_000, maxAttempts: 3 });
    await d.alert("no answer");
    for (let i = 0; i < 6; i++) {
      await d.clock.advance(30_000);
      await d.settle();
    }
    assert.equal(d.writes.length, 3, "three tries in all");
    assert.equal(new Set(d.writes.map((w) => w.id)).size, 1, "always the same message id");
    assert.deepEqual(d.dead.map((x) => x.code), ["no-ack"]);
    await d.pump.stop();
    await d.store.close();
  });

  it("not a WhatsApp chat: dead-lettered at once, and the next alert still goes", async () => {
    const d = await setup();
    await d.store.outbox.enqueue({ chatId: "nonsense", text: "x", at: d.clock.now() });
    await d.alert("fine");
    assert.deepEqual(d.dead.map((x) => x.code), ["not-whatsapp"]);
    assert.deepEqual(d.writes.map((w) => w.text), ["fine"]);
    await d.pump.stop();
    await d.store.close();
  });

  it("/health, /metrics and /wa show queued, unacked, retrying and dead-lettered counts and the oldest queued age", async () => {
    const d = await setup();
    await d.alert("acked one");
    d.serverAck(d.writes[0]!.id);
    await d.alert("waits for its ack");
    await d.alert("rejected");
    d.update(d.writes[2]!.id, Status.ERROR, ["463"]);
    await d.settle();
    const control = d.transport.control;
    const snap = await healthSnapshot({ clock: d.clock, startedAt: d.clock.now(), version: "t", transport: "whatsapp", whatsapp: control, backlog: () => d.store.outbox.backlog(), hosts: () => [] });
    assert.deepEqual(snap.whatsapp?.delivery, { queued: 0, unacked: 1, retrying: 0, dead: 1, oldestQueuedAgeSeconds: null });
    assert.equal(snap.status, "degraded");
    assert.ok(snap.reasons.some((r) => /1 WhatsApp message\(s\) could not be delivered/.test(r)));
    const metrics = renderMetrics(snap);
    assert.match(metrics, /jaga_outbox_messages\{state="dead"\} 1/);
    assert.match(metrics, /jaga_outbox_messages\{state="unacked"\} 1/);
    await d.pump.stop();
    await d.store.close();
  });

  it("a reply, sent outside the outbox, keeps its delivery state in the store too (written → read, or failed with its code)", async () => {
    const d = await setup();
    const asked = { id: "3EB0ASK", chatId: GROUP, isGroup: true, senderId: "6281234567890", text: "/status", at: d.clock.now() };
    await d.transport.reply(asked, "📊 all good");
    await d.transport.reply({ ...asked, id: "3EB0ASK2" }, "📊 again");
    const [first, second] = d.writes.map((w) => w.id);
    assert.equal(d.store.waSent.state(first!)?.state, "written");
    d.serverAck(first!);
    d.update(first!, Status.READ);
    d.update(second!, Status.ERROR, ["479"]);
    await d.settle();
    assert.deepEqual(d.store.waSent.state(first!), { state: "read", code: null });
    assert.deepEqual(d.store.waSent.state(second!), { state: "failed", code: "479" });
    await d.pump.stop();
    await d.store.close();
  });
});
