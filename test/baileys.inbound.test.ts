/**
 * What real WhatsApp does to a bot's inbox, and what Jaga does about it: the same message
 * delivered again (decrypt retries, offline replays, placeholder resends up to 14 days old),
 * commands typed while Jaga was away, and chats it should never decrypt. Messages are real
 * proto.WebMessageInfo objects shaped as Baileys 7.0.0-rc14 upserts them (messages-recv.ts:
 * `upsertMessage(msg, node.attrs.offline ? 'append' : 'notify')`; process-message.ts emits a
 * placeholder resend as `notify` with the original timestamp).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { proto, type WAMessage } from "@whiskeysockets/baileys";
import { ignoreJid, interpretMessage } from "../src/chat/baileys/inbound.js";
import type { IncomingMessage } from "../src/chat/transport.js";
import { ManualClock } from "../src/clock.js";
import { openSqliteStore, type SqliteStore } from "../src/store/sqlite/index.js";
import { waTransport } from "./helpers/wa-transport.js";

const ADMIN = "6281234567890";
const DM = `${ADMIN}@s.whatsapp.net`;
const GROUP = "120363000000000001@g.us";
const NOW = Date.parse("2026-12-01T07:40:00Z"); // 14:40 in Jakarta

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function message(o: { id: string; text: string; sentAt: number; remoteJid?: string }): WAMessage {
  const key = { remoteJid: o.remoteJid ?? DM, fromMe: false, id: o.id };
  const info = proto.WebMessageInfo.fromObject({ key, message: { conversation: o.text }, messageTimestamp: Math.floor(o.sentAt / 1000) }) as WAMessage;
  Object.assign(info.key, key);
  return info;
}

/** A transport on a store that may outlive it (a restart is a second transport on the same file). */
async function jaga(store: SqliteStore, clock: ManualClock, people: string[] = []) {
  const { transport } = waTransport({
    url: "ws://127.0.0.1:9/ws/chat",
    resolvers: ["127.0.0.1:1"],
    clock,
    known: [ADMIN],
    alertGroup: GROUP,
    overrides: { kv: store.waAuth, inbound: store.waInbound, maxCommandAgeMs: 120_000, timezone: "Asia/Jakarta", people },
  });
  await transport.reconnector.stop(); // no socket: messages are fed at the upsert boundary
  const sent: { jid: string; text: unknown; quoted: boolean }[] = [];
  const sock = {
    sendMessage: (jid: string, content: { text?: string }, opts: { quoted?: unknown } = {}) => {
      sent.push({ jid, text: content.text, quoted: opts.quoted !== undefined });
      return Promise.resolve(undefined);
    },
  };
  Object.assign(transport, { sock });
  Object.defineProperty(transport, "connected", { get: () => true });
  const ran: IncomingMessage[] = [];
  await transport.start((m) => {
    ran.push(m);
    return Promise.resolve();
  });
  return { transport, sent, ran };
}

const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

function fileStore(): SqliteStore {
  const dir = mkdtempSync(join(tmpdir(), "jaga-inbound-"));
  dirs.push(dir);
  return openSqliteStore(join(dir, "jaga.db"));
}

describe("WhatsApp inbound: exactly once, never stale", () => {
  it("duplicate message id: the same message delivered twice runs once, and not again after a restart", async () => {
    const clock = new ManualClock(NOW);
    const file = fileStore();
    const first = await jaga(file, clock);
    const m = message({ id: "3EB0AAAA000000000001", text: "/restart bot-kjp", sentAt: NOW - 1_000 });
    first.transport.handleUpsert({ type: "notify", messages: [m] });
    first.transport.handleUpsert({ type: "notify", messages: [message({ id: "3EB0AAAA000000000001", text: "/restart bot-kjp", sentAt: NOW - 1_000 })] });
    await settle();
    assert.equal(first.ran.length, 1);
    assert.equal(first.transport.ignored.duplicate, 1);
    await first.transport.stop();

    // Restarted Jaga, same data file: the server replays its offline queue (append).
    const second = await jaga(file, clock);
    second.transport.handleUpsert({ type: "append", messages: [message({ id: "3EB0AAAA000000000001", text: "/restart bot-kjp", sentAt: NOW - 1_000 })] });
    second.transport.handleUpsert({ type: "notify", messages: [message({ id: "3EB0AAAA000000000002", text: "/status", sentAt: NOW })] });
    await settle();
    assert.deepEqual(second.ran.map((r) => r.text), ["/status"]);
    assert.equal(second.transport.ignored.duplicate, 1);
    await file.close();
  });

  it("stale command: a /restart sent 38 minutes ago is not run, and the sender is told when it was sent", async () => {
    const clock = new ManualClock(NOW);
    const store = openSqliteStore(":memory:");
    const { transport, sent, ran } = await jaga(store, clock);
    transport.handleUpsert({ type: "append", messages: [message({ id: "3EB0BBBB000000000001", text: "/restart bot-kjp", sentAt: NOW - 38 * 60_000 })] });
    await settle();
    assert.equal(ran.length, 0, "an old /restart never runs");
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.jid, DM);
    assert.equal(sent[0]!.quoted, true);
    assert.match(String(sent[0]!.text), /^⏰ `\/restart bot-kjp` from 14:02 was not run \(sent 38m ago\)/);
    assert.equal(transport.ignored.stale, 1);
    await store.close();
  });

  it("placeholder resend: a command 14 days old, re-delivered as notify, is not run", async () => {
    const clock = new ManualClock(NOW);
    const store = openSqliteStore(":memory:");
    const { transport, sent, ran } = await jaga(store, clock);
    transport.handleUpsert({ type: "notify", messages: [message({ id: "3EB0CCCC000000000001", text: "/flush", sentAt: NOW - 14 * 86_400_000 })] });
    await settle();
    assert.equal(ran.length, 0);
    assert.match(String(sent[0]!.text), /`\/flush` from 17\/11 14:40 was not run \(sent 14d ago\)/);
    await store.close();
  });

  it("offline append: a command typed during a short disconnect runs when it arrives", async () => {
    const clock = new ManualClock(NOW);
    const store = openSqliteStore(":memory:");
    const { transport, ran, sent } = await jaga(store, clock);
    transport.handleUpsert({ type: "append", messages: [message({ id: "3EB0DDDD000000000001", text: "/status", sentAt: NOW - 40_000 })] });
    await settle();
    assert.deepEqual(ran.map((r) => r.text), ["/status"]);
    assert.equal(sent.length, 0);
    await store.close();
  });

  it("stale chatter that is not a command is dropped without a reply", async () => {
    const clock = new ManualClock(NOW);
    const store = openSqliteStore(":memory:");
    const { transport, ran, sent } = await jaga(store, clock);
    transport.handleUpsert({ type: "append", messages: [message({ id: "3EB0EEEE000000000001", text: "ok thanks", sentAt: NOW - 3_600_000 })] });
    await settle();
    assert.equal(ran.length + sent.length, 0);
    assert.equal(transport.ignored.stale, 1);
    await store.close();
  });

  it("duplicate message id while the disk is full: the command still runs once", async () => {
    const clock = new ManualClock(NOW);
    const store = openSqliteStore(":memory:");
    const broken = { first: () => { throw new Error("SQLITE_FULL: database or disk is full"); }, prune: () => 0 };
    const { transport } = waTransport({
      url: "ws://127.0.0.1:9/ws/chat",
      resolvers: ["127.0.0.1:1"],
      clock,
      known: [ADMIN],
      overrides: { kv: store.waAuth, inbound: broken },
    });
    await transport.reconnector.stop();
    Object.assign(transport, { sock: { sendMessage: () => Promise.resolve(undefined) } });
    Object.defineProperty(transport, "connected", { get: () => true });
    const ran: string[] = [];
    await transport.start((m) => {
      ran.push(m.id);
      return Promise.resolve();
    });
    for (let i = 0; i < 3; i++) transport.handleUpsert({ type: "notify", messages: [message({ id: "3EB0FFFF000000000001", text: "/status", sentAt: NOW })] });
    await settle();
    assert.deepEqual(ran, ["3EB0FFFF000000000001"]);
    await store.close();
  });

  it("shouldIgnoreJid: status, broadcast lists, newsletters and other groups are dropped before decryption; people and the alert group are read", () => {
    const dropped = ["status@broadcast", "1234567890@broadcast", "120363111111111111@newsletter", "120363000000000099@g.us"];
    const kept = [DM, "123456789012345@lid", GROUP];
    assert.deepEqual(dropped.map((j) => ignoreJid(j, GROUP)), [true, true, true, true]);
    assert.deepEqual(kept.map((j) => ignoreJid(j, GROUP)), [false, false, false]);
    // Without an alert group every group is dropped.
    assert.equal(ignoreJid(GROUP, undefined), true);
  });
});

describe("LID mapping", () => {
  const LID = "987654321098765";

  async function withSocket(lidMapping: { getPNForLID(l: string): Promise<string | null>; getLIDsForPNs(p: string[]): Promise<{ lid: string; pn: string }[] | null> }) {
    const { EventEmitter } = await import("node:events");
    const clock = new ManualClock(NOW);
    const store = openSqliteStore(":memory:");
    const { transport, sent, ran } = await jaga(store, clock, [ADMIN]);
    const ev = new EventEmitter();
    const sock = { ev, ws: new EventEmitter(), signalRepository: { lidMapping }, sendMessage: () => Promise.resolve(undefined) };
    (transport as unknown as { attach(s: unknown): void }).attach(sock);
    ev.emit("connection.update", { connection: "open" });
    await settle();
    return { transport, store, ev, sent, ran };
  }

  it("LID mapping: a sender known only by LID is looked up in Baileys' lidMapping and answered", async () => {
    const asked: string[] = [];
    const { transport, store, ran } = await withSocket({
      getPNForLID: (l) => {
        asked.push(l);
        return Promise.resolve(`${ADMIN}:0@s.whatsapp.net`);
      },
      getLIDsForPNs: () => Promise.resolve(null),
    });
    transport.handleUpsert({ type: "notify", messages: [message({ id: "3EB0LID0000000000001", text: "/status", sentAt: NOW, remoteJid: `${LID}@lid` })] });
    await settle();
    assert.deepEqual(asked, [`${LID}@lid`]);
    assert.deepEqual(ran.map((r) => [r.senderId, r.text]), [[ADMIN, "/status"]]);
    assert.equal(store.waAuth.lidToPhone(LID), ADMIN, "remembered across restarts");
    assert.equal(transport.ignored["unknown-sender"], 0);
    await store.close();
  });

  it("LID mapping: lid-mapping.update and the people's LIDs resolved on open teach Jaga before the first message", async () => {
    const OTHER_LID = "111122223333444";
    const { transport, store, ev, ran } = await withSocket({
      getPNForLID: () => Promise.resolve(null),
      getLIDsForPNs: (pns) => Promise.resolve(pns.map((pn) => ({ pn, lid: `${LID}@lid` }))),
    });
    assert.equal(store.waAuth.lidToPhone(LID), ADMIN, "resolved on open (getLIDsForPNs)");
    ev.emit("lid-mapping.update", { lid: `${OTHER_LID}@lid`, pn: `${ADMIN}@s.whatsapp.net` });
    transport.handleUpsert({ type: "notify", messages: [message({ id: "3EB0LID0000000000002", text: "/help", sentAt: NOW, remoteJid: `${OTHER_LID}@lid` })] });
    await settle();
    assert.deepEqual(ran.map((r) => r.senderId), [ADMIN]);
    // A LID nobody can map stays an unknown sender, without a reply.
    transport.handleUpsert({ type: "notify", messages: [message({ id: "3EB0LID0000000000003", text: "/help", sentAt: NOW, remoteJid: "555555555555555@lid" })] });
    await settle();
    assert.equal(ran.length, 1);
    assert.equal(transport.ignored["unknown-sender"], 1);
    await store.close();
  });
});

describe("replies and reactions, as Baileys upserts them", () => {
  const ctx = { alertGroup: GROUP, isKnown: (p: string) => p === ADMIN, lids: { get: () => undefined } };
  const inGroup = (message: proto.IMessage, id = "3EB0C0FFEE0000000001") =>
    proto.WebMessageInfo.fromObject({
      key: { remoteJid: GROUP, fromMe: false, id, participant: DM },
      message,
      messageTimestamp: Math.floor(NOW / 1000),
    }) as WAMessage;
  const ALERT_ID = "3EB0A1E27000000000000001";

  it("a quoted reply carries the id of the message it answers (contextInfo.stanzaId)", () => {
    const quoted = inGroup({
      extendedTextMessage: {
        text: "2",
        contextInfo: { stanzaId: ALERT_ID, participant: "6280000000000@s.whatsapp.net", quotedMessage: { conversation: "🔁 *Restart storm* · `bot-kjp` on *stb*" } },
      },
    });
    const v = interpretMessage(quoted, "notify", ctx);
    assert.ok(v.accept);
    assert.equal(v.message.text, "2");
    assert.equal(v.message.replyTo, ALERT_ID);
    assert.equal(v.message.reaction, undefined);
  });

  it("a reaction is its emoji answering the reacted-to message; one taken back (empty text) is ignored", () => {
    const reaction = inGroup({ reactionMessage: { key: { remoteJid: GROUP, fromMe: true, id: ALERT_ID }, text: "👍", senderTimestampMs: NOW } });
    const v = interpretMessage(reaction, "notify", ctx);
    assert.ok(v.accept);
    assert.deepEqual([v.message.text, v.message.replyTo, v.message.reaction, v.message.senderId], ["👍", ALERT_ID, true, ADMIN]);
    const undone = inGroup({ reactionMessage: { key: { remoteJid: GROUP, fromMe: true, id: ALERT_ID }, text: "", senderTimestampMs: NOW } });
    assert.deepEqual(interpretMessage(undone, "notify", ctx), { accept: false, reason: "not-text" });
  });

  it("a plain message answers nothing", () => {
    const v = interpretMessage(inGroup({ conversation: "/status" }), "notify", ctx);
    assert.ok(v.accept);
    assert.equal(v.message.replyTo, undefined);
  });
});
