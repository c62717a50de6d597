/**
 * Opens the store Jaga runs on: the embedded SQLite store alone, or — when SUPABASE_URL and
 * SUPABASE_SERVICE_ROLE_KEY are set — SQLite replicated to Supabase (see replicated.ts).
 * Either way the result has `replication` for /status and /health.
 *
 * @example
 * const store = openStore({ dataDir: config.dataDir, env: process.env }, log, clock);
 * await store.replication.backlog(); // writes not yet in Supabase (0 without Supabase)
 */
import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname, join } from "node:path";
import type { Clock } from "../clock.js";
import { supabaseSettings } from "../config/supabase.js";
import { formatBytes } from "../duration.js";
import type { Logger } from "../log.js";
import { diskUsage, StoreHealth, storageProblem } from "./health.js";
import { ReplicatedStore } from "./replicated.js";
import { isStorageError, onStorageError } from "./sqlite/db.js";
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
  /** How often a store that cannot be written is asked again (watch.interval). Default 30 s. */
  checkEveryMs?: number;
}

/**
 * The store could not be opened for a storage reason; `message` says what is full, read-only
 * or not permitted, in words an admin can act on (not SQLite's "disk I/O error").
 */
export class StoreOpenError extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = "StoreOpenError";
  }
}

const NO_REPLICATION: ReplicationStatus = {
  target: null,
  backlog: () => Promise.resolve(0),
  rejected: () => Promise.resolve(0),
  lastError: () => null,
};

export function openStore(options: OpenStoreOptions, log: Logger, clock: Clock): OpenedStore {
  const supabase = supabaseSettings(options.env);
  const local = openLocal(options.dataDir);
  const health = new StoreHealth({ dataDir: options.dataDir, clock, log, probe: (at) => local.watch.probe(at), checkEveryMs: options.checkEveryMs });
  onStorageError(local.db, (err) => health.failed(err));
  if (!supabase) {
    log.info("store: SQLite only (SUPABASE_URL not set)");
    return withHealth(Object.assign(local, { replication: NO_REPLICATION }), health);
  }
  const remote = new SupabaseStore(createSupabaseClient({ url: supabase.url, key: supabase.key }));
  const target = new URL(supabase.url).host;
  const store = new ReplicatedStore(local, remote, clock, log, { target, retryMs: options.retryMs, idleMs: options.idleMs });
  store.start();
  log.info({ target }, "store: SQLite, replicated to Supabase");
  return withHealth(store, health);
}

/** The embedded store, or a {@link StoreOpenError} that names the problem with the data directory. */
function openLocal(dataDir: string): SqliteStore {
  try {
    return openSqliteStore(join(dataDir, "jaga.db"));
  } catch (err) {
    if (!isStorageError(err)) throw err;
    throw new StoreOpenError(cannotOpen(err, dataDir), err);
  }
}

/**
 * "Jaga cannot start: the data directory /srv/jaga/data is on a full disk (0 B free of 4 MB)".
 *
 * @example
 * cannotOpen(Object.assign(new Error("disk I/O error"), { code: "SQLITE_IOERR" }), "/srv/jaga/data");
 */
export function cannotOpen(err: Error & { code: string }, dataDir: string): string {
  // The directory may not exist yet (mkdir failed): ask the nearest one that does.
  let dir = dataDir;
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  const disk = diskUsage(dir);
  switch (storageProblem(err, dir)) {
    case "full":
      return `Jaga cannot start: the data directory ${dataDir} is on a full disk (${disk ? `${formatBytes(disk.freeBytes)} free of ${formatBytes(disk.sizeBytes)}` : "no space left"}).`;
    case "read_only":
      return `Jaga cannot start: the data directory ${dataDir} is on a read-only filesystem.`;
    case "permission":
      return `Jaga cannot start: user ${userInfo().username} may not write the data directory ${dataDir} (set JAGA_DATA_DIR or fix its owner).`;
    default:
      return `Jaga cannot start: the data directory ${dataDir} cannot be written (${err.code}: ${err.message}).`;
  }
}

const healths = new WeakMap<object, StoreHealth>();

/**
 * Can Jaga write its data? The {@link StoreHealth} of a store openStore() returned: /health,
 * the store incident and the direct-send path follow it.
 *
 * @example
 * storeHealth(store).status().writable; // false while the data disk is full
 */
export function storeHealth(store: OpenedStore): StoreHealth {
  const health = healths.get(store);
  if (!health) throw new Error("storeHealth: not a store from openStore()");
  return health;
}

/** Remembers the store's health; closing the store first ends its recheck loop. */
function withHealth<T extends OpenedStore>(store: T, health: StoreHealth): T {
  healths.set(store, health);
  const close = store.close.bind(store);
  (store as { close: () => Promise<void> }).close = async () => {
    await health.stop();
    await close();
  };
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
