/**
 * The standby tests' database: one real PostgreSQL + PostgREST stack for the file, the lease
 * database reached either way Jaga reaches it (PostgREST RPC, a direct connection), and every
 * connection and keeper closed after the file.
 *
 * @example
 * const sb = standbyDatabase();           // registers before/after hooks
 * const db = sb.viaPostgrest();           // or sb.viaDirect()
 * await db.rows("jaga_lease_claim", { p_name: sb.leaseName(), p_owner: "a#1", p_ttl_ms: 3_000 });
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before } from "node:test";
import { directDb, postgrestDb, type SharedDb } from "../../src/standby/db.js";
import { LeaseKeeper } from "../../src/standby/lease.js";
import { createSupabaseClient } from "../../src/store/supabase/client.js";
import { startSupabaseStack, type SupabaseStack } from "./supabase-stack.js";

export interface StandbyDatabase {
  readonly stack: SupabaseStack;
  readonly viaPostgrest: () => SharedDb;
  readonly viaDirect: (options?: { url?: string; ttlMs?: number; queryTimeoutMs?: number }) => SharedDb;
  /** A lease name no other test uses. */
  readonly leaseName: () => string;
  /** Closes (or abandons, for a keeper) `x` after the file. */
  readonly track: <T extends SharedDb | LeaseKeeper>(x: T) => T;
}

export function standbyDatabase(): StandbyDatabase {
  let stack: SupabaseStack | undefined;
  const open: (SharedDb | LeaseKeeper)[] = [];
  before(async () => {
    stack = await startSupabaseStack();
  });
  after(async () => {
    for (const x of open.reverse()) await (x instanceof LeaseKeeper ? x.abandon() : x.close()).catch(() => undefined);
    await stack?.stop();
  });
  const track = <T extends SharedDb | LeaseKeeper>(x: T): T => {
    open.push(x);
    return x;
  };
  const started = (): SupabaseStack => {
    if (!stack) throw new Error("the stack starts in before()");
    return stack;
  };
  return {
    get stack() {
      return started();
    },
    viaPostgrest: () => track(postgrestDb(createSupabaseClient({ url: started().url, key: started().serviceRoleKey, timeoutMs: 2_000 }), "test")),
    viaDirect: ({ url, ttlMs = 3_000, queryTimeoutMs = 1_000 } = {}) =>
      track(directDb({ url: url ?? started().databaseUrl, queryTimeoutMs, ttlMs, applicationName: "jaga test" })),
    leaseName: () => `t-${randomBytes(4).toString("hex")}`,
    track,
  };
}

/** Claims the lease for `owner` (one statement, as the keeper does): the epoch, or null when someone else holds it. */
export async function claim(db: SharedDb, lease: string, owner: string, ttlMs = 60_000): Promise<number | null> {
  const [row] = await db.rows<{ held: boolean; epoch: number | string }>("jaga_lease_claim", { p_name: lease, p_owner: owner, p_ttl_ms: ttlMs });
  return row!.held ? Number(row!.epoch) : null;
}

/** Hands the lease over (it must be `owner`'s, under `epoch`). */
export async function release(db: SharedDb, lease: string, owner: string, epoch: number): Promise<void> {
  assert.equal(await db.value<boolean>("jaga_lease_release", { p_name: lease, p_owner: owner, p_epoch: epoch }), true);
}
