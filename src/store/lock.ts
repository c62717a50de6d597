/**
 * One Jaga per data directory. Two instances on one directory would share one WhatsApp session
 * (and fight over it) and one outbox (and send every alert twice).
 *
 * The lock is an OS file lock, not a file's existence: `jaga.lock` is a tiny SQLite database on
 * which the running Jaga holds an open `BEGIN EXCLUSIVE` transaction. The kernel drops the lock
 * when the process ends however it ends (kill -9 included), so a stale lock cannot exist and no
 * pid needs to be trusted to decide. SQLite does the locking, portably, through a dependency
 * Jaga already has. `jaga.pid` beside it only names the holder for the message a second
 * instance prints.
 *
 * The lock file is never deleted: unlinking it while another process is opening it would let
 * two processes lock two different files of the same name.
 *
 * @example
 * const lock = await lockDataDir(config.dataDir); // throws DataDirLocked naming the holder's pid
 * ...
 * lock.release();
 */
import Database from "better-sqlite3";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const LOCK_FILE = "jaga.lock";
export const PID_FILE = "jaga.pid";

/** Another Jaga holds the data directory. `pid` is null when it could not be read in time. */
export class DataDirLocked extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number | null,
  ) {
    super(
      `another Jaga (pid ${pid ?? "unknown"}) is already running on the data directory ${dataDir}: ` +
        "stop it first, or give this one another JAGA_DATA_DIR",
    );
    this.name = "DataDirLocked";
  }
}

export interface DataDirLock {
  readonly dataDir: string;
  /** Lets the next instance start. Idempotent. */
  release(this: void): void;
}

export interface LockOptions {
  /** How long to wait for a holder that is itself just starting to write its pid. */
  pidWaitMs?: number;
}

/**
 * Takes the data directory's lock, or throws {@link DataDirLocked}.
 *
 * @example
 * try { lock = await lockDataDir("/var/lib/jaga"); } catch (err) { if (err instanceof DataDirLocked) console.error(err.message); }
 */
export async function lockDataDir(dataDir: string, options: LockOptions = {}): Promise<DataDirLock> {
  mkdirSync(dataDir, { recursive: true });
  // A short busy timeout: two instances started at the same moment both reach for the lock,
  // and SQLite may make the winner wait until the loser has let go of its read lock.
  const db = new Database(join(dataDir, LOCK_FILE), { timeout: 1_000 });
  try {
    db.exec("BEGIN EXCLUSIVE");
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code !== "SQLITE_BUSY") throw err;
    throw new DataDirLocked(dataDir, await holderPid(dataDir, options.pidWaitMs ?? 2_000));
  }
  writePid(dataDir);
  let held = true;
  return {
    dataDir,
    release() {
      if (!held) return;
      held = false;
      if (readPid(dataDir) === process.pid) rmSync(join(dataDir, PID_FILE), { force: true });
      db.close(); // rolls the transaction back: the OS lock goes with it
    },
  };
}

/** Atomically, so a reader never sees half a number. */
function writePid(dataDir: string): void {
  const tmp = join(dataDir, `${PID_FILE}.${process.pid}`);
  writeFileSync(tmp, `${process.pid}\n`);
  renameSync(tmp, join(dataDir, PID_FILE));
}

function readPid(dataDir: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(join(dataDir, PID_FILE), "utf8"), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === "EPERM"; // alive, someone else's
  }
}

/**
 * The holder's pid. A holder that has just won the lock may not have written its pid yet (the
 * file may still name a dead predecessor), so wait a little for a living one.
 */
async function holderPid(dataDir: string, waitMs: number): Promise<number | null> {
  const until = Date.now() + waitMs;
  for (;;) {
    const pid = readPid(dataDir);
    if (pid !== null && alive(pid)) return pid;
    if (Date.now() >= until) return pid;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
