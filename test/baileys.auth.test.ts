/** WhatsApp auth state in SQLite: it survives a restart (close and reopen the file) byte for byte. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import { DEFAULT_CONNECTION_CONFIG } from "@whiskeysockets/baileys";
import { sqliteAuthState } from "../src/chat/baileys/auth-state.js";
import { WHATSAPP_DEFAULT_URL } from "../src/config/schema.js";
import { systemClock } from "../src/clock.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";

it("keeps credentials, keys and the LID map across a restart", async () => {
  const dir = mkdtempSync(join(tmpdir(), "jaga-wa-auth-"));
  try {
    const file = join(dir, "jaga.db");
    let store = openSqliteStore(file);
    const first = sqliteAuthState(store.waAuth);
    assert.equal(store.waAuth.hasSession(), false);
    first.state.creds.me = { id: "6281234567890:1@s.whatsapp.net", name: "Jaga" };
    first.saveCreds();
    assert.equal(store.waAuth.pairing(), "unfinished", "me alone is not a session (requestPairingCode sets it)");
    assert.equal(store.waAuth.hasSession(), false);
    // What pair-success stores (validate-connection.ts configureSuccessfulPairing): the signed account.
    first.state.creds.account = { details: new Uint8Array([1]), accountSignatureKey: new Uint8Array([2]), accountSignature: new Uint8Array([3]), deviceSignature: new Uint8Array([4]) };
    first.saveCreds();
    await first.state.keys.set({ session: { "6281234567890.0": new Uint8Array([1, 2, 3]) }, "pre-key": { "7": { public: new Uint8Array([9]), private: new Uint8Array([8]) } } });
    store.waAuth.rememberLid("123456789012345", "6281234567890", 1);
    await store.close();

    store = openSqliteStore(file);
    const again = sqliteAuthState(store.waAuth);
    assert.equal(store.waAuth.hasSession(), true);
    assert.deepEqual(again.state.creds.noiseKey, first.state.creds.noiseKey);
    assert.equal(again.state.creds.me?.id, "6281234567890:1@s.whatsapp.net");
    const sessions = await again.state.keys.get("session", ["6281234567890.0", "missing"]);
    assert.deepEqual([...sessions["6281234567890.0"]!], [1, 2, 3]);
    assert.equal(sessions.missing, undefined);
    await again.state.keys.set({ session: { "6281234567890.0": null } });
    assert.deepEqual(await again.state.keys.get("session", ["6281234567890.0"]), {});
    assert.equal(store.waAuth.lidToPhone("123456789012345"), "6281234567890");
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it("defaults whatsapp.url to Baileys' own", () => {
  assert.equal(WHATSAPP_DEFAULT_URL, DEFAULT_CONNECTION_CONFIG.waWebSocketUrl);
});

it("an abandoned pairing code leaves a clean state: the half-made session is discarded at start with a clear message", async () => {
  const { buildWhatsApp } = await import("../src/chat/baileys/build.js");
  const { loadConfig } = await import("../src/config/load.js");
  const { PassThrough } = await import("node:stream");
  const { pino } = await import("pino");
  const store = openSqliteStore(":memory:");
  // As requestPairingCode leaves it when the code is never typed on the phone.
  const auth = sqliteAuthState(store.waAuth);
  auth.state.creds.pairingCode = "ABCD1234";
  auth.state.creds.me = { id: "6281234567890@s.whatsapp.net", name: "~" };
  auth.saveCreds();
  assert.equal(store.waAuth.pairing(), "unfinished");
  const lines: string[] = [];
  const log = pino({ level: "info" }, { write: (l: string) => void lines.push(l) });
  const loaded = loadConfig({ JAGA_TRANSPORT: "whatsapp" });
  assert.ok(loaded.ok);
  const config = { ...loaded.config, whatsapp: { ...loaded.config.whatsapp, url: "ws://127.0.0.1:9/ws/chat" } };
  const wa = buildWhatsApp({ config, store, clock: systemClock, log, input: new PassThrough(), output: new PassThrough(), keepReply: () => Promise.resolve() });
  assert.equal(store.waAuth.pairing(), "none");
  assert.ok(lines.some((l) => /never finished; it was discarded|tidak selesai; sudah dibuang/.test(l)));
  await wa.whatsapp.stop();
  await store.close();
});
