/**
 * Message handling with real Baileys message objects (proto.WebMessageInfo), fed through the
 * transport's `messages.upsert` event path. Sending is observed on a stand-in for the socket's
 * sendMessage, since no real WhatsApp server is ever reached.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { proto, type WAMessage } from "@whiskeysockets/baileys";
import { ManualClock } from "../src/clock.js";
import type { IncomingMessage } from "../src/chat/transport.js";
import { waTransport } from "./helpers/wa-transport.js";

const ADMIN = "6281234567890";
const ADMIN_LID = "123456789012345";
const GROUP = "120363000000000001@g.us";

/**
 * As Baileys builds it (decode-wa-message.ts): a proto.WebMessageInfo whose key also carries
 * the fields proto does not know (remoteJidAlt, participantAlt, addressingMode).
 */
function msg(key: WAMessage["key"], message: proto.IMessage): WAMessage {
  const full = { id: `ID${Math.random().toString(16).slice(2, 10)}`, fromMe: false, ...key };
  const info = proto.WebMessageInfo.fromObject({ key: full, message, messageTimestamp: 1_760_000_000 }) as WAMessage;
  Object.assign(info.key, full);
  return info;
}
const text = (t: string): proto.IMessage => ({ conversation: t });

async function setup() {
  const clock = new ManualClock(1_000_000);
  const { transport, store } = waTransport({ url: "ws://127.0.0.1:9/ws/chat", resolvers: ["127.0.0.1:1"], clock, known: [ADMIN], alertGroup: GROUP });
  const got: IncomingMessage[] = [];
  const sent: { jid: string; content: Record<string, unknown>; opts: Record<string, unknown> }[] = [];
  // No socket at all here: the reconnector is stopped before start() could dial anything.
  await transport.reconnector.stop();
  // A stand-in for the open socket: only what the transport calls.
  const sock = {
    sendMessage: (jid: string, content: Record<string, unknown>, opts: Record<string, unknown> = {}) => {
      sent.push({ jid, content, opts });
      return Promise.resolve(undefined);
    },
  };
  Object.assign(transport, { sock });
  Object.defineProperty(transport, "connected", { get: () => true });
  return { clock, transport, store, got, sent };
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

describe("incoming WhatsApp messages", () => {
  it("accepts a known person in a direct chat, by phone number or by LID with remoteJidAlt", async () => {
    const { transport, store, got } = await setup();
    await transport.start((m) => {
      got.push(m);
      return Promise.resolve();
    });
    transport.handleUpsert({ type: "notify", messages: [msg({ remoteJid: `${ADMIN}@s.whatsapp.net` }, text("/status"))] });
    transport.handleUpsert({
      type: "notify",
      messages: [msg({ remoteJid: `${ADMIN_LID}@lid`, remoteJidAlt: `${ADMIN}@s.whatsapp.net`, addressingMode: "lid" }, text("/whoami"))],
    });
    await flush();
    // Now the LID alone is enough: the map remembered it (and the store did too).
    transport.handleUpsert({ type: "notify", messages: [msg({ remoteJid: `${ADMIN_LID}@lid` }, { extendedTextMessage: { text: "/help" } })] });
    await flush();
    assert.deepEqual(
      got.map((m) => [m.senderId, m.text, m.isGroup]),
      [
        [ADMIN, "/status", false],
        [ADMIN, "/whoami", false],
        [ADMIN, "/help", false],
      ],
    );
    assert.equal(got[0]!.at, 1_760_000_000_000);
    assert.equal(store.waAuth.lidToPhone(ADMIN_LID), ADMIN);
    await store.close();
  });

  it("accepts the alert group (participant LID + participantAlt), ignores everything else and counts it", async () => {
    const { transport, store, got } = await setup();
    await transport.start((m) => {
      got.push(m);
      return Promise.resolve();
    });
    const ignored = [
      msg({ remoteJid: GROUP, participant: `${ADMIN_LID}@lid`, participantAlt: `${ADMIN}@s.whatsapp.net` }, text("/status")), // accepted
      msg({ remoteJid: "120363000000000099@g.us", participant: `${ADMIN}@s.whatsapp.net` }, text("/status")), // other group
      msg({ remoteJid: "6289999999999@s.whatsapp.net" }, text("/restart api")), // unknown sender
      msg({ remoteJid: "999999999999999@lid" }, text("/status")), // unknown LID
      msg({ remoteJid: `${ADMIN}@s.whatsapp.net`, fromMe: true }, text("/status")), // own
      msg({ remoteJid: "status@broadcast", participant: `${ADMIN}@s.whatsapp.net` }, text("hi")), // status
      msg({ remoteJid: `${ADMIN}@s.whatsapp.net` }, { imageMessage: { caption: "x" } }), // not text
      msg({ remoteJid: `${ADMIN}@s.whatsapp.net` }, { protocolMessage: { type: 0 } }), // protocol
    ];
    transport.handleUpsert({ type: "notify", messages: ignored });
    await flush();
    assert.equal(got.length, 1);
    assert.deepEqual([got[0]!.chatId, got[0]!.senderId, got[0]!.isGroup], [GROUP, ADMIN, true]);
    assert.deepEqual(transport.ignored, {
      history: 0,
      duplicate: 0,
      stale: 0,
      own: 1,
      status: 1,
      broadcast: 0,
      newsletter: 0,
      malformed: 0,
      "not-text": 2,
      "other-group": 1,
      "unknown-sender": 2,
    });
    // Garbage does not throw out of the event path.
    transport.handleUpsert({ type: "notify", messages: [{} as WAMessage, { key: {} }] });
    assert.equal(transport.ignored.malformed, 2);
    await store.close();
  });

  it("quotes the command in the reply; ⏳ after 2 s, then ✅ or ❌", async () => {
    const { clock, transport, store, sent } = await setup();
    let finish!: () => void;
    await transport.start(async (m) => {
      if (m.text === "/slow") await new Promise<void>((r) => (finish = r));
      await transport.reply(m, m.text === "/fail" ? "❌ no" : "done");
    });
    const fast = msg({ remoteJid: `${ADMIN}@s.whatsapp.net` }, text("/fast"));
    transport.handleUpsert({ type: "notify", messages: [fast] });
    await flush();
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.content.text, "done");
    assert.equal((sent[0]!.opts.quoted as WAMessage).key.id, fast.key.id);

    const slow = msg({ remoteJid: `${ADMIN}@s.whatsapp.net` }, text("/slow"));
    transport.handleUpsert({ type: "notify", messages: [slow] });
    await flush();
    await clock.advance(1_999);
    assert.equal(sent.length, 1, "no reaction before 2 s");
    await clock.advance(1);
    await flush();
    assert.deepEqual(sent[1]!.content.react, { text: "⏳", key: slow.key });
    finish();
    await flush();
    assert.equal(sent[2]!.content.text, "done");
    assert.deepEqual((sent[3]!.content.react as { text: string }).text, "✅");
    await store.close();
  });

  it("takes ✅ or ❌ from the pipeline's outcome when it is given, not from the reply's first mark", async () => {
    const { clock, transport, store, sent } = await setup();
    await transport.start(async (m) => {
      await clock.sleep(3_000);
      // A refused command whose text happens to start with a friendly mark.
      await transport.reply(m, "ℹ️ nothing to do", false);
    });
    const m = msg({ remoteJid: `${ADMIN}@s.whatsapp.net` }, text("/slow"));
    transport.handleUpsert({ type: "notify", messages: [m] });
    await flush();
    await clock.advance(3_000);
    await flush();
    const reactions = sent.filter((x) => x.content.react).map((x) => (x.content.react as { text: string }).text);
    assert.deepEqual(reactions, ["⏳", "❌"]);
    await store.close();
  });

  it("keeps a reply in the outbox when it cannot go out, and send() rejects while disconnected", async () => {
    const { transport, store } = waTransport({ url: "ws://127.0.0.1:9/ws/chat", resolvers: ["127.0.0.1:1"], known: [ADMIN] });
    const kept: string[] = [];
    Object.assign(transport, {
      o: { ...(transport as unknown as { o: object }).o, keepReply: (c: string, t: string, k: string) => Promise.resolve(void kept.push(`${c}|${t}|${k}`)) },
    });
    const m: IncomingMessage = { id: "X1", chatId: `${ADMIN}@s.whatsapp.net`, isGroup: false, senderId: ADMIN, text: "/status", at: 0 };
    await transport.reply(m, "late answer");
    assert.deepEqual(kept, [`${ADMIN}@s.whatsapp.net|late answer|reply:X1`]);
    await assert.rejects(transport.send("alerts", "x"), /not connected/);
    await store.close();
  });
});
