/**
 * A real OpenSSH server for tests: Debian's /usr/sbin/sshd on 127.0.0.1, a random free port,
 * a fresh ed25519 host key and user key in a temporary directory, and the current user allowed
 * by key only. Always `await sshd.stop()` (it kills the server and every session, then removes
 * the directory).
 *
 * @example
 * const sshd = await startSshd();
 * const exec = new SshExecutor({ name: "box", target: sshd.target(), clock: systemClock });
 * await sshd.restart(); // drops every session, listens again on the same port
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { waitFor } from "./pm2.js";

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
  /**
   * Freezes the server and every session with SIGSTOP: TCP stays open (the kernel still accepts
   * and acknowledges), nothing answers. What a hung host looks like to a client.
   */
  freeze(): void;
  /** Lets a frozen server and its sessions go on (SIGCONT). */
  thaw(): void;
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** Extra sshd_config lines. */
  extra?: string[];
}

export async function startSshd(options: SshdOptions = {}): Promise<TestSshd> {
  if (!existsSync(SSHD_BIN)) throw new Error(`${SSHD_BIN} is missing: apt-get install openssh-server`);
  // sshd refuses to start without its privilege separation directory; containers lack it.
  if (!existsSync("/run/sshd")) mkdirSync("/run/sshd", { mode: 0o755, recursive: true });
  const dir = mkdtempSync(join(tmpdir(), "jaga-sshd-"));
  const user = userInfo().username;
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
      `AllowUsers ${user}`,
      // The fan-out benchmark opens 50 connections at once; defaults (10:30:100) would drop some.
      "MaxStartups 500",
      "MaxSessions 100",
      "LogLevel ERROR",
      ...(options.extra ?? []),
      "",
    ].join("\n"),
  );

  let child: ChildProcess | undefined;
  let stderr = "";
  let frozen: number[] = [];
  const sshd: TestSshd = {
    dir,
    port,
    user,
    userKey: join(dir, "user_ed25519"),
    strangerKey: join(dir, "stranger_ed25519"),
    fingerprint,
    otherFingerprint,
    target: (o = {}) => ({ host: "127.0.0.1", port, user, privateKeyPath: join(dir, "user_ed25519"), agent: false, hostKey: fingerprint, ...o }),
    async start() {
      stderr = "";
      child = spawn(SSHD_BIN, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
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
    freeze() {
      if (!child?.pid) return;
      frozen = [child.pid, ...descendants(child.pid)];
      for (const pid of frozen) tryKill(pid, "SIGSTOP");
    },
    thaw() {
      const pids = new Set([...frozen, ...(child?.pid ? [child.pid, ...descendants(child.pid)] : [])]);
      frozen = [];
      for (const pid of pids) tryKill(pid, "SIGCONT");
    },
    async restart() {
      await sshd.kill();
      await sshd.start();
    },
    async stop() {
      try {
        await sshd.kill();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  try {
    await sshd.start();
  } catch (err) {
    await sshd.stop();
    throw err;
  }
  return sshd;
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
