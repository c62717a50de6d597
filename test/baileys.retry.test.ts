/**
 * Retry request answered by getMessage: when a phone cannot decrypt a message Jaga sent, it
 * sends a retry receipt and Baileys asks `getMessage(key)` for the content (messages-recv.ts
 * sendMessagesAgain). Jaga keeps what it sent — as Baileys' sendMessage returns it, a
 * proto.WebMessageInfo whose message may hold binary fields — for 14 days, across restarts.
 * Baileys' retry-counter and device caches live outside the socket, bounded.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { proto, type WAMessage } from "@whiskeysockets/baileys";
import { BoundedCache } from "../src/chat/baileys/caches.js";
import { ManualClock } from "../src/clock.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";
import { sqliteSentMessages, SENT_KEEP_MS } from "../src/store/sqlite/wa-sent.js";
import { waTransport } from "./helpers/wa-transport.js";

const GROUP = "120363000000000001@g.us";
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** What Baileys' sendMessage resolves to for `{ text }` (generateWAMessage: extendedTextMessage + messageSecret). */
function sentShape(jid: string, id: string, text: string): WAMessage {
  return proto.WebMessageInfo.fromObject({
    key: { remoteJid: jid, fromMe: true, id },
    message: { extendedTextMessage: { text }, messageContextInfo: { messageSecret: randomBytes(32) } },
    messageTimestamp: 1_764_000_000,
    status: proto.WebMessageInfo.Status.PENDING,
  }) as WAMessage;
}

async function onStore(file: string, clock: ManualClock) {
  const store = openSqliteStore(file);
  const { transport } = waTransport({
    url: "ws://127.0.0.1:9/ws/chat",
    resolvers: ["127.0.0.1:1"],
    clock,
    alertGroup: GROUP,
    overrides: { kv: store.waAuth, sent: store.waSent },
  });
  await transport.reconnector.stop(); // no socket: sends go to the stand-in below
  let n = 0;
  const sock = {
    sendMessage: (jid: string, content: { text: string }, opts: { messageId?: string } = {}) =>
      Promise.resolve(sentShape(jid, opts.messageId ?? `3EB0SENT${String(++n).padStart(12, "0")}`, content.text)),
  };
  Object.assign(transport, { sock });
  Object.defineProperty(transport, "connected", { get: () => true });
  return { store, transport };
}

describe("retry request answered by getMessage", () => {
  it("serves the exact content of a sent alert, also after a restart; a miss is undefined, never an empty message", async () => {
    const dir = mkdtempSync(join(tmpdir(), "jaga-retry-"));
    dirs.push(dir);
    const file = join(dir, "jaga.db");
    const clock = new ManualClock(Date.parse("2026-12-01T07:00:00Z"));
    const first = await onStore(file, clock);
    await first.transport.sendOnce(GROUP, "🔁 *Restart storm* · `bot-kjp` on *stb*", "incident:abc:open");
    const stored = first.store.waSent.count();
    assert.equal(stored, 1);
    await first.store.close();

    // Restarted: the phone's retry receipt comes after the reconnect.
    const second = await onStore(file, clock);
    const id = (second.transport as unknown as { messageId(k: string): string }).messageId("incident:abc:open#0");
    const again = await second.transport.getMessage({ remoteJid: GROUP, id, fromMe: true });
    assert.equal(again?.extendedTextMessage?.text, "🔁 *Restart storm* · `bot-kjp` on *stb*");
    assert.ok(again?.messageContextInfo?.messageSecret instanceof Uint8Array, "binary fields survive (BufferJSON)");
    assert.equal(again?.messageContextInfo?.messageSecret?.length, 32);
    assert.equal(await second.transport.getMessage({ remoteJid: GROUP, id: "3EB0NOTSENT000000000", fromMe: true }), undefined);
    await second.store.close();
  });

  it("keeps sent messages 14 days and at most the bound in count", () => {
    const store = openSqliteStore(":memory:");
    const sent = sqliteSentMessages(store.db, 150);
    const t0 = 1_000_000_000_000;
    for (let i = 0; i < 300; i++) sent.keep(`id${i}`, GROUP, t0 + i, "{}");
    sent.keep("late", GROUP, t0 + SENT_KEEP_MS + 1_000, "{}"); // prunes the 14-day-old ones
    assert.ok(sent.count() <= 151, `bounded: ${sent.count()}`);
    assert.equal(sent.get("id0"), undefined);
    assert.equal(sent.get("late"), "{}");
    void store.close();
  });

  it("the retry-counter and device caches outlive the socket, expire like Baileys' and stay bounded", () => {
    let now = 0;
    const cache = new BoundedCache(3_600_000, 3, () => now);
    cache.set("a", 1);
    cache.set("b", 2);
    cache.set("c", 3);
    cache.set("d", 4); // the oldest goes, nothing throws
    assert.deepEqual(["a", "b", "c", "d"].map((k) => cache.get(k)), [undefined, 2, 3, 4]);
    now = 3_600_000;
    assert.equal(cache.get("b"), undefined, "expired after its TTL");
    const { transport } = waTransport({ url: "ws://127.0.0.1:9/ws/chat", resolvers: ["127.0.0.1:1"] });
    const caches = transport.caches;
    caches.msgRetryCounterCache.set("3EB0X", 2);
    // A new socket gets the same objects (socket.ts spreads them into makeWASocket's config).
    assert.equal(transport.caches.msgRetryCounterCache.get("3EB0X"), 2);
    void transport.reconnector.stop();
  });
});
