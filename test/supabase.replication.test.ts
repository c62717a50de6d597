/**
 * Supabase down: writes land in SQLite and the replication queue, commands keep working, and
 * the queue is replayed in order when Supabase answers — also after a restart (queue on disk).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { ManualClock } from "../src/clock.js";
import { silentLogger } from "../src/log.js";
import { openStore } from "../src/store/open.js";
import { ReplicatedStore } from "../src/store/replicated.js";
import { freshNik } from "./store.contract.js";
import { startSupabaseStack, type SupabaseStack } from "./helpers/supabase-stack.js";

let stack: SupabaseStack;
const dir = mkdtempSync(join(tmpdir(), "jaga-repl-"));
before(async () => {
  stack = await startSupabaseStack();
});
after(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const env = () => ({ SUPABASE_URL: stack.url, SUPABASE_SERVICE_ROLE_KEY: stack.serviceRoleKey });

it("queues while Supabase is down, survives a restart, replays in order when it is back", async () => {
  const clock = new ManualClock(Date.parse("2026-02-26T00:00:00Z"));
  stack.setDown(true);
  const first = openStore({ dataDir: dir, env: env(), retryMs: 1000 }, silentLogger, clock) as ReplicatedStore;
  const nik = freshNik();
  const { incident } = await first.incidents.openOrGet({ host: "stb", app: "bot-kjp", kind: "restart_storm", summary: "6 restarts", at: clock.now() });
  assert.equal((await first.blocked.block({ nik, reason: "fraud", blockedBy: "Ana", at: clock.now() })).created, true);
  await first.incidents.ack(incident.id, "Ana", clock.now() + 1000);
  await first.blocked.unblock({ nik, by: "Ana", at: clock.now() + 2000 });
  await first.blocked.block({ nik, reason: "again", blockedBy: "Ana", at: clock.now() + 3000 });
  assert.equal(await first.sync(), false, "Supabase is down");
  assert.equal(await first.replication.backlog(), 5);
  assert.match(first.replication.lastError() ?? "", /store\.unreachable/);
  await first.close(); // Jaga restarts while Supabase is still down

  const second = openStore({ dataDir: dir, env: env(), retryMs: 1000 }, silentLogger, clock) as ReplicatedStore;
  try {
    assert.equal(await second.replication.backlog(), 5, "nothing lost across the restart");
    assert.equal((await second.incidents.get(incident.id))?.state, "acknowledged", "local copy answers meanwhile");
    stack.setDown(false);
    await clock.advance(60_000); // the replayer's backoff runs on the injected clock
    for (let i = 0; i < 100 && (await second.replication.backlog()) > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await second.replication.backlog(), 0);
    assert.equal(second.replication.lastError(), null);
    const rows = await stack.sql<{ state: string; acknowledged_by: string; uid: string }>(`select * from incidents where uid = $1`, [incident.uid]);
    assert.equal(rows[0]?.state, "acknowledged");
    assert.equal(rows[0]?.acknowledged_by, "Ana");
    const blocks = await stack.sql<{ reason: string; unblocked_by: string | null }>(`select * from blocked_ktp where nik = $1 order by id`, [nik]);
    assert.deepEqual(
      blocks.map((b) => [b.reason, b.unblocked_by]),
      [
        ["fraud", "Ana"],
        ["again", null],
      ],
      "replayed in order: block, unblock, block again",
    );
    // A replay of what already arrived is a no-op (a lost response, retried).
    await second.remote.apply({ type: "blocked.block", nik, reason: "again", blockedBy: "Ana", at: clock.now() + 3000 });
    assert.equal((await stack.sql(`select * from blocked_ktp where nik = $1`, [nik])).length, 2);
  } finally {
    await second.close();
  }
});

it("a NIK blocked straight in Supabase (by the KJP bot) is seen by /blocked and /block", async () => {
  const clock = new ManualClock(Date.now());
  const store = openStore({ dataDir: join(dir, "b"), env: env() }, silentLogger, clock) as ReplicatedStore;
  try {
    const nik = freshNik();
    const bot = stack.client(await stack.serviceClientToken());
    assert.equal((await bot.from("blocked_ktp").insert({ nik, reason: "bot", blocked_by: "kjp-bot" })).error, null);
    assert.equal((await store.blocked.active(nik))?.blockedBy, "kjp-bot");
    const r = await store.blocked.block({ nik, reason: "x", blockedBy: "Ana", at: clock.now() });
    assert.equal(r.created, false);
  } finally {
    await store.close();
  }
});

it("openStore without Supabase is SQLite alone with an empty backlog; a wrong key is refused", async () => {
  const store = openStore({ dataDir: join(dir, "c"), env: {} }, silentLogger, new ManualClock(0));
  assert.equal(store.kind, "sqlite");
  assert.equal(await store.replication.backlog(), 0);
  await store.close();
  assert.throws(
    () => openStore({ dataDir: join(dir, "d"), env: { SUPABASE_URL: stack.url, SUPABASE_SERVICE_ROLE_KEY: stack.anonKey } }, silentLogger, new ManualClock(0)),
    /not the service-role key \(it is anon\)/,
  );
});
