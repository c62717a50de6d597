/**
 * A real OpenSSH server for tests: Debian's /usr/sbin/sshd on 127.0.0.1, a random free port,
 * a fresh ed25519 host key and user key in a temporary directory, and the current user allowed
 * by key only. Always `await sshd.stop()` (it kills the server and every session, deletes the
 * OS users it created, then removes the directory); should the test process die first, the
 * reaper (./reaper.ts) does the same.
 *
 * @example
 * const sshd = await startSshd();
 * const exec = new SshExecutor({ name: "box", target: sshd.target(), clock: systemClock });
 * await sshd.restart(); // drops every session, listens again on the same port
 *
 * const su = await startSshd({ users: ["ok"] }); // as root: a throwaway OS user
 * su.target({ user: su.users.ok });              // logs in as jaga-ok-<random>
 *
 * // as root: the sessions see a test file as /etc/resolv.conf (nobody else does)
 * const ns = await startSshd({ mounts: [{ source: tmpResolvConf, target: "/etc/resolv.conf" }] });
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { waitFor } from "./pm2.js";
import { reapOnExit } from "./reaper.js";

const run = promisify(execFile);
export const SSHD_BIN = "/usr/sbin/sshd";

export interface SshTargetConfig {
  host: string;
  port: number;
  user: string;
  privateKeyPath: string;
  agent: boolean;
  hostKey: string;
}

export interface TestSshd {
  dir: string;
  port: number;
  user: string;
  /** The OS users created for `options.users`, by label: `{ ok: "jaga-ok-1a2b3c4d" }`. */
  users: Record<string, string>;
  /** The user key that is authorized, and one that is not. */
  userKey: string;
  strangerKey: string;
  /** `SHA256:…` of the host key, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  /** A fingerprint of some other key, for mismatch tests. */
  otherFingerprint: string;
  target(overrides?: Partial<SshTargetConfig>): SshTargetConfig;
  /** Kills the server and every session it holds (a crash or reboot, as clients see it). */
  kill(): Promise<void>;
  /** Starts the server again on the same port with the same keys. */
  start(): Promise<void>;
  restart(): Promise<void>;
  /** SIGSTOP to the server and its sessions: TCP stays open, nothing answers (a hung box). */
  freeze(): void;
  /** SIGCONT to the server and its sessions: they carry on where they stopped. */
  thaw(): void;
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** Extra sshd_config lines. */
  extra?: string[];
  /**
   * Throwaway OS users to create (needs root), by label: each gets a name unique to this run
   * (`jaga-<label>-<random>`), a home inside the server's directory, no password, and login by
   * the user key. `stop()` deletes them.
   */
  users?: string[];
  /**
   * More variables for every session, e.g. `{ PATH: dir }` for a host that lacks some tools.
   * sshd takes only its first SetEnv line, so they go on the one that sets HOME.
   */
  env?: Record<string, string>;
  /**
   * Files to bind over others for the server and its sessions only (needs root): the server
   * starts in a private mount namespace of its own (`unshare -m --propagation private`), where
   * each `source` is bind-mounted onto its `target`. The namespace, and with it every mount,
   * ends when its last process does (`kill()`/`stop()`): nothing to undo on this machine.
   */
  mounts?: { source: string; target: string }[];
}

/** Binds `$1` over `$2`, two by two up to `--`, then becomes the rest of the arguments (sshd). */
const BIND_THEN_EXEC = `while [ "$1" != -- ]; do mount --bind "$1" "$2" || exit 1; shift 2; done; shift; exec "$@"`;

export async function startSshd(options: SshdOptions = {}): Promise<TestSshd> {
  if (!existsSync(SSHD_BIN)) throw new Error(`${SSHD_BIN} is missing: apt-get install openssh-server`);
  // sshd refuses to start without its privilege separation directory; containers lack it.
  if (!existsSync("/run/sshd")) mkdirSync("/run/sshd", { mode: 0o755, recursive: true });
  if (options.mounts?.length && process.getuid?.() !== 0) throw new Error("bind mounts for sshd need root");
  const dir = mkdtempSync(join(tmpdir(), "jaga-sshd-"));
  mkdirSync(join(dir, "empty-home"), { mode: 0o755 });
  reapOnExit({ path: dir });
  const user = userInfo().username;
  const id = randomBytes(4).toString("hex");
  const users = Object.fromEntries((options.users ?? []).map((label) => [label, `jaga-${label}-${id}`]));
  const keygen = (file: string, comment: string) => run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file]);
  await Promise.all([
    keygen(join(dir, "host_ed25519"), "host"),
    keygen(join(dir, "user_ed25519"), "user"),
    keygen(join(dir, "stranger_ed25519"), "stranger"),
    keygen(join(dir, "other_host_ed25519"), "other"),
  ]);
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "user_ed25519.pub")));
  const fp = async (file: string) => (await run("ssh-keygen", ["-lf", file])).stdout.split(" ")[1]!;
  const [fingerprint, otherFingerprint] = await Promise.all([fp(join(dir, "host_ed25519.pub")), fp(join(dir, "other_host_ed25519.pub"))]);
  const port = await freePort();
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      "ListenAddress 127.0.0.1",
      `Port ${port}`,
      `HostKey ${join(dir, "host_ed25519")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "StrictModes no",
      "UsePAM no",
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      `AllowUsers ${[user, ...Object.values(users)].join(" ")}`,
      // The fan-out benchmark opens 50 connections at once; defaults (10:30:100) would drop some.
      "MaxStartups 500",
      "MaxSessions 100",
      "LogLevel ERROR",
      // Sessions start in an empty home: the machine's own ~/.bashrc (pyenv init: a shim rehash
      // under a lock file, ~0.5 s per command) must not run inside every test command — a session
      // killed mid-rehash leaves the lock behind and stalls every later command for a minute.
      `SetEnv ${[`HOME=${join(dir, "empty-home")}`, ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`)].join(" ")}`,
      ...(options.extra ?? []),
      "",
    ].join("\n"),
  );

  let child: ChildProcess | undefined;
  let stderr = "";
  const created: string[] = [];
  const sshd: TestSshd = {
    dir,
    port,
    user,
    users,
    userKey: join(dir, "user_ed25519"),
    strangerKey: join(dir, "stranger_ed25519"),
    fingerprint,
    otherFingerprint,
    target: (o = {}) => ({ host: "127.0.0.1", port, user, privateKeyPath: join(dir, "user_ed25519"), agent: false, hostKey: fingerprint, ...o }),
    async start() {
      stderr = "";
      const argv = [SSHD_BIN, "-D", "-e", "-f", config];
      const mounts = options.mounts ?? [];
      // unshare and sh both exec: the pid is sshd's, as without mounts.
      child = mounts.length
        ? spawn("unshare", ["-m", "--propagation", "private", "sh", "-c", BIND_THEN_EXEC, "sh", ...mounts.flatMap((m) => [m.source, m.target]), "--", ...argv], { stdio: ["ignore", "ignore", "pipe"] })
        : spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
      reapOnExit({ pid: child.pid });
      child.stderr?.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
      const started = child;
      await waitFor(async () => {
        if (started.exitCode !== null) throw new Error(`sshd exited ${started.exitCode}: ${stderr}`);
        return canConnect(port);
      }, 10_000, "sshd to listen");
    },
    async kill() {
      const c = child;
      child = undefined;
      if (!c?.pid) return;
      // Sessions are sshd children that outlive a killed listener: end the whole tree.
      const pids = [c.pid, ...descendants(c.pid)];
      // Freeze first, so no session gets to report its child's death: the link just goes dark.
      for (const pid of pids) tryKill(pid, "SIGSTOP");
      for (const pid of pids) tryKill(pid, "SIGKILL");
      await waitFor(async () => !(await canConnect(port)) && pids.every((p) => !alive(p)), 10_000, "sshd to die");
    },
    async restart() {
      await sshd.kill();
      await sshd.start();
    },
    freeze() {
      if (child?.pid) for (const pid of [child.pid, ...descendants(child.pid)]) tryKill(pid, "SIGSTOP");
    },
    thaw() {
      if (child?.pid) for (const pid of [child.pid, ...descendants(child.pid)]) tryKill(pid, "SIGCONT");
    },
    async stop() {
      try {
        await sshd.kill();
      } finally {
        // After the kill: userdel refuses a user with processes left.
        await Promise.allSettled(created.splice(0).map((name) => deleteUser(name)));
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  try {
    await createUsers(dir, Object.values(users), created);
    await sshd.start();
  } catch (err) {
    await sshd.stop();
    throw err;
  }
  return sshd;
}

/**
 * OS users for the server, each with its home under `dir/home` and no password ('*': no password
 * login, without being "locked", which sshd would refuse). Each one created lands in `created`
 * for `stop()`, and with the reaper before it exists, in case the test dies halfway.
 */
async function createUsers(dir: string, names: string[], created: string[]): Promise<void> {
  if (names.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error("creating test users needs root");
  const homes = join(dir, "home");
  mkdirSync(homes);
  // sshd reads the authorized keys as the user logging in.
  chmodSync(dir, 0o755);
  chmodSync(join(dir, "authorized_keys"), 0o644);
  for (const name of names) {
    reapOnExit({ user: name, path: sudoTimestamp(name) });
    await run("useradd", ["--home-dir", join(homes, name), "--create-home", "--shell", "/bin/sh", "--user-group", "--password", "*", "--comment", "jaga test", name]);
    created.push(name);
  }
}

/** Where sudo keeps a user's "recently authenticated" record; userdel leaves it behind. */
const sudoTimestamp = (name: string) => `/run/sudo/ts/${name}`;

async function deleteUser(name: string): Promise<void> {
  await run("userdel", ["--force", "--remove", name]);
  rmSync(sudoTimestamp(name), { force: true });
}

/** A port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    import("node:net")
      .then(({ connect }) => {
        const s = connect({ host: "127.0.0.1", port });
        s.once("connect", () => {
          s.destroy();
          resolve(true);
        });
        s.once("error", () => resolve(false));
      })
      .catch(() => resolve(false));
  });
}

/** Every process below `pid`, found through /proc (sessions, their shells, their children). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers signal 0; it is gone for our purposes.
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
