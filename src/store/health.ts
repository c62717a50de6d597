/**
 * Can Jaga write its own data? The embedded store reports every storage failure here (a full
 * disk, a read-only remount, a failing device); StoreHealth turns them into one state —
 * writable, or degraded since when and why — tells its listeners once per outage, and while
 * degraded asks the store every `checkEveryMs` whether it can write again (with room to spare,
 * so a write that squeezes into a half-used WAL page does not count as recovery).
 *
 * @example
 * const health = new StoreHealth({ dataDir: "/srv/jaga/data", clock, log, probe: (at) => local.watch.probe(at) });
 * onStorageError(local.db, (err) => health.failed(err));
 * health.onChange((c) => (c.writable ? say("back") : say(`cannot write: ${c.problem}`)));
 * health.status(); // { writable: true, since: null, problem: null, lastError: null, disk: { ... } }
 */
import { accessSync, constants, statfsSync } from "node:fs";
import type { Clock } from "../clock.js";
import { formatBytes } from "../duration.js";
import { LogLimit } from "../log-limit.js";
import type { Logger } from "../log.js";

/** What is wrong with the data directory, in words an admin can act on. */
export type StorageProblem = "full" | "read_only" | "permission" | "io";

export interface DiskUsage {
  path: string;
  sizeBytes: number;
  freeBytes: number;
  /** As df counts it: used / (used + available), rounded up. */
  usedPercent: number;
}

export interface StoreCondition {
  writable: boolean;
  /** When the first write failed (null while writable). */
  since: number | null;
  problem: StorageProblem | null;
  /** The last failure's message, e.g. "database or disk is full". */
  lastError: string | null;
  /** The data directory's filesystem now; null for an in-memory store. */
  disk: DiskUsage | null;
}

export interface StoreHealthOptions {
  dataDir: string;
  clock: Clock;
  log: Logger;
  /** A small real write that throws while the store cannot be written. */
  probe: (at: number) => void;
  /** How often a degraded store is asked again. Default 30 s. */
  checkEveryMs?: number;
}

/**
 * Free space below which a disk counts as full: 2 % of it, at most 8 MB. SQLite needs room for
 * its WAL, and a disk that has a few KB left is full for every practical purpose.
 *
 * @example
 * minFreeBytes(4 * 2 ** 20); // 83886 (2 % of 4 MB)
 */
export function minFreeBytes(sizeBytes: number): number {
  return Math.min(8 * 2 ** 20, Math.round(sizeBytes * 0.02));
}

/**
 * The filesystem holding `path`, read in-process (statfs: no df to spawn); null when it cannot
 * be read (no such directory, an in-memory store).
 *
 * @example
 * diskUsage("/srv/jaga/data"); // { path: "/srv/jaga/data", sizeBytes: 4194304, freeBytes: 0, usedPercent: 100 }
 */
export function diskUsage(path: string): DiskUsage | null {
  try {
    const s = statfsSync(path);
    const used = (s.blocks - s.bfree) * s.bsize;
    const free = s.bavail * s.bsize;
    return { path, sizeBytes: s.blocks * s.bsize, freeBytes: free, usedPercent: used + free > 0 ? Math.ceil((used / (used + free)) * 100) : 0 };
  } catch {
    return null;
  }
}

/**
 * Names the problem behind a storage failure. The disk's own numbers win over SQLite's code:
 * on a full disk SQLite may say "disk I/O error" (it could not grow its shared-memory file).
 *
 * @example
 * storageProblem({ code: "SQLITE_IOERR_SHMSIZE" }, "/srv/jaga/data"); // "full" when the disk has no room
 */
export function storageProblem(err: unknown, dir: string): StorageProblem {
  const raw = (err as { code?: unknown } | null)?.code;
  const code = typeof raw === "string" ? raw : "";
  const usage = diskUsage(dir);
  if (/FULL|ENOSPC|EDQUOT/.test(code) || (usage && usage.freeBytes <= minFreeBytes(usage.sizeBytes))) return "full";
  try {
    accessSync(dir, constants.W_OK);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EROFS" ? "read_only" : (e as NodeJS.ErrnoException).code === "ENOENT" ? "io" : "permission";
  }
  if (/READONLY|EROFS/.test(code)) return "read_only";
  if (/PERM|EACCES|EPERM/.test(code)) return "permission";
  return "io";
}

/**
 * One line in English for logs and the console, e.g. "disk full: /srv/jaga/data, 0 B free of 4 MB".
 *
 * @example
 * describeProblem("full", diskUsage(dir), dir);
 */
export function describeProblem(problem: StorageProblem, disk: DiskUsage | null, dir: string): string {
  const room = disk ? `, ${formatBytes(disk.freeBytes)} free of ${formatBytes(disk.sizeBytes)}` : "";
  const what = { full: "disk full", read_only: "read-only", permission: "no permission to write", io: "I/O error" }[problem];
  return `${what}: ${dir}${room}`;
}

export class StoreHealth {
  private down: { since: number; problem: StorageProblem; error: string } | null = null;
  private readonly listeners = new Set<(c: StoreCondition) => void>();
  private readonly limit: LogLimit;
  private checking?: Promise<void>;
  private readonly stopSignal = new AbortController();

  constructor(private readonly o: StoreHealthOptions) {
    this.limit = new LogLimit(o.log, o.clock);
  }

  /** A write failed for a storage reason: degraded from now (if not already), logged once a minute. */
  failed(err: Error): void {
    const message = err.message;
    this.limit.error("store.write", err, "store write failed", { code: (err as { code?: unknown }).code });
    if (this.down) {
      this.down.error = message;
      return;
    }
    if (this.stopSignal.signal.aborted) return;
    const problem = storageProblem(err, this.o.dataDir);
    this.down = { since: this.o.clock.now(), problem, error: message };
    const c = this.status();
    this.o.log.error(
      { dataDir: this.o.dataDir, problem, freeBytes: c.disk?.freeBytes },
      `Jaga cannot write its data (${describeProblem(problem, c.disk, this.o.dataDir)}): alerts go straight to the chat until it can`,
    );
    this.emit(c);
    this.checking ??= this.recheck();
  }

  status(): StoreCondition {
    const disk = this.o.dataDir === ":memory:" ? null : diskUsage(this.o.dataDir);
    if (!this.down) return { writable: true, since: null, problem: null, lastError: null, disk };
    return { writable: false, since: this.down.since, problem: this.down.problem, lastError: this.down.error, disk };
  }

  /** Called on every change: degraded (once per outage), then writable again. */
  onChange(listener: (c: StoreCondition) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Asks the store once whether it can write again; true when it is writable. */
  check(): boolean {
    if (!this.down) return true;
    try {
      this.o.probe(this.o.clock.now());
    } catch {
      return false; // the failure itself was reported through failed()
    }
    const c = this.status();
    if (this.down.problem === "full" && c.disk && c.disk.freeBytes <= minFreeBytes(c.disk.sizeBytes)) return false;
    const lasted = this.o.clock.now() - this.down.since;
    this.down = null;
    this.o.log.info({ dataDir: this.o.dataDir, lastedMs: lasted, freeBytes: c.disk?.freeBytes }, "Jaga can write its data again");
    this.emit(this.status());
    return true;
  }

  /** Ends the recheck loop (at shutdown, before the store closes). */
  stop(): Promise<void> {
    this.stopSignal.abort();
    return this.checking ?? Promise.resolve();
  }

  private async recheck(): Promise<void> {
    try {
      while (this.down && !this.stopSignal.signal.aborted) {
        await this.o.clock.sleep(this.o.checkEveryMs ?? 30_000, this.stopSignal.signal).catch(() => undefined);
        if (this.stopSignal.signal.aborted) return;
        this.check();
      }
    } finally {
      this.checking = undefined;
    }
  }

  private emit(c: StoreCondition): void {
    for (const l of this.listeners) {
      try {
        l(c);
      } catch (err) {
        this.limit.error("store.health.listener", err, "store health listener failed");
      }
    }
  }
}
