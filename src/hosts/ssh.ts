/**
 * Runs argv on a remote host over SSH (node-ssh on ssh2), with the same contract as the local
 * executor: argv in; exit code, capped stdout/stderr out; a timeout or abort ends the remote
 * process group, not just the local wait.
 *
 * - One persistent connection per host, shared by every command and poll (a fresh SSH handshake
 *   costs more than most of the commands Jaga runs), kept alive with SSH-level pings.
 * - The server must show the pinned host key (`hostKey`), or nothing is sent, not even a login.
 * - After a drop the connection is rebuilt in the background with exponential backoff driven by
 *   the injected clock; a command that arrives while the host is still in backoff fails at once
 *   with the last reason instead of hammering a dead box.
 * - At most `maxConcurrent` commands run at once per host; the rest queue (sshd's MaxSessions
 *   defaults to 10 channels per connection, and a set-top box has little CPU to spare).
 *
 * How the remote process is ended: sshd starts each exec session in its own session and process
 * group (OpenSSH calls setsid() before running the user's shell), so the shell's `$$` is the group
 * id. The wrapper prints it on a marker line and `exec`s the command, which keeps that pid; on
 * timeout a second channel on the same connection runs `kill -TERM -<pid>`, then `-KILL`.
 *
 * @example
 * const ssh = new SshExecutor({ name: "stb", target: { host: "10.0.0.7", port: 22, user: "root",
 *   privateKeyPath: "~/.ssh/id_ed25519", agent: false, hostKey: "SHA256:…" } });
 * const r = await ssh.run(["pm2", "jlist"], { timeoutMs: 10_000 });
 * await ssh.close();
 */
import type { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { connect as netConnect, type LookupFunction, type Socket } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { NodeSSH } from "node-ssh";
import { systemClock, type Clock } from "../clock.js";
import { JagaError } from "../errors.js";
import type { Logger } from "../log.js";
import {
  assertArgv,
  CappedBuffer,
  DEFAULT_MAX_OUTPUT,
  DEFAULT_TIMEOUT_MS,
  type ExecOptions,
  type ExecResult,
  type Executor,
} from "./executor.js";
import { fingerprint, sameFingerprint } from "./hostkey.js";
import { shellQuote } from "./quote.js";
import { connectError, type ConnectAttempt } from "./ssh-errors.js";

/** Where and as whom to connect; the `ssh:` block of a host in jaga.yaml. */
export interface SshTarget {
  host: string;
  port: number;
  user: string;
  privateKeyPath?: string;
  agent: boolean;
  hostKey?: string;
}

export interface SshExecutorOptions {
  /** The host's name in the inventory; every message names it. */
  name: string;
  target: SshTarget;
  clock?: Clock;
  /** Where passphrases and SSH_AUTH_SOCK come from. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  log?: Logger;
  /** Commands running at once on this host; more wait their turn. Default 8. */
  maxConcurrent?: number;
  /** TCP connect plus SSH handshake and login. Default 10 s. */
  connectTimeoutMs?: number;
  /** SSH ping interval; after `keepaliveCountMax` unanswered pings the link counts as dropped. */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** Reconnect delays: `initialMs`, doubling up to `maxMs`. */
  backoff?: { initialMs: number; maxMs: number };
  /** Name resolution for the TCP connect (tests inject one; default: the system resolver). */
  lookup?: LookupFunction;
}

export type SshState = "idle" | "connecting" | "connected" | "down" | "closed";

/** The slice of ssh2's Client and channel Jaga uses (ssh2 ships no types here). */
interface SshChannel extends EventEmitter {
  stderr: EventEmitter;
  signal(name: string): void;
  close(): void;
}
interface SshClient extends EventEmitter {
  exec(command: string, cb: (err: Error | undefined, channel: SshChannel) => void): boolean;
  openssh_forwardOutStreamLocal(socketPath: string, cb: (err: Error | undefined, stream: Duplex) => void): boolean;
  end(): void;
  destroy(): void;
}

/** ssh2 ships no types; this is the one helper used from it directly (node-ssh wraps the rest). */
const { utils: ssh2Utils } = createRequire(import.meta.url)("ssh2") as {
  utils: { parseKey(key: string, passphrase?: string): unknown };
};

const KILL_GRACE_MS = 2_000;
/** Output a login script prints before our marker is dropped, but only up to this much. */
const MAX_PREAMBLE = 64 * 1024;
const PID_MARKER = "__jaga_pid ";

/**
 * The environment variable that holds the passphrase of `host`'s private key:
 * `JAGA_SSH_PASSPHRASE_<HOST>` (upper case, other characters as `_`), else `JAGA_SSH_PASSPHRASE`.
 *
 * @example
 * passphraseVars("stb-1"); // ["JAGA_SSH_PASSPHRASE_STB_1", "JAGA_SSH_PASSPHRASE"]
 */
export function passphraseVars(host: string): [string, string] {
  return [`JAGA_SSH_PASSPHRASE_${host.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`, "JAGA_SSH_PASSPHRASE"];
}

/**
 * The remote command line for argv: print the shell's pid (the process group id, see the module
 * comment), pin the locale so parsers see C output, then `exec` the quoted argv so the command
 * keeps that pid. A missing command makes the shell answer 127, like the local executor.
 *
 * @example
 * remoteCommand(["pm2", "jlist"]); // "echo __jaga_pid $$; LC_ALL=C; … exec 'pm2' 'jlist'"
 */
export function remoteCommand(argv: readonly string[]): string {
  return `echo ${PID_MARKER.trim()} $$; LC_ALL=C; LANG=C; export LC_ALL LANG; exec ${shellQuote(argv)}`;
}

export class SshExecutor implements Executor {
  readonly kind = "ssh" as const;
  readonly name: string;
  private readonly target: SshTarget;
  private readonly clock: Clock;
  private readonly env: NodeJS.ProcessEnv;
  private readonly log: Logger | undefined;
  private readonly connectTimeoutMs: number;
  private readonly slots: Slots;

  private client: SshClient | null = null;
  private connecting: Promise<SshClient> | null = null;
  private failures = 0;
  private lastError: JagaError | null = null;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private reconnecting = false;
  private closed = false;
  private readonly closing = new AbortController();
  private readonly running = new Map<AbortController, Promise<unknown>>();
  /** Connections established, and attempts made (tests and `hosts check` read them). */
  connects = 0;
  attempts = 0;

  constructor(private readonly options: SshExecutorOptions) {
    this.name = options.name;
    this.target = options.target;
    this.clock = options.clock ?? systemClock;
    this.env = options.env ?? process.env;
    this.log = options.log;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.slots = new Slots(options.maxConcurrent ?? 8);
  }

  /** Where the connection stands, for `jaga hosts check` and tests. */
  get state(): SshState {
    if (this.closed) return "closed";
    if (this.client) return "connected";
    if (this.connecting) return "connecting";
    return this.lastError ? "down" : "idle";
  }

  /** The reason of the last failed connect, while the host is down. */
  get lastFailure(): JagaError | null {
    return this.client ? null : this.lastError;
  }

  /**
   * Connects now (if not connected) and resolves once a command could run; throws the
   * JagaError that says why not. Used by `jaga hosts check` and to warm the pool.
   *
   * @example
   * await ssh.connect(); // or catch (err) → err.code === "ssh.hostkey_mismatch"
   */
  async connect(signal?: AbortSignal): Promise<void> {
    await this.connection(signal ?? this.closing.signal);
  }

  async run(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    assertArgv(argv);
    const command = remoteCommand(argv);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const cap = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
    const started = this.clock.now();
    const stop = new AbortController();
    const end = () => stop.abort();
    const timer = new AbortController();
    // The timeout covers the whole wait: a queued or connecting command counts its time too.
    this.clock.sleep(timeoutMs, timer.signal).then(end, () => undefined);
    options.signal?.addEventListener("abort", end, { once: true });
    if (options.signal?.aborted) end();

    const work = (async (): Promise<ExecResult> => {
      if (this.closed) throw new JagaError("ssh.closed", { host: this.name });
      const release = await this.slots.acquire(stop.signal);
      if (!release) return ended(started, this.clock);
      try {
        let client: SshClient;
        try {
          client = await this.connection(stop.signal);
        } catch (err) {
          if (stop.signal.aborted && !(err instanceof JagaError)) return ended(started, this.clock);
          throw err;
        }
        return await this.exec(client, command, cap, stop.signal, started);
      } finally {
        release();
      }
    })();
    this.running.set(stop, work);
    try {
      return await work;
    } finally {
      this.running.delete(stop);
      timer.abort();
      options.signal?.removeEventListener("abort", end);
    }
  }

  /**
   * A stream to a Unix socket on the host over the pooled connection (OpenSSH's
   * `direct-streamlocal@openssh.com`): the watcher hears PM2's event bus this way without
   * starting a process there. Long-lived, so it takes no command slot.
   *
   * @example
   * const bus = await ssh.openUnixSocket("/root/.pm2/pub.sock");
   */
  async openUnixSocket(path: string): Promise<Duplex> {
    const client = await this.connection(this.closing.signal);
    return new Promise((resolve, reject) => {
      client.openssh_forwardOutStreamLocal(path, (err, stream) => (err ? reject(err) : resolve(stream)));
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    // In-flight commands are ended on the far side before the connection goes.
    for (const stop of this.running.keys()) stop.abort();
    const grace = new AbortController();
    await Promise.race([
      Promise.allSettled([...this.running.values()]),
      this.clock.sleep(KILL_GRACE_MS * 2, grace.signal).catch(() => undefined),
    ]);
    grace.abort();
    const client = this.client;
    this.client = null;
    client?.end();
    this.connecting?.then((c) => c.end(), () => undefined);
  }

  /** The live connection, or a new one; during backoff, the last failure at once. */
  private connection(signal: AbortSignal): Promise<SshClient> {
    if (this.closed) return Promise.reject(new JagaError("ssh.closed", { host: this.name }));
    if (this.client) return Promise.resolve(this.client);
    if (!this.connecting) {
      const due = this.lastAttemptAt + this.delay(this.failures);
      if (this.lastError && this.clock.now() < due) return Promise.reject(this.lastError);
      this.attempt();
    }
    return untilAborted(this.connecting!, signal);
  }

  /** Backoff before attempt number `failures + 1`: none after success, then 1 s, 2 s, 4 s … max. */
  private delay(failures: number): number {
    if (failures === 0) return 0;
    // No jitter: each host is a different server, so there is no herd to spread out.
    const { initialMs, maxMs } = this.options.backoff ?? { initialMs: 1_000, maxMs: 30_000 };
    return Math.min(maxMs, initialMs * 2 ** (failures - 1));
  }

  private attempt(): void {
    this.attempts++;
    this.lastAttemptAt = this.clock.now();
    const p = this.open().then(
      (client) => {
        this.failures = 0;
        this.lastError = null;
        this.connects++;
        if (this.closed) {
          client.end();
          throw new JagaError("ssh.closed", { host: this.name });
        }
        this.client = client;
        client.on("close", () => this.dropped(client));
        this.log?.info({ host: this.name }, "ssh connected");
        return client;
      },
      (err: unknown) => {
        const e = err instanceof JagaError ? err : connectError(err, this.attemptInfo());
        this.failures++;
        this.lastError = e;
        this.log?.warn({ host: this.name, code: e.code, detail: e.detail, failures: this.failures }, "ssh connect failed");
        this.reconnectInBackground();
        throw e;
      },
    );
    this.connecting = p;
    p.then(
      () => (this.connecting = null),
      () => (this.connecting = null),
    );
  }

  private dropped(client: SshClient): void {
    if (this.client !== client) return;
    this.client = null;
    if (this.closed) return;
    this.log?.warn({ host: this.name }, "ssh connection dropped");
    // A drop is news, not a failure streak: the first attempt goes out at once.
    this.failures = 0;
    this.lastError = new JagaError("ssh.lost", { host: this.name, address: this.address(), detail: "closed" });
    this.lastAttemptAt = Number.NEGATIVE_INFINITY;
    this.reconnectInBackground();
  }

  /** Keeps trying, on the backoff schedule, until connected or closed. */
  private reconnectInBackground(): void {
    if (this.reconnecting || this.closed) return;
    this.reconnecting = true;
    void (async () => {
      try {
        while (!this.closed && !this.client) {
          const wait = this.lastAttemptAt + this.delay(this.failures) - this.clock.now();
          if (wait > 0) await this.clock.sleep(wait, this.closing.signal);
          if (this.closed || this.client) break;
          if (!this.connecting) this.attempt();
          await this.connecting!.catch(() => undefined);
        }
      } catch {
        // closed while sleeping
      } finally {
        this.reconnecting = false;
      }
    })();
  }

  private address(): string {
    return `${this.target.host}:${this.target.port}`;
  }

  private attemptInfo(): ConnectAttempt {
    return {
      host: this.name,
      address: this.address(),
      user: this.target.user,
      timeoutMs: this.connectTimeoutMs,
      expected: this.target.hostKey,
    };
  }

  private async open(): Promise<SshClient> {
    const a = this.attemptInfo();
    const auth = await this.credentials();
    let sock: Socket | undefined;
    try {
      sock = await openSocket(this.target.host, this.target.port, this.connectTimeoutMs, this.options.lookup);
      const ssh = new NodeSSH();
      await ssh.connect({
        sock,
        username: this.target.user,
        ...auth,
        readyTimeout: this.connectTimeoutMs,
        keepaliveInterval: this.options.keepaliveIntervalMs ?? 15_000,
        keepaliveCountMax: this.options.keepaliveCountMax ?? 3,
        // Called with the raw key blob before any login is sent: refuse anything not pinned.
        hostVerifier: (key: Buffer) => {
          a.actual = fingerprint(key);
          const ok = !!a.expected && sameFingerprint(a.expected, a.actual);
          a.hostKeyRefused = !ok;
          return ok;
        },
      });
      const client = ssh.connection as unknown as SshClient;
      // An 'error' with no listener would crash Jaga; the 'close' that follows is what counts.
      client.on("error", (err: Error) => this.log?.warn({ host: this.name, detail: err.message }, "ssh connection error"));
      return client;
    } catch (err) {
      sock?.destroy();
      throw connectError(err, a);
    }
  }

  /** Key file (with its passphrase from the environment) and/or agent; never a password. */
  private async credentials(): Promise<{ privateKey?: string; passphrase?: string; agent?: string }> {
    const out: { privateKey?: string; passphrase?: string; agent?: string } = {};
    const vars = passphraseVars(this.name);
    if (this.target.agent) {
      const agent = this.env.SSH_AUTH_SOCK;
      if (!agent) throw new JagaError("ssh.no_agent", { host: this.name });
      out.agent = agent;
    }
    const path = this.target.privateKeyPath;
    if (path) {
      const full = path === "~" || path.startsWith("~/") ? join(this.env.HOME ?? homedir(), path.slice(1)) : path;
      const fail = (detail: string) => new JagaError("ssh.key_unreadable", { host: this.name, path, detail, env: vars[0] }, detail);
      let key: string;
      try {
        key = await readFile(full, "utf8");
      } catch (err) {
        throw fail((err as NodeJS.ErrnoException).code ?? "unreadable");
      }
      const passphrase = this.env[vars[0]] ?? this.env[vars[1]];
      // Parse here, so a wrong or missing passphrase is named as such (and never logged).
      const parsed = ssh2Utils.parseKey(key, passphrase);
      if (parsed instanceof Error) {
        throw fail(/passphrase|decrypt|encrypted/i.test(parsed.message) ? "passphrase missing or wrong" : "not a private key");
      }
      out.privateKey = key;
      if (passphrase) out.passphrase = passphrase;
    }
    return out;
  }

  /** Runs one command on an open connection and collects its result. */
  private exec(client: SshClient, command: string, cap: number, stop: AbortSignal, started: number): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      client.exec(command, (err, channel) => {
        if (err) {
          reject(new JagaError("ssh.failed", { host: this.name, address: this.address(), detail: err.message.slice(0, 120) }, err.message));
          return;
        }
        const out = new CappedBuffer(cap);
        const errBuf = new CappedBuffer(cap);
        let preamble: Buffer | null = Buffer.alloc(0);
        let pid: number | null = null;
        let code: number | null = null;
        let exited = false;
        let timedOut = false;
        let done = false;
        const closedByUs = new AbortController();

        channel.on("data", (chunk: Buffer) => {
          if (preamble === null) return out.push(chunk);
          // Until our marker line arrives, output is a login script's chatter: hold it back.
          preamble = Buffer.concat([preamble, chunk]);
          const at = preamble.indexOf(PID_MARKER);
          const nl = at >= 0 ? preamble.indexOf(10, at) : -1;
          if (nl >= 0) {
            pid = Number(preamble.subarray(at + PID_MARKER.length, nl).toString()) || null;
            const rest = preamble.subarray(nl + 1);
            preamble = null;
            if (rest.length) out.push(rest);
          } else if (preamble.length > MAX_PREAMBLE) {
            out.push(preamble);
            preamble = null;
          }
        });
        channel.stderr.on("data", (chunk: Buffer) => errBuf.push(chunk));
        channel.on("exit", (c: number | null) => {
          exited = true;
          code = typeof c === "number" ? c : null;
        });
        const finish = () => {
          if (done) return;
          done = true;
          closedByUs.abort();
          stop.removeEventListener("abort", onStop);
          if (preamble !== null && preamble.length) out.push(preamble);
          // No exit status and not ended by us: the connection went away under the command.
          if (!exited && !timedOut) {
            reject(new JagaError("ssh.lost", { host: this.name, address: this.address(), detail: "closed" }));
            return;
          }
          resolve({
            code: timedOut ? null : code,
            stdout: out.toString(),
            stderr: errBuf.toString(),
            truncated: out.truncated || errBuf.truncated,
            timedOut,
            durationMs: this.clock.now() - started,
          });
        };
        channel.on("close", finish);
        const onStop = () => {
          if (done || timedOut) return;
          timedOut = true;
          void this.endRemote(client, channel, () => pid, closedByUs.signal).finally(finish);
        };
        stop.addEventListener("abort", onStop, { once: true });
        if (stop.aborted) onStop();
      });
    });
  }

  /** TERM the remote process group, KILL it after a grace period, then drop the channel. */
  private async endRemote(client: SshClient, channel: SshChannel, pid: () => number | null, closed: AbortSignal): Promise<void> {
    const signalGroup = (sig: "TERM" | "KILL") => {
      const p = pid();
      if (p === null) {
        // No pid yet: the shell had not even started; ask sshd to signal the session instead.
        try {
          channel.signal(sig);
        } catch {
          // the channel is already gone
        }
        return;
      }
      // Group first; the plain pid is the fallback for an sshd that did not setsid().
      const cmd = `${shellQuote(["kill", `-${sig}`, `-${p}`])} 2>/dev/null || ${shellQuote(["kill", `-${sig}`, String(p)])} 2>/dev/null`;
      try {
        client.exec(cmd, (err, ch) => {
          if (err) return;
          ch.on("data", () => undefined);
          ch.stderr.on("data", () => undefined);
        });
      } catch {
        // connection gone: the remote side ends the session itself
      }
    };
    const wait = (ms: number) =>
      this.clock.sleep(ms, closed).then(
        () => true,
        () => false,
      );
    signalGroup("TERM");
    if (!(await wait(KILL_GRACE_MS))) return;
    signalGroup("KILL");
    if (!(await wait(KILL_GRACE_MS))) return;
    try {
      channel.close();
    } catch {
      // already closed
    }
    await wait(KILL_GRACE_MS);
  }
}

/** The result of a command ended before it started (timed out in the queue or while connecting). */
function ended(started: number, clock: Clock): ExecResult {
  return { code: null, stdout: "", stderr: "", truncated: false, timedOut: true, durationMs: clock.now() - started };
}

/** Rejects when `signal` fires first; the promise itself keeps going (the pool wants it). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error("aborted"));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new Error("aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** A TCP connection with its own timeout and resolver, so errors keep their errno. */
function openSocket(host: string, port: number, timeoutMs: number, lookup?: LookupFunction): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host, port, noDelay: true, ...(lookup ? { lookup } : {}) });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(Object.assign(new Error("connect timed out"), { code: "ETIMEDOUT" }));
    }, timeoutMs);
    sock.once("connect", () => {
      clearTimeout(timer);
      sock.removeListener("error", onError);
      resolve(sock);
    });
    const onError = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    sock.once("error", onError);
  });
}

/** A counting semaphore; `acquire` resolves to a release function, or null when aborted first. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(size: number) {
    this.free = Math.max(1, size);
  }
  acquire(signal: AbortSignal): Promise<(() => void) | null> {
    if (signal.aborted) return Promise.resolve(null);
    const release = () => {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(once(release));
    }
    return new Promise((resolve) => {
      const grant = () => {
        signal.removeEventListener("abort", onAbort);
        resolve(once(release));
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        resolve(null);
      };
      this.waiting.push(grant);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}

function once(fn: () => void): () => void {
  let called = false;
  return () => {
    if (called) return;
    called = true;
    fn();
  };
}
