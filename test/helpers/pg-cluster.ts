/**
 * A throwaway PostgreSQL cluster for tests: `initdb` into a fresh temporary directory, the
 * server on a free loopback port, a random superuser password, and everything removed again by
 * `stop()`. Roles are cluster-wide, so Supabase's fixed role names (`anon`, `authenticator`, …)
 * can only be created without touching the machine's own PostgreSQL, and without two
 * concurrent test runs sharing them, in a cluster of their own. Takes about a second.
 *
 * Uses the machine's PostgreSQL binaries (on PATH, else Debian's /usr/lib/postgresql/<v>/bin);
 * as root it runs them as the `postgres` user, since PostgreSQL refuses to run as root.
 *
 * @example
 * const cluster = await startPgCluster();
 * const client = new pg.Client(cluster.config("postgres")); // { host, port, user, password, database }
 * await cluster.stop();
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { reapOnExit } from "./reaper.js";
import { freePort } from "./sshd.js";

const run = promisify(execFile);

export interface PgCluster {
  dir: string;
  port: number;
  /** The superuser's random password (TCP logins need it; nothing else on the machine has it). */
  password: string;
  /** Connection settings for `user` (default the superuser `postgres`) on `database`. */
  config(database: string, user?: string, password?: string): pg.ClientConfig;
  /** The same as a postgres:// URL. */
  url(database: string, user?: string, password?: string): string;
  stop(): Promise<void>;
}

/** initdb's directory: PATH first, else the newest of Debian's versioned ones. */
export function pgBinDir(): string {
  for (const dir of (process.env.PATH ?? "").split(":")) if (dir && existsSync(join(dir, "initdb"))) return dir;
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, "bin/initdb"))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error("PostgreSQL's initdb was not found: apt-get install postgresql (.ci/run does this)");
  return join(base, versions[0], "bin");
}

/**
 * The environment for a server a test starts (PostgreSQL, PostgREST): this process's, so that
 * what marks a test run's processes (.ci/trace) is inherited, minus libpq's PG* settings, which
 * are meant for the machine's PostgreSQL and not this one.
 *
 * @example
 * spawn(POSTGREST_BIN, [], { env: { ...serverEnv(), PGRST_DB_URI: cluster.url("jaga_test") } });
 */
export function serverEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith("PG")));
}

/** uid and gid of the `postgres` OS user, from /etc/passwd. */
function postgresUser(): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith("postgres:"));
  if (!line) throw new Error("running as root, and there is no `postgres` OS user to run PostgreSQL as: apt-get install postgresql");
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

export async function startPgCluster(): Promise<PgCluster> {
  const bin = pgBinDir();
  const dir = mkdtempSync(join(tmpdir(), "jaga-pg-"));
  reapOnExit({ path: dir });
  const owner = process.getuid?.() === 0 ? postgresUser() : undefined;
  const own = (path: string) => owner && chownSync(path, owner.uid, owner.gid);
  const password = randomBytes(18).toString("hex");
  let server: ChildProcess | undefined;
  let port = 0;
  const halt = async () => {
    const s = server;
    server = undefined;
    if (s && s.exitCode === null && s.signalCode === null) {
      const exited = new Promise((resolve) => s.once("exit", resolve));
      s.kill("SIGINT"); // "fast" shutdown: sessions are ended, nothing is kept
      const killer = setTimeout(() => s.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(killer);
    }
  };
  const stop = async () => {
    await halt();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    own(dir);
    const pwfile = join(dir, "pwfile");
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    own(pwfile);
    const data = join(dir, "data");
    // Password logins over TCP; the unix socket lives in `dir`, which only the server's user can enter.
    const env = { ...serverEnv(), LANG: "C", LC_ALL: "C" };
    await run(
      join(bin, "initdb"),
      ["-D", data, "-U", "postgres", `--pwfile=${pwfile}`, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"],
      { ...owner, cwd: dir, env, timeout: 60_000 },
    );
    rmSync(pwfile);
    let stderr = "";
    // A free port can be taken by someone else before the server binds it: then try another.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      stderr = "";
      const child = spawn(
        join(bin, "postgres"),
        [
          "-D", data, "-p", String(port), "-k", dir,
          "-c", "listen_addresses=127.0.0.1",
          // Throwaway data: no durability, little memory.
          "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
          "-c", "shared_buffers=16MB", "-c", "max_connections=40", "-c", "max_wal_senders=0", "-c", "wal_level=minimal",
        ],
        { ...owner, cwd: dir, env, stdio: ["ignore", "ignore", "pipe"] },
      );
      server = child;
      reapOnExit({ pid: child.pid });
      child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
      const ready = await until(30_000, async () => {
        if (child.exitCode !== null || child.signalCode !== null) return "exited";
        const c = new pg.Client({ host: "127.0.0.1", port, user: "postgres", password, database: "postgres", connectionTimeoutMillis: 1000 });
        try {
          await c.connect();
          return "ready";
        } catch {
          return null;
        } finally {
          await c.end().catch(() => undefined);
        }
      });
      if (ready === "ready") break;
      await halt();
      if (ready === "exited" && /could not bind|Address already in use/i.test(stderr) && attempt < 3) continue;
      throw new Error(`PostgreSQL (${bin}) did not start on 127.0.0.1:${port}: ${stderr.trim() || ready || "no answer"}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const config = (database: string, user = "postgres", pw = password): pg.ClientConfig => ({ host: "127.0.0.1", port, user, password: pw, database });
  return {
    dir,
    port,
    password,
    config,
    url: (database, user = "postgres", pw = password) =>
      `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(pw)}@127.0.0.1:${port}/${database}`,
    stop,
  };
}

/** Polls `probe` every 50 ms until it answers something, or `ms` passes (then null). */
async function until<T>(ms: number, probe: () => Promise<T | null>): Promise<T | null> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await probe();
    if (r !== null || Date.now() > deadline) return r;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
