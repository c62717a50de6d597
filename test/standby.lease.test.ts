/**
 * The standby lease against a real PostgreSQL and a real PostgREST (test/helpers/supabase-sb.stack.ts),
 * through both paths Jaga has: supabase-js RPC and a direct `pg` connection with the session
 * advisory lock. Real time, short ttls (2–3 s): the lease's expiry is the database's clock.
 *
 * What must hold: one holder at a time; renewals keep the epoch; a takeover after expiry takes
 * the next epoch and never comes before the database's expiry; a write under an old epoch is
 * refused by the database; a release is taken over within a poll; the advisory lock goes with
 * its session (pg_terminate_backend) and the lease with it; a holder cut off from the database
 * steps down before its lease can expire there; a standby reports the active one silent before
 * it takes over; nobody but the service role may touch any of it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { systemClock } from "../src/clock.js";
import { silentLogger } from "../src/log.js";
import { createSupabaseClient } from "../src/store/supabase/client.js";
import { FencedError, type SharedDb } from "../src/standby/db.js";
import { LeaseKeeper, type LeaseEvent } from "../src/standby/lease.js";
import { standbyDatabase } from "./helpers/standby-db.js";
import { startTcpProxy } from "./helpers/tcp-proxy.js";

const sb = standbyDatabase();
const { viaPostgrest, leaseName } = sb;
const viaDirect = (url?: string, ttlMs = 3_000) => sb.viaDirect({ url, ttlMs });

interface Kept {
  keeper: LeaseKeeper;
  events: (LeaseEvent & { wall: number })[];
}

function keeper(db: SharedDb, lease: string, instance: string, ttlMs = 3_000, extra: { pollMs?: number; marginMs?: number } = {}): Kept {
  const k = new LeaseKeeper({ db, lease, instance, ttlMs, clock: systemClock, log: silentLogger, ...extra });
  const events: Kept["events"] = [];
  k.onChange((e) => events.push({ ...e, wall: Date.now() }));
  sb.track(k);
  k.start();
  return { keeper: k, events };
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const first = (k: Kept, type: LeaseEvent["type"]) => k.events.find((e) => e.type === type);

async function leaseRow(name: string) {
  const [row] = await sb.stack.sql<{ owner: string; epoch: string; renewed_at: Date; expires_at: Date; session_pid: number | null }>(
    `select owner, epoch, renewed_at, expires_at, session_pid from jaga.lease where name = $1`,
    [name],
  );
  return row!;
}

/** A fenced write as the holder of `epoch` would make it: one WhatsApp auth row. */
const write = (db: SharedDb, lease: string, epoch: number, value = "v") =>
  db.value<number>("jaga_wa_auth_put", { p_name: lease, p_epoch: epoch, p_rows: { jsonb: [{ kind: "creds", id: "", value }] } });

for (const path of ["postgrest", "direct"] as const) {
  const db = () => (path === "postgrest" ? viaPostgrest() : viaDirect());
  describe(`lease over ${path}`, () => {
    it("one holder: the first claims epoch 1, the second stays a standby and sees who holds it", async () => {
      const name = leaseName();
      const a = keeper(db(), name, "a");
      await until("a active", () => a.keeper.held());
      const b = keeper(db(), name, "b");
      await until("b has read the holder", () => b.keeper.status().holder !== null);
      assert.equal(a.keeper.currentEpoch(), 1);
      assert.equal(b.keeper.held(), false);
      assert.equal(b.keeper.status().role, "standby");
      assert.equal(b.keeper.status().holder?.instance, "a");
      assert.equal(b.keeper.status().holder?.epoch, 1);
      assert.equal((await leaseRow(name)).owner, a.keeper.owner);
      assert.equal(a.keeper.owner, a.keeper.member);
      await a.keeper.abandon();
      await b.keeper.abandon();
    });

    it("renews every ttl/3 under the same epoch", async () => {
      const name = leaseName();
      const a = keeper(db(), name, "a", 4_500);
      await until("a active", () => a.keeper.held());
      const before = await leaseRow(name);
      await new Promise((r) => setTimeout(r, 3_200)); // two renewal periods
      const later = await leaseRow(name);
      assert.equal(a.keeper.currentEpoch(), 1);
      assert.equal(later.epoch, "1");
      assert.ok(later.renewed_at.getTime() >= before.renewed_at.getTime() + 900, "renewed");
      assert.ok(later.expires_at > before.expires_at);
      assert.equal(first(a, "lost"), undefined);
      await a.keeper.abandon();
    });

    it("a holder that vanishes is taken over after its expiry, with the next epoch; its old epoch's writes are refused", async () => {
      const name = leaseName();
      const dbA = db();
      const a = keeper(dbA, name, "a", 2_000);
      await until("a active", () => a.keeper.held());
      assert.equal(await write(dbA, name, 1, "from a"), 1);
      const b = keeper(db(), name, "b", 2_000);
      await until("b standby", () => b.keeper.status().holder !== null);
      await a.keeper.abandon(); // like kill -9: no release
      const lastRenewal = (await leaseRow(name)).renewed_at.getTime();
      const expiry = (await leaseRow(name)).expires_at.getTime();
      await until("b active", () => b.keeper.held(), 8_000);
      const got = first(b, "acquired");
      assert.ok(got?.type === "acquired");
      assert.equal(got.epoch, 2);
      assert.equal(got.previous?.instance, "a");
      assert.equal(got.previous?.end, "expired");
      assert.equal(got.previous?.lastRenewedAt, lastRenewal);
      assert.ok(got.wall >= expiry, `took over ${expiry - got.wall} ms before the lease expired`);
      // The old holder's write, with its old epoch, is refused by the database.
      await assert.rejects(write(dbA, name, 1, "late from a"), FencedError);
      assert.equal(await write(db(), name, 2, "from b"), 1);
      const [row] = await sb.stack.sql<{ value: string; epoch: string }>(`select value, epoch from jaga.wa_auth where lease = $1 and kind = 'creds'`, [name]);
      assert.deepEqual({ ...row }, { value: "from b", epoch: "2" });
      await b.keeper.abandon();
    });

    it("a release (SIGTERM) is taken over within a poll, not at the expiry", async () => {
      const name = leaseName();
      const a = keeper(db(), name, "a", 20_000);
      await until("a active", () => a.keeper.held());
      const b = keeper(db(), name, "b", 20_000);
      await until("b standby", () => b.keeper.status().holder !== null);
      const releasedAt = Date.now();
      await a.keeper.release();
      assert.equal(a.keeper.held(), false);
      await until("b active", () => b.keeper.held(), 5_000);
      const got = first(b, "acquired");
      assert.ok(got?.type === "acquired");
      assert.ok(got.wall - releasedAt < 2_500, `handover took ${got.wall - releasedAt} ms`);
      assert.equal(got.previous?.end, "released");
      assert.equal(got.epoch, 2);
      assert.ok(first(a, "released"));
      await b.keeper.abandon();
    });

    it("a standby reports the active one silent before it takes over", async () => {
      const name = leaseName();
      const a = keeper(db(), name, "a", 3_000);
      await until("a active", () => a.keeper.held());
      const b = keeper(db(), name, "b", 3_000);
      await until("b standby", () => b.keeper.status().holder !== null);
      await a.keeper.abandon();
      await until("b active", () => b.keeper.held(), 8_000);
      const silent = b.events.findIndex((e) => e.type === "silent");
      const acquired = b.events.findIndex((e) => e.type === "acquired");
      assert.ok(silent >= 0, "silent reported");
      assert.ok(silent < acquired, "silent before the takeover");
      const e = b.events[silent]!;
      assert.ok(e.type === "silent" && e.holder.instance === "a");
      assert.ok(b.events[acquired]!.wall - e.wall > 0);
      await b.keeper.abandon();
    });

    it("both instances report each other (members)", async () => {
      const name = leaseName();
      const a = keeper(db(), name, "a", 3_000);
      const b = keeper(db(), name, "b", 3_000);
      await until("both seen by both", () => [a, b].every((k) => k.keeper.status().members.length === 2), 5_000);
      const roles = Object.fromEntries(a.keeper.status().members.map((m) => [m.instance, m.role]));
      assert.deepEqual(roles, a.keeper.held() ? { a: "active", b: "standby" } : { a: "standby", b: "active" });
      assert.equal(a.keeper.status().members.filter((m) => m.self).length, 1);
      await a.keeper.abandon();
      await b.keeper.abandon();
    });
  });
}

describe("direct connection: the session advisory lock", () => {
  it("the holder's session killed (pg_terminate_backend): it steps down at once and a direct standby takes over before the expiry", async () => {
    const name = leaseName();
    const a = keeper(viaDirect(undefined, 30_000), name, "a", 30_000);
    await until("a active", () => a.keeper.held());
    const b = keeper(viaDirect(undefined, 30_000), name, "b", 30_000);
    await until("b standby", () => b.keeper.status().holder !== null);
    const row = await leaseRow(name);
    assert.ok(row.session_pid, "the holder's session is recorded");
    const locks = await sb.stack.sql<{ pid: number }>(`select pid from pg_locks where locktype = 'advisory' and granted`);
    assert.ok(locks.some((l) => l.pid === row.session_pid), "the holder's session holds the advisory lock");
    const killedAt = Date.now();
    await sb.stack.sql(`select pg_terminate_backend($1)`, [row.session_pid]);
    await until("a lost", () => first(a, "lost") !== undefined, 3_000);
    assert.equal(a.keeper.held(), false);
    const lost = first(a, "lost");
    assert.ok(lost?.type === "lost" && lost.reason === "session-lost");
    await until("b active", () => b.keeper.held(), 5_000);
    const got = first(b, "acquired");
    assert.ok(got?.type === "acquired");
    assert.equal(got.previous?.end, "session");
    assert.equal(got.epoch, 2);
    assert.ok(got.wall - killedAt < 4_000, `took ${got.wall - killedAt} ms, the ttl is 30 s`);
    assert.ok(got.wall - lost.wall >= 900, "the new holder gave the old one its grace");
    await b.keeper.abandon();
    await a.keeper.abandon();
  });

  it("a holder that claimed while another session had the lock (a handover's race) takes the lock within a poll of its release, not at the next renewal", async () => {
    const name = leaseName();
    const other = viaDirect(undefined, 30_000);
    assert.equal(await other.tryLock(name), true, "the old holder's session still has the lock");
    const a = keeper(viaDirect(undefined, 30_000), name, "a", 30_000, { pollMs: 500 });
    await until("a active without the lock", () => a.keeper.held());
    assert.equal((await leaseRow(name)).session_pid, null, "its claim is bound to no session yet");
    await other.close(); // the old holder's session ends: the lock is free
    const freed = Date.now();
    await until("a's claim bound to its session, the lock its own", async () => (await leaseRow(name)).session_pid !== null, 3_000);
    assert.ok(Date.now() - freed < 3_000, "within a poll or two; the next renewal would be 10 s on");
    const row = await leaseRow(name);
    const locks = await sb.stack.sql<{ pid: number }>(`select pid from pg_locks where locktype = 'advisory' and granted`);
    assert.ok(locks.some((l) => l.pid === row.session_pid));
    await a.keeper.abandon();
  });

  it("through PostgREST a session lock cannot be taken, nor a claim bound to a session", async () => {
    const service = createSupabaseClient({ url: sb.stack.url, key: sb.stack.serviceRoleKey });
    const lock = await service.rpc("jaga_lease_lock", { p_name: "x" });
    assert.equal(lock.error?.code, "42501");
    const claim = await service.rpc("jaga_lease_claim", { p_name: "x", p_owner: "x#1", p_ttl_ms: 5_000, p_session: true });
    assert.equal(claim.error?.code, "55P03");
  });
});

describe("partitions: the holder steps down before its lease can expire in the database", () => {
  it("PostgREST unreachable", async () => {
    const name = leaseName();
    const a = keeper(viaPostgrest(), name, "a", 3_000);
    await until("a active", () => a.keeper.held());
    await new Promise((r) => setTimeout(r, 1_200)); // at least one renewal
    sb.stack.setDown(true);
    try {
      await until("a lost", () => first(a, "lost") !== undefined, 6_000);
    } finally {
      sb.stack.setDown(false);
    }
    const lost = first(a, "lost")!;
    assert.ok(lost.type === "lost" && lost.reason === "renewal-failed");
    const row = await leaseRow(name);
    assert.equal(row.owner, a.keeper.member, "nobody renewed it since");
    assert.notEqual(a.keeper.owner, a.keeper.member, "a lost term is over: the next claim is a new owner");
    assert.ok(lost.wall < row.expires_at.getTime() - 300, `stepped down ${row.expires_at.getTime() - lost.wall} ms before the expiry`);
    await a.keeper.abandon();
  });

  it("direct connection blackholed (no answer, nothing closed): steps down before the expiry; a standby takes over only after it", async () => {
    const name = leaseName();
    const pgPort = Number(new URL(sb.stack.databaseUrl).port);
    const proxy = await startTcpProxy(pgPort);
    try {
      const url = new URL(sb.stack.databaseUrl);
      url.port = String(proxy.port);
      const a = keeper(viaDirect(url.toString()), name, "a", 3_000);
      await until("a active", () => a.keeper.held());
      const b = keeper(viaDirect(), name, "b", 3_000);
      await until("b standby", () => b.keeper.status().holder !== null);
      await new Promise((r) => setTimeout(r, 1_200));
      proxy.setBlackhole(true);
      await until("a lost", () => first(a, "lost") !== undefined, 6_000);
      await until("b active", () => b.keeper.held(), 8_000);
      const lost = first(a, "lost")!;
      const got = first(b, "acquired")!;
      assert.ok(got.type === "acquired");
      assert.equal(got.previous?.end, "expired", "the server kept the blackholed session; the lease ran out");
      assert.ok(lost.wall < got.wall, "the old holder let go first");
      assert.ok(got.wall - lost.wall >= 300, `with a margin: ${got.wall - lost.wall} ms`);
      await a.keeper.abandon();
      await b.keeper.abandon();
    } finally {
      proxy.cut();
      await proxy.close();
    }
  });
});

describe("who may call the lease functions", () => {
  it("only the service role: not anon, not a signed-in admin, not a service client", async () => {
    const args = { p_name: "rls", p_owner: "x#1", p_ttl_ms: 5_000 };
    for (const token of [undefined, await sb.stack.userToken("admin"), await sb.stack.serviceClientToken("kjp-bot")]) {
      const { error } = await sb.stack.client(token).rpc("jaga_lease_claim", args);
      assert.equal(error?.code, "42501", `token ${token ? "user" : "anon"}`);
      const put = await sb.stack.client(token).rpc("jaga_wa_auth_put", { p_name: "rls", p_epoch: 1, p_rows: [] });
      assert.equal(put.error?.code, "42501");
    }
    const service = createSupabaseClient({ url: sb.stack.url, key: sb.stack.serviceRoleKey });
    const ok = await service.rpc("jaga_lease_claim", args);
    assert.equal(ok.error, null);
    // The tables themselves are not reachable through the API at all.
    const table = await service.schema("jaga").from("lease").select();
    assert.ok(table.error, "schema jaga is not exposed");
  });

  it("a plain write without the epoch is refused by the trigger, even for the owner", async () => {
    await assert.rejects(sb.stack.sql(`insert into jaga.wa_auth (lease, kind, id, value, epoch) values ('rls', 'x', 'y', 'z', 1)`), /fenced off/);
  });
});
