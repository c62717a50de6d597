/**
 * One incident, one thread in the group: while WhatsApp allows an edit (15 minutes, Jaga keeps
 * two of margin) the opening alert is edited in place as the incident changes (acknowledged by
 * whom, resolved); later news are quoted replies to it. Real desk, real SQLite outbox, the real
 * pump, and the WhatsApp transport whose socket stand-in builds every message with Baileys' own
 * `generateWAMessage` — the function `sendMessage` calls — so what is asserted is the
 * protocolMessage / contextInfo Baileys 7.0.0-rc14 would put on the wire.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import { PassThrough } from "node:stream";
import { generateWAMessage, proto, type AnyMessageContent, type MiscMessageGenerationOptions, type WAMessage } from "@whiskeysockets/baileys";
import { ConsoleTransport } from "../src/chat/console.js";
import { watchDelivery, type DeliveryEvent } from "../src/chat/baileys/delivery.js";
import { EDIT_WINDOW_MS, OutboxPump } from "../src/chat/outbox-pump.js";
import { Pacer, pacingHeaders } from "../src/chat/pacing.js";
import { translator } from "../src/i18n/index.js";
import { ManualClock } from "../src/clock.js";
import { silentLogger } from "../src/log.js";
import { watchHarness } from "./helpers/watch.js";
import { waTransport } from "./helpers/wa-transport.js";

const GROUP = "120363000000000001@g.us";
const ME = "6281100000001@s.whatsapp.net";
const STORM = { host: "local", app: "bot-kjp", kind: "restart_storm" } as const;
const T0 = Date.parse("2026-12-02T06:00:00Z");

/** A WhatsApp transport on the harness's store whose socket records what Baileys would send. */
async function whatsapp(w: ReturnType<typeof watchHarness>, clock: ManualClock, o: { alertGroup?: string; fallback?: string[] } = {}) {
  const { transport } = waTransport({
    url: "ws://127.0.0.1:9/ws/chat",
    resolvers: ["127.0.0.1:1"],
    clock,
    alertGroup: o.alertGroup,
    overrides: { kv: w.store.waAuth, sent: w.store.waSent, alertFallback: o.fallback ?? [] },
  });
  await transport.reconnector.stop(); // no socket: sends go to the stand-in below
  const sent: WAMessage[] = [];
  // The server's ack of each message, as Baileys hears it (`CB:ack,class:message`), through the
  // transport's own delivery watch.
  const ws = new EventEmitter();
  const sock = {
    user: { id: ME },
    ws,
    ev: new EventEmitter(),
    async sendMessage(jid: string, content: AnyMessageContent, options: MiscMessageGenerationOptions = {}) {
      const msg = await generateWAMessage(jid, content, {
        userJid: ME,
        upload: () => Promise.reject(new Error("no media here")),
        logger: undefined,
        ...options,
      });
      sent.push(msg);
      return msg;
    },
  };
  Object.assign(transport, { sock });
  Object.defineProperty(transport, "connected", { get: () => true });
  watchDelivery(sock as never, (e) => (transport as unknown as { emitDelivery(e: DeliveryEvent): void }).emitDelivery(e));
  const pump = new OutboxPump(w.store.outbox, transport, clock, silentLogger);
  /** Sends everything queued, and returns what went out since the last flush (the pump also wakes on its own). */
  let seen = 0;
  const flush = async () => {
    pump.kick();
    await pump.idle();
    const news = sent.slice(seen);
    seen = sent.length;
    for (const m of news) ws.emit("CB:ack,class:message", { attrs: { id: m.key.id, class: "message", from: m.key.remoteJid } });
    await w.store.outbox.stats(); // the acks are recorded by now (the store runs in order)
    await new Promise((r) => setImmediate(r));
    return news;
  };
  return { transport, sent, flush, pump };
}

const textOf = (m: WAMessage) => m.message?.extendedTextMessage?.text ?? m.message?.conversation ?? "";

const editOf = (m: WAMessage) => {
  const p = m.message?.protocolMessage;
  if (p?.type !== proto.Message.ProtocolMessage.Type.MESSAGE_EDIT) return null;
  return { target: p.key?.id, text: p.editedMessage?.extendedTextMessage?.text ?? p.editedMessage?.conversation ?? "" };
};
const quoteOf = (m: WAMessage) => {
  const c = m.message?.extendedTextMessage?.contextInfo;
  return c?.stanzaId ? { target: c.stanzaId, participant: c.participant, quoted: c.quotedMessage?.conversation ?? "" } : null;
};

describe("alert threads", () => {
  it("within the edit window the opening alert is edited in place: acknowledged by whom, then resolved", async () => {
    const clock = new ManualClock(T0);
    const w = watchHarness({ alerts: { group: GROUP } }, { clock, alertChat: GROUP });
    const wa = await whatsapp(w, clock, { alertGroup: GROUP });
    try {
      const incident = await w.watch.desk.raise(STORM, { summary: "6 restarts in 2 min." });
      const [opening, ...more] = await wa.flush();
      assert.equal(more.length, 0);
      assert.ok(opening?.key.id, "the opening alert went out");
      assert.equal(editOf(opening), null);
      const original = textOf(opening);
      assert.match(original, /Restart storm/);

      await clock.advance(2 * 60_000);
      assert.match((await w.send(`/ack ${incident.id}`)) ?? "", /acknowledged/);
      const acked = await wa.flush();
      assert.equal(acked.length, 1, "one message: the edit");
      assert.equal(acked[0]!.key.remoteJid, GROUP);
      const edit = editOf(acked[0]!);
      assert.ok(edit, "sent as a WhatsApp edit (protocolMessage MESSAGE_EDIT)");
      assert.equal(edit.target, opening.key.id, "of the opening alert");
      assert.equal(edit.text, `👀 *Acknowledged* by console\n\n${original}`);

      // Acknowledged twice: nothing new.
      await w.send(`/ack ${incident.id}`);
      assert.equal((await wa.flush()).length, 0);

      await clock.advance(3 * 60_000);
      await w.watch.desk.clear(STORM);
      const resolved = await wa.flush();
      assert.equal(resolved.length, 1);
      const second = editOf(resolved[0]!);
      assert.equal(second?.target, opening.key.id);
      assert.match(second.text, /^✅ \*Resolved\* — back to normal, lasted 5m · acknowledged by console\n\n/);
      assert.ok(second.text.endsWith(original), "the alert still reads as it did, with its status on top");
    } finally {
      await w.close();
    }
  });

  it("after the edit window later news are quoted replies to the opening alert; reminders always are", async () => {
    const clock = new ManualClock(T0);
    const w = watchHarness({ alerts: { group: GROUP } }, { clock, alertChat: GROUP });
    const wa = await whatsapp(w, clock, { alertGroup: GROUP });
    try {
      const incident = await w.watch.desk.raise(STORM, { summary: "6 restarts in 2 min." });
      const [opening] = await wa.flush();
      const original = textOf(opening!);

      await clock.advance(EDIT_WINDOW_MS); // the edit window has just closed
      await w.send(`/ack ${incident.id}`);
      const [ack] = await wa.flush();
      assert.equal(editOf(ack!), null, "too late for an edit");
      const q = quoteOf(ack!);
      assert.deepEqual(q, { target: opening!.key.id, participant: ME, quoted: original });
      assert.match(textOf(ack!), /acknowledged by console/);

      await clock.advance(40 * 60_000);
      await w.watch.desk.clear(STORM);
      const [done] = await wa.flush();
      assert.equal(quoteOf(done!)?.target, opening!.key.id);
      assert.match(textOf(done!), /^✅ Resolved: #\d+/);
    } finally {
      await w.close();
    }

    // A reminder (30 min on) replies to its alert even with no edit window in play.
    const clock2 = new ManualClock(T0);
    const w2 = watchHarness({ alerts: { group: GROUP } }, { clock: clock2, alertChat: GROUP });
    const wa2 = await whatsapp(w2, clock2, { alertGroup: GROUP });
    try {
      await w2.watch.desk.raise(STORM, { summary: "6 restarts in 2 min." });
      const [opening] = await wa2.flush();
      await clock2.advance(31 * 60_000);
      await w2.watch.desk.raise(STORM, { summary: "9 restarts in 33 min." });
      const [reminder] = await wa2.flush();
      assert.match(textOf(reminder!), /Still happening/);
      assert.equal(quoteOf(reminder!)?.target, opening!.key.id);
    } finally {
      await w2.close();
    }
  });

  it("an alert coalesced with others is never edited (that would erase them): its news are replies", async () => {
    const clock = new ManualClock(T0);
    const w = watchHarness({ alerts: { group: GROUP } }, { clock, alertChat: GROUP });
    const wa = await whatsapp(w, clock, { alertGroup: GROUP });
    // Pacing coalesces what waits for the same chat into one message.
    const pump = new OutboxPump(w.store.outbox, wa.transport, clock, silentLogger, 5_000, 60_000, {
      pacer: new Pacer({ intervalMs: 1_000, jitterMs: 0, random: () => 0 }, pacingHeaders(translator("en"), silentLogger, "UTC")),
    });
    try {
      await w.watch.desk.raise(STORM, { summary: "6 restarts in 2 min." });
      await w.watch.desk.raise({ host: "local", app: "web", kind: "restart_storm" }, { summary: "4 restarts in 1 min." });
      pump.kick();
      await pump.idle();
      assert.equal(wa.sent.length, 1, "both alerts in one message");
      const batch = wa.sent[0]!;
      await clock.advance(60_000);
      await w.watch.desk.clear(STORM);
      pump.kick();
      await pump.idle();
      const news = wa.sent.slice(1);
      assert.equal(news.length, 1);
      assert.equal(editOf(news[0]!), null);
      assert.equal(quoteOf(news[0]!)?.target, batch.key.id);
      assert.match(textOf(news[0]!), /Resolved/);
    } finally {
      await pump.stop();
      await w.close();
    }
  });

  it("with no group, each admin's own copy is edited", async () => {
    const clock = new ManualClock(T0);
    const w = watchHarness({}, { clock });
    const wa = await whatsapp(w, clock, { fallback: ["6281100000002", "6281100000003"] });
    try {
      await w.watch.desk.raise(STORM, { summary: "6 restarts in 2 min." });
      const openings = await wa.flush();
      assert.deepEqual(openings.map((m) => m.key.remoteJid), ["6281100000002@s.whatsapp.net", "6281100000003@s.whatsapp.net"]);
      await clock.advance(60_000);
      await w.watch.desk.clear(STORM);
      const edits = await wa.flush();
      assert.deepEqual(
        edits.map((m) => [m.key.remoteJid, editOf(m)?.target]),
        openings.map((m) => [m.key.remoteJid, m.key.id]),
      );
    } finally {
      await w.close();
    }
  });

  it("an opening alert that never went out leaves nothing to thread: the news go on their own", async () => {
    const clock = new ManualClock(T0);
    const w = watchHarness({ alerts: { group: GROUP } }, { clock, alertChat: GROUP });
    const wa = await whatsapp(w, clock, { alertGroup: GROUP });
    try {
      await w.watch.desk.raise(STORM, { summary: "6 restarts in 2 min." });
      const [row] = await w.store.outbox.pending(10);
      await w.store.outbox.deadLetter(row!.id, "463", "error ack 463", clock.now());
      await clock.advance(60_000);
      await w.watch.desk.clear(STORM);
      const [news, ...rest] = await wa.flush();
      assert.equal(rest.length, 0);
      assert.equal(editOf(news!), null);
      assert.equal(quoteOf(news!), null);
      assert.match(textOf(news!), /Resolved/);
    } finally {
      await w.close();
    }
  });

  it("the console shows an edit as the alert as it now reads", async () => {
    const clock = new ManualClock(T0);
    const w = watchHarness({}, { clock });
    const out = new PassThrough();
    let printed = "";
    out.on("data", (d: Buffer) => (printed += d.toString()));
    const transport = new ConsoleTransport(new PassThrough(), out, "alerts");
    const pump = new OutboxPump(w.store.outbox, transport, clock, silentLogger);
    try {
      const incident = await w.watch.desk.raise(STORM, { summary: "6 restarts in 2 min." });
      pump.kick();
      await pump.idle();
      await clock.advance(60_000);
      await w.send(`/ack ${incident.id}`);
      pump.kick();
      await pump.idle();
      assert.match(printed, /^\[alert\] 🔁 \*Restart storm\*/m);
      assert.match(printed, /^\[alert ✏️\] 👀 \*Acknowledged\* by console$/m);
      assert.match(printed, /^\[alert ✏️\] 🔁 \*Restart storm\*/m);
    } finally {
      await pump.stop();
      await w.close();
    }
  });
});
