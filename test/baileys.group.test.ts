/**
 * Group metadata cache: the alert group's metadata is fetched when the socket opens, served to
 * Baileys from `cachedGroupMetadata` (so an alert, a reply or a reaction never queries the
 * group first), refreshed on `groups.update` / `group-participants.update` but at most once per
 * few minutes; and Jaga says whether it is a member, may post, and which admins are in it.
 * GroupMetadata objects are shaped as rc14's groupMetadata() returns them.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import { WAMessageAddressingMode, type GroupMetadata } from "@whiskeysockets/baileys";
import { groupLine } from "../src/reconnect/control.js";
import { ManualClock } from "../src/clock.js";
import { translator } from "../src/i18n/index.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";
import { waTransport } from "./helpers/wa-transport.js";

const GROUP = "120363000000000001@g.us";
const JAGA = "6281100000001";
const BUDI = "6281234567890";
const SARI = "6289876543210";

function metadata(o: { announce?: boolean; jagaAdmin?: boolean; withJaga?: boolean; subject?: string }): GroupMetadata {
  return {
    id: GROUP,
    subject: o.subject ?? "Ops STB",
    owner: undefined,
    addressingMode: WAMessageAddressingMode.LID,
    announce: o.announce ?? false,
    participants: [
      ...(o.withJaga === false ? [] : [{ id: "100000000000001@lid", phoneNumber: `${JAGA}@s.whatsapp.net`, admin: o.jagaAdmin ? ("admin" as const) : null }]),
      { id: "100000000000002@lid", phoneNumber: `${BUDI}@s.whatsapp.net`, admin: "superadmin" as const },
      { id: "100000000000003@lid", admin: null }, // a LID only: not Sari
    ],
  };
}

async function setup(meta: () => GroupMetadata) {
  const clock = new ManualClock(Date.parse("2026-12-01T07:00:00Z"));
  const store = openSqliteStore(":memory:");
  const { transport } = waTransport({
    url: "ws://127.0.0.1:9/ws/chat",
    resolvers: ["127.0.0.1:1"],
    clock,
    alertGroup: GROUP,
    overrides: { kv: store.waAuth, admins: [{ name: "Budi", phone: BUDI }, { name: "Sari", phone: SARI }] },
  });
  await transport.reconnector.stop();
  let queries = 0;
  const ev = new EventEmitter();
  const sock = {
    ev,
    ws: new EventEmitter(),
    user: { id: `${JAGA}:7@s.whatsapp.net`, lid: "100000000000001:7@lid" },
    groupMetadata: (jid: string) => {
      queries++;
      assert.equal(jid, GROUP);
      return Promise.resolve(meta());
    },
    sendMessage: () => Promise.resolve(undefined),
  };
  (transport as unknown as { attach(s: unknown): void }).attach(sock);
  ev.emit("connection.update", { connection: "open" });
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  return { clock, transport, ev, store, queries: () => queries };
}

const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

describe("group metadata cache", () => {
  it("fetched once on open and served from the cache for every send; other groups are not cached", async () => {
    const { transport, queries, store } = await setup(() => metadata({}));
    assert.equal(queries(), 1);
    const cached = await transport.group!.cached(GROUP);
    assert.equal(cached?.subject, "Ops STB");
    for (let i = 0; i < 20; i++) await transport.group!.cached(GROUP); // a burst of alerts
    assert.equal(queries(), 1, "a burst of sends makes no group query");
    assert.equal(await transport.group!.cached("120363000000000099@g.us"), undefined);
    await store.close();
  });

  it("groups.update and group-participants.update refresh it, at most once per 3 minutes", async () => {
    let subject = "Ops STB";
    const { clock, ev, transport, queries, store } = await setup(() => metadata({ subject }));
    await clock.advance(180_000);
    subject = "Ops STB (new)";
    ev.emit("groups.update", [{ id: GROUP, subject }]);
    await settle();
    assert.equal(queries(), 2);
    assert.equal((await transport.group!.cached(GROUP))?.subject, "Ops STB (new)");
    ev.emit("group-participants.update", { id: GROUP, author: "x", participants: [], action: "add" });
    ev.emit("group-participants.update", { id: GROUP, author: "x", participants: [], action: "remove" });
    ev.emit("groups.update", [{ id: "120363000000000099@g.us" }]); // not ours
    await settle();
    assert.equal(queries(), 2, "not again within 3 minutes");
    await clock.advance(180_000);
    await settle();
    assert.equal(queries(), 3, "one planned refresh for the changes that came meanwhile");
    await store.close();
  });

  it("says plainly whether Jaga is a member and may post, and which configured admins are in the group", async () => {
    const t = translator("en");
    const open = await setup(() => metadata({}));
    const r = open.transport.groupReport()!;
    assert.deepEqual([r.member, r.canPost, r.adminsIn, r.adminsMissing], [true, true, ["Budi"], ["Sari"]]);
    assert.equal(groupLine(r, t), "👥 Alert group *Ops STB*: Jaga is a member and may post · admins in it: Budi · not in it: Sari");
    await open.store.close();

    const announce = await setup(() => metadata({ announce: true }));
    assert.deepEqual([announce.transport.groupReport()!.canPost, announce.transport.groupReport()!.announceOnly], [false, true]);
    assert.match(groupLine(announce.transport.groupReport()!, t), /only admins may post/);
    await announce.store.close();

    const asAdmin = await setup(() => metadata({ announce: true, jagaAdmin: true }));
    assert.equal(asAdmin.transport.groupReport()!.canPost, true);
    await asAdmin.store.close();

    const outside = await setup(() => metadata({ withJaga: false }));
    assert.deepEqual([outside.transport.groupReport()!.member, outside.transport.groupReport()!.canPost], [false, false]);
    assert.match(groupLine(outside.transport.groupReport()!, t), /not\* a member/);
    await outside.store.close();
  });
});

describe("reactions in the alert group", () => {
  it("no ⏳/✅ in the group by default (each would be one more message to everyone); direct chats keep them", async () => {
    const { proto } = await import("@whiskeysockets/baileys");
    const clock = new ManualClock(Date.parse("2026-12-01T07:00:00Z"));
    const store = openSqliteStore(":memory:");
    const { transport } = waTransport({ url: "ws://127.0.0.1:9/ws/chat", resolvers: ["127.0.0.1:1"], clock, known: [BUDI], alertGroup: GROUP, overrides: { kv: store.waAuth } });
    await transport.reconnector.stop();
    const reactions: string[] = [];
    Object.assign(transport, {
      sock: { sendMessage: (jid: string, c: { react?: { text: string } }) => (c.react && reactions.push(`${jid}:${c.react.text}`), Promise.resolve(undefined)) },
    });
    Object.defineProperty(transport, "connected", { get: () => true });
    const done: (() => void)[] = [];
    await transport.start(() => new Promise<void>((r) => done.push(r)));
    const at = Math.floor(clock.now() / 1000);
    const inGroup = proto.WebMessageInfo.fromObject({ key: { remoteJid: GROUP, participant: `${BUDI}@s.whatsapp.net`, id: "3EB0G1", fromMe: false }, message: { conversation: "/status" }, messageTimestamp: at });
    const direct = proto.WebMessageInfo.fromObject({ key: { remoteJid: `${BUDI}@s.whatsapp.net`, id: "3EB0D1", fromMe: false }, message: { conversation: "/status" }, messageTimestamp: at });
    transport.handleUpsert({ type: "notify", messages: [inGroup as never, direct as never] });
    await settle();
    await clock.advance(3_000);
    await settle();
    done.forEach((f) => f());
    await settle();
    assert.deepEqual(reactions, [`${BUDI}@s.whatsapp.net:⏳`, `${BUDI}@s.whatsapp.net:✅`]);
    await store.close();
  });
});
