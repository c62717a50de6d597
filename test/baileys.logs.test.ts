/**
 * Logs that hold no keys: libsignal's own console output (session objects with their private
 * keys, one "Bad MAC" per undecryptable message) is counted and summarised, never printed; the
 * logger Baileys gets replaces key-shaped fields and bytes at any depth and writes routine
 * errors as one short line. Real libsignal code paths produce the output here.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import { Writable } from "node:stream";
import { baileysLogger } from "../src/chat/baileys/log.js";
import { SignalConsole } from "../src/chat/baileys/signal-console.js";
import { createLogger } from "../src/log.js";

const require = createRequire(import.meta.url);
const libsignal = require("libsignal") as {
  SessionRecord: { createEntry(): { indexInfo?: object; registrationId?: number; currentRatchet?: object } } & (new () => { closeSession(s: object): void; openSession(s: object): void });
  SessionCipher: new (storage: object, addr: object) => { decryptWithSessions(data: Buffer, sessions: object[]): Promise<unknown> };
  ProtocolAddress: new (id: string, device: number) => object;
};

/** Everything written to a log, one string per line. */
function captured() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      done();
    },
  });
  return { lines, log: createLogger("debug", stream) };
}

/** A session as libsignal keeps it: ratchet keys, chain keys, the ephemeral key pair. */
function liveSession() {
  const entry = libsignal.SessionRecord.createEntry();
  const privKey = randomBytes(32);
  Object.assign(entry, {
    registrationId: 4242,
    currentRatchet: { ephemeralKeyPair: { pubKey: randomBytes(33), privKey }, lastRemoteEphemeralKey: randomBytes(33), previousCounter: 0, rootKey: randomBytes(32) },
    indexInfo: { baseKey: randomBytes(33), baseKeyType: 1, closed: -1, used: Date.now(), created: Date.now(), remoteIdentityKey: randomBytes(33) },
  });
  return { entry, privKey };
}

describe("logs that hold no keys", () => {
  it("libsignal's 'Closing session' and 'Bad MAC' output never reaches the console; it is counted and summarised", async () => {
    const printed: unknown[][] = [];
    const real = { log: console.log, info: console.info, warn: console.warn, error: console.error, debug: console.debug };
    for (const m of ["log", "info", "warn", "error", "debug"] as const) console[m] = (...a: unknown[]) => void printed.push(a);
    const { lines, log } = captured();
    let storm = 0;
    const guard = SignalConsole.install({ log, stormPerMinute: 2, onStorm: (n) => (storm = n), periodMs: 3_600_000 });
    try {
      const { entry, privKey } = liveSession();
      const record = new libsignal.SessionRecord();
      record.closeSession(entry); // console.info("Closing session:", session) in libsignal
      record.openSession(entry);
      const cipher = new libsignal.SessionCipher({}, new libsignal.ProtocolAddress("6281234567890", 0));
      for (let i = 0; i < 2; i++) {
        await assert.rejects(cipher.decryptWithSessions(randomBytes(40), [{ indexInfo: {} }]));
      }
      console.info("Jaga's own console line"); // not libsignal: passes through
      assert.deepEqual(printed, [["Jaga's own console line"]]);
      const counts = guard.counts();
      assert.equal(counts.decryptFailures, 4, "2 × (Failed to decrypt + Session error)");
      assert.equal(counts.sessionChanges, 2);
      guard.summarise();
      assert.equal(storm, 4, "past the threshold: the storm callback (an incident in Jaga)");
      assert.equal(lines.length, 1);
      assert.match(lines[0]!, /"decryptFailures":4/);
      const everything = [...lines, ...printed.map((a) => a.map(String).join(" "))].join("\n");
      assert.ok(!everything.includes(privKey.toString("base64")) && !everything.includes(privKey.toString("hex")));
      assert.doesNotMatch(everything, /privKey|rootKey|ephemeralKeyPair|Bad MAC|at .*session_cipher/);
    } finally {
      guard.uninstall();
      Object.assign(console, real);
    }
  });

  it("Baileys' logger replaces key-shaped fields and bytes at any depth, and writes an error as one short line", () => {
    const { lines, log } = captured();
    const b = baileysLogger(log);
    const noise = randomBytes(32);
    const creds = { noiseKey: { private: noise, public: randomBytes(32) }, signedIdentityKey: { private: randomBytes(32) }, advSecretKey: "c2VjcmV0c2VjcmV0", me: { id: "6281234567890:1@s.whatsapp.net" } };
    b.warn({ auth: creds, node: { attrs: { id: "1" }, content: randomBytes(64) }, deep: { a: { b: { c: { privKey: noise } } } } }, "state");
    const boom = Object.assign(new Error("Connection Failure\n    at WebSocketClient.<anonymous> (socket.js:1:1)"), { output: { statusCode: 405 } });
    b.error({ err: boom }, "connection failed");
    b.warn({ creds }, "a whole creds object"); // redacted as a whole
    b.error({ trace: "Error: keep alive\n    at Timeout._onTimeout (socket.js:554:5)" }, "error in sending keep alive");
    const text = lines.join("\n");
    assert.equal(lines.length, 4);
    for (const secret of [noise.toString("base64"), noise.toString("hex"), "c2VjcmV0c2VjcmV0"]) assert.ok(!text.includes(secret));
    assert.doesNotMatch(text, /"type":"Buffer"|"data":\[/, "no raw bytes");
    assert.doesNotMatch(text, /\n\s+at |\\n\s+at /, "no stack frames");
    assert.match(lines[1]!, /"message":"Connection Failure","code":405/);
    assert.match(lines[0]!, /"6281234567890:1@s.whatsapp.net"/, "what is not secret stays readable");
  });
});
