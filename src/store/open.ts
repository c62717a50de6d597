/**
 * Opens the store Jaga runs on: the embedded SQLite store alone, or — when SUPABASE_URL and
 * SUPABASE_SERVICE_ROLE_KEY are set — SQLite replicated to Supabase (see replicated.ts).
 * Either way the result has `replication` for /status and /health.
 *
 * @example
 * const store = openStore({ dataDir: config.dataDir, env: process.env }, log, clock);
 * await store.replication.backlog(); // writes not yet in Supabase (0 without Supabase)
 */
import { join } from "node:path";
import type { Clock } from "../clock.js";
import { supabaseSettings } from "../config/supabase.js";
import type { Logger } from "../log.js";
import { ReplicatedStore } from "./replicated.js";
import { openSqliteStore, type SqliteStore } from "./sqlite/index.js";
import type { LocalStore, ReplicationStatus } from "./store.js";
import { createSupabaseClient } from "./supabase/client.js";
import { SupabaseStore } from "./supabase/store.js";

export type OpenedStore = LocalStore & { readonly replication: ReplicationStatus };

export interface OpenStoreOptions {
  /** Where jaga.db lives (config.dataDir). */
  dataDir: string;
  env: NodeJS.ProcessEnv;
  /** Overrides the replayer's timings (tests). */
  retryMs?: number;
  idleMs?: number;
}

const NO_REPLICATION: ReplicationStatus = {
  target: null,
  backlog: () => Promise.resolve(0),
  rejected: () => Promise.resolve(0),
  lastError: () => null,
};

export function openStore(options: OpenStoreOptions, log: Logger, clock: Clock): OpenedStore {
  const supabase = supabaseSettings(options.env);
  const local = openSqliteStore(join(options.dataDir, "jaga.db"));
  if (!supabase) {
    log.info("store: SQLite only (SUPABASE_URL not set)");
    return Object.assign(local, { replication: NO_REPLICATION });
  }
  const remote = new SupabaseStore(createSupabaseClient({ url: supabase.url, key: supabase.key }));
  const target = new URL(supabase.url).host;
  const store = new ReplicatedStore(local, remote, clock, log, { target, retryMs: options.retryMs, idleMs: options.idleMs });
  store.start();
  log.info({ target }, "store: SQLite, replicated to Supabase");
  return store;
}

/**
 * The embedded SQLite store under any opened store: what only this machine keeps (the outbox,
 * WhatsApp's session, the watchers' memory) lives there whether or not Supabase is configured.
 *
 * @example
 * embeddedOf(store).watch.get("digest.lastSent");
 */
export function embeddedOf(store: OpenedStore): SqliteStore {
  return store instanceof ReplicatedStore ? store.local : (store as unknown as SqliteStore);
}
