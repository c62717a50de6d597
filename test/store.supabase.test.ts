/**
 * The store contract through supabase-js against real PostgREST and PostgreSQL — the Supabase
 * store with the service-role key, and the replicated store (SQLite + Supabase) — plus the
 * typed errors PostgREST failures become.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../src/clock.js";
import { JagaError } from "../src/errors.js";
import { silentLogger } from "../src/log.js";
import { translator } from "../src/i18n/index.js";
import { ReplicatedStore } from "../src/store/replicated.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";
import { createSupabaseClient } from "../src/store/supabase/client.js";
import { SupabaseError } from "../src/store/supabase/errors.js";
import { SupabaseStore } from "../src/store/supabase/store.js";
import { freshNik, storeContract } from "./store.contract.js";
import { startSupabaseStack, type SupabaseStack } from "./helpers/supabase-stack.js";

let stack: SupabaseStack;
before(async () => {
  stack = await startSupabaseStack();
});
after(async () => {
  await stack?.stop();
});

const service = () => new SupabaseStore(createSupabaseClient({ url: stack.url, key: stack.serviceRoleKey }));

storeContract("supabase (service-role key)", () => Promise.resolve(service()));

storeContract(
  "replicated (SQLite + Supabase)",
  () => Promise.resolve(new ReplicatedStore(openSqliteStore(":memory:"), service(), new ManualClock(0), silentLogger)),
  async (store) => {
    const r = store as ReplicatedStore;
    assert.equal(await r.sync(), true, "everything replicated");
    assert.equal(await r.replication.backlog(), 0);
    assert.equal(await r.replication.rejected(), 0);
    // What the replicated store wrote is in Supabase too.
    const rows = await stack.sql<{ n: string }>(`select count(*) as n from command_audit`);
    assert.ok(Number(rows[0]!.n) >= 4);
    await r.close();
  },
);

describe("supabase errors", () => {
  it("a write with the anon key becomes store.rls with the short bilingual message", async () => {
    const anon = new SupabaseStore(createSupabaseClient({ url: stack.url, key: stack.anonKey }));
    const err = await anon.blocked.block({ nik: freshNik(), reason: "", blockedBy: "x", at: Date.now() }).then(
      () => assert.fail("anon must not write"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof SupabaseError && err instanceof JagaError);
    assert.equal(err.code, "store.rls");
    assert.equal(err.pgCode, "42501");
    assert.equal(err.status, 401);
    assert.equal(err.retryable, true, "a wrong key is fixed by the admin; the write waits");
    assert.match(translator("en")(err.code, err.params), /^Supabase refused the write: row-level security — check which key Jaga uses/);
    assert.match(translator("id")(err.code, err.params), /row-level security/);
  });

  it("a NIK the CHECK refuses is a permanent store.invalid; an outage is store.unreachable", async () => {
    const store = service();
    const bad = await store.blocked.block({ nik: "12345", reason: "", blockedBy: "x", at: Date.now() }).catch((e: unknown) => e);
    assert.ok(bad instanceof SupabaseError);
    assert.equal(bad.code, "store.invalid");
    assert.equal(bad.pgCode, "23514");
    assert.equal(bad.retryable, false);
    stack.setDown(true);
    try {
      const down = await store.blocked.active(freshNik()).catch((e: unknown) => e);
      assert.ok(down instanceof SupabaseError);
      assert.equal(down.code, "store.unreachable");
      assert.equal(down.retryable, true);
    } finally {
      stack.setDown(false);
    }
  });

  it("a wrong JWT secret is store.auth", async () => {
    const forged = stack.serviceRoleKey.slice(0, -4) + "AAAA";
    const err = await new SupabaseStore(createSupabaseClient({ url: stack.url, key: forged })).audit.recent(1).catch((e: unknown) => e);
    assert.ok(err instanceof SupabaseError);
    assert.equal(err.code, "store.auth");
    assert.equal(err.status, 401);
  });
});
