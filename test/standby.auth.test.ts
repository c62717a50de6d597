/**
 * The shared WhatsApp session (src/standby/shared-auth.ts) on a real PostgreSQL + PostgREST:
 * an instance already paired uploads its session at its first term; the next holder pulls it
 * whole (through the same Baileys auth state Jaga's socket uses, so creds and Signal keys
 * round-trip byte for byte: no re-pairing); a key write lands in the database before the local
 * copy, under the term's epoch; a write from a holder whose epoch is over is refused by the
 * database and loses its lease; a write while the database is away waits and lands, never dropped.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { initAuthCreds } from "@whiskeysockets/baileys";
import { sqliteAuthState } from "../src/chat/baileys/auth-state.js";
import { systemClock } from "../src/clock.js";
import { silentLogger } from "../src/log.js";
import { FencedError, postgrestDb, type SharedDb } from "../src/standby/db.js";
import { NotActiveError, SharedWaAuth } from "../src/standby/shared-auth.js";
import { openSqliteStore, type SqliteStore } from "../src/store/sqlite/index.js";
import { createSupabaseClient } from "../src/store/supabase/client.js";
import { startSupabaseStack, type SupabaseStack } from "./helpers/supabase-stack.js";

let stack: SupabaseStack;
let db: SharedDb;
const stores: SqliteStore[] = [];
before(async () => {
  stack = await startSupabaseStack();
  db = postgrestDb(createSupabaseClient({ url: stack.url, key: stack.serviceRoleKey, timeoutMs: 1_000 }), "test");
});
after(async () => {
  for (const s of stores) await s.close();
  await stack?.stop();
});

function store(): SqliteStore {
  const s = openSqliteStore(":memory:");
  stores.push(s);
  return s;
}

/** Claims the lease for `owner` in SQL, as a keeper would; returns the epoch. */
async function claim(lease: string, owner: string): Promise<number> {
  const [row] = await stack.sql<{ held: boolean; epoch: string }>(`select held, epoch from jaga_lease_claim($1, $2, 60000)`, [lease, owner]);
  assert.ok(row?.held);
  return Number(row.epoch);
}

async function release(lease: string, owner: string, epoch: number): Promise<void> {
  await stack.sql(`select jaga_lease_release($1, $2, $3)`, [lease, owner, epoch]);
}

function shared(local: SqliteStore, lease: string, epoch: () => number | null, fenced: string[] = []) {
  return new SharedWaAuth({ local: local.waAuth, db, lease, epoch, onFenced: (d) => fenced.push(d), clock: systemClock, log: silentLogger, pageSize: 3 });
}

const rows = (lease: string) => stack.sql<{ kind: string; id: string; value: string; epoch: string }>(`select kind, id, value, epoch from jaga.wa_auth where lease = $1 order by kind, id`, [lease]);

describe("the WhatsApp session shared through PostgreSQL", () => {
  it("a paired instance's session becomes the shared one, and the next holder continues it whole", async () => {
    const lease = `w-${randomBytes(3).toString("hex")}`;
    // Instance a, paired before standby was switched on: its session is in its own SQLite.
    const aStore = store();
    const paired = sqliteAuthState(aStore.waAuth);
    paired.state.creds.me = { id: "6281234567890:1@s.whatsapp.net", name: "Jaga" };
    paired.state.creds.account = { details: new Uint8Array([1]), accountSignatureKey: new Uint8Array([2]), accountSignature: new Uint8Array([3]), deviceSignature: new Uint8Array([4]) };
    paired.saveCreds();
    await paired.state.keys.set({
      session: { "6281234567890.0": new Uint8Array([1, 2, 3]), "6289876543210.0": new Uint8Array([4, 5]) },
      "pre-key": { "7": { public: new Uint8Array([9]), private: new Uint8Array([8]) } },
    });
    const epochA = await claim(lease, "a#1");
    const a = shared(aStore, lease, () => epochA);
    assert.deepEqual(await a.pull(epochA), { from: "local", rows: 4 });
    assert.equal((await rows(lease)).length, 4);
    assert.ok((await rows(lease)).every((r) => r.epoch === String(epochA)));

    // During a's term Baileys writes a key: in the database first, under a's epoch.
    const aAuth = sqliteAuthState(a);
    await aAuth.state.keys.set({ session: { "6281234567890.0": new Uint8Array([7, 7, 7]) }, "pre-key": { "7": null } });
    assert.deepEqual(
      (await rows(lease)).map((r) => `${r.kind}/${r.id}`),
      ["creds/", "session/6281234567890.0", "session/6289876543210.0"],
    );

    // b takes over (a handed over): its own, empty store is replaced by the shared session.
    await release(lease, "a#1", epochA);
    const epochB = await claim(lease, "b#1");
    assert.equal(epochB, epochA + 1);
    const bStore = store();
    const b = shared(bStore, lease, () => epochB);
    assert.deepEqual(await b.pull(epochB), { from: "database", rows: 3 });
    assert.equal(bStore.waAuth.hasSession(), true, "paired: no QR, no pairing code");
    const bAuth = sqliteAuthState(b);
    assert.deepEqual(bAuth.state.creds.me, paired.state.creds.me);
    assert.deepEqual(Buffer.from(bAuth.state.creds.noiseKey.private), Buffer.from(paired.state.creds.noiseKey.private));
    assert.deepEqual(Buffer.from(bAuth.state.creds.signedIdentityKey.public), Buffer.from(paired.state.creds.signedIdentityKey.public));
    const sessions = await bAuth.state.keys.get("session", ["6281234567890.0", "6289876543210.0"]);
    assert.deepEqual(Buffer.from(sessions["6281234567890.0"]!), Buffer.from([7, 7, 7]), "a's last key write, not its first");
    assert.deepEqual(Buffer.from(sessions["6289876543210.0"]!), Buffer.from([4, 5]));
    assert.deepEqual(await bAuth.state.keys.get("pre-key", ["7"]), {}, "a's delete came along too");

    // a, unaware, writes under its old epoch: refused by the database, a loses its lease, nothing changes.
    const fenced: string[] = [];
    const late = shared(aStore, lease, () => epochA, fenced);
    await assert.rejects(late.set([{ kind: "session", id: "6281234567890.0", value: '"stale"' }]), FencedError);
    assert.equal(fenced.length, 1);
    const [kept] = (await rows(lease)).filter((r) => r.id === "6281234567890.0");
    assert.equal(kept!.epoch, String(epochA), "the row is as a last wrote it while it held the lease");
    assert.notEqual(kept!.value, '"stale"');
    assert.notEqual(aStore.waAuth.get("session", ["6281234567890.0"]).get("6281234567890.0"), '"stale"', "nor the local copy");
  });

  it("a fresh pair of instances with no session anywhere pulls nothing (pairing follows)", async () => {
    const lease = `w-${randomBytes(3).toString("hex")}`;
    const epoch = await claim(lease, "a#1");
    const s = store();
    assert.deepEqual(await shared(s, lease, () => epoch).pull(epoch), { from: "none", rows: 0 });
    const creds = initAuthCreds();
    await shared(s, lease, () => epoch).set([{ kind: "creds", id: "", value: JSON.stringify({ registrationId: creds.registrationId }) }]);
    assert.equal((await rows(lease)).length, 1);
  });

  it("while the database is away a key write waits and lands when it is back; without the lease it is refused", async () => {
    const lease = `w-${randomBytes(3).toString("hex")}`;
    const epoch = await claim(lease, "a#1");
    const s = store();
    const auth = shared(s, lease, () => epoch);
    stack.setDown(true);
    const write = auth.set([{ kind: "session", id: "1.0", value: '"k"' }]);
    let done = false;
    void write.then(() => (done = true));
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(done, false, "not acknowledged while it is not in the database");
    assert.equal(s.waAuth.get("session", ["1.0"]).size, 0, "nor written locally first");
    stack.setDown(false);
    await write;
    assert.deepEqual((await rows(lease)).map((r) => r.value), ['"k"']);
    let held: number | null = epoch;
    const losing = shared(s, lease, () => held);
    stack.setDown(true);
    const pending = losing.set([{ kind: "session", id: "2.0", value: '"x"' }]);
    await new Promise((r) => setTimeout(r, 300));
    held = null; // the keeper gave the lease up meanwhile
    await assert.rejects(pending, NotActiveError);
    stack.setDown(false);
  });
});
