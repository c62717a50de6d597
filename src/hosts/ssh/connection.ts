/**
 * One SSH connection to one host, kept up: connect (TCP, handshake and login under one
 * deadline), refuse any server that does not show the pinned host key, ping it, notice when it
 * goes, and rebuild it in the background on the shared backoff policy. Every transition is
 * logged once, with the host's name (never key material): connected, connect failed (again only
 * when the reason changes), dropped (with its reason), reconnected, closed.
 *
 * Silence is treated like a refusal: a peer that stops answering (a frozen host: TCP open,
 * nothing behind it) is declared dead after `keepaliveIntervalMs × (keepaliveCountMax + 1)`, or
 * at once when a channel request it owes goes unanswered ({@link SshConnection.dropSilent}). While
 * a host is known to be silent, callers get its reason at once instead of waiting out another
 * connect attempt.
 *
 * @example
 * const conn = new SshConnection({ name: "stb", target, clock, env: process.env, log });
 * const client = await conn.get(signal); // an ssh2 Client, logged in
 * await conn.close(1_500);
 */
import { connect as netConnect, type LookupFunction, type Socket } from "node:net";
import ssh2, { type Client, type ConnectConfig } from "ssh2";
import type { Clock } from "../../clock.js";
import { JagaError } from "../../errors.js";
import type { Logger } from "../../log.js";
import type { Backoff } from "../../policy/backoff.js";
import { withDeadline } from "../../policy/timeout.js";
import { fingerprint, sameFingerprint } from "../hostkey.js";
import { loadCredentials } from "./credentials.js";
import { connectError, type ConnectAttempt } from "./errors.js";
import type { SshState, SshTarget } from "./target.js";

export interface ConnectionOptions {
  name: string;
  target: SshTarget;
  clock: Clock;
  env: NodeJS.ProcessEnv;
  log?: Logger;
  connectTimeoutMs: number;
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
  backoff: Backoff;
  lookup?: LookupFunction;
}

/** Why a live link ended, as the log says it; `silentMs`: how long the peer had been silent. */
type DropReason = { detail: string; silentMs?: number };

export class SshConnection {
  private client: Client | null = null;
  /** The TCP socket under each client: ours, so close() can destroy it whatever ssh2 thinks. */
  private readonly sockets = new Map<Client, Socket>();
  private readonly dropReasons = new Map<Client, DropReason>();
  private connecting: Promise<Client> | null = null;
  private failures = 0;
  private lastError: JagaError | null = null;
  /** The host stopped answering (keepalive, a channel request, or a connect timeout). */
  private silent = false;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private downSince: number | null = null;
  /** `attempts` when the host went down, so "reconnected" can say how many it took. */
  private attemptsAtDown = 0;
  private reconnecting = false;
  private closed = false;
  private readonly closing = new AbortController();
  /** Connections established, and attempts made (tests and `hosts check` read them). */
  connects = 0;
  attempts = 0;

  constructor(private readonly o: ConnectionOptions) {}

  /** Where the connection stands. */
  get state(): SshState {
    if (this.closed) return "closed";
    if (this.client) return "connected";
    if (this.connecting && !(this.silent && this.lastError)) return "connecting";
    return this.lastError ? "down" : "idle";
  }

  /** The reason the host is down, while it is. */
  get lastFailure(): JagaError | null {
    return this.client ? null : this.lastError;
  }

  /**
   * The live client, or a new one. During backoff, or while a silent host is being retried,
   * the last failure at once. Rejects with a plain Error when `signal` fires first.
   *
   * @example
   * const client = await conn.get(AbortSignal.timeout(5_000));
   */
  get(signal: AbortSignal): Promise<Client> {
    if (this.closed) return Promise.reject(new JagaError("ssh.closed", { host: this.o.name }));
    if (this.client) return Promise.resolve(this.client);
    if (this.connecting) {
      // A refused attempt answers in milliseconds, a silent one only at its deadline: do not wait for that.
      if (this.silent && this.lastError) return Promise.reject(this.lastError);
    } else {
      if (this.lastError && this.clock.now() < this.lastAttemptAt + this.delay()) return Promise.reject(this.lastError);
      this.attempt();
    }
    return untilAborted(this.connecting!, signal);
  }

  /**
   * Declares `client`'s link dead because the peer left a request unanswered: the socket is
   * destroyed now (not after the OS gives up) and reconnecting starts.
   *
   * @example
   * if ((await ask(client)) === "silent") conn.dropSilent(client, 5_000);
   */
  dropSilent(client: Client, waitedMs: number): void {
    if (this.client !== client) return;
    this.dropReasons.set(client, { detail: `no answer in ${Math.round(waitedMs / 1000)} s`, silentMs: waitedMs });
    this.sockets.get(client)?.destroy();
  }

  /**
   * Ends the connection: a polite disconnect, then, after at most `boundMs`, the socket is
   * destroyed whether or not the peer answered. Never waits longer than `boundMs`.
   *
   * @example
   * await conn.close(250);
   */
  async close(boundMs: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    const client = this.client;
    this.client = null;
    if (client) {
      const sock = this.sockets.get(client);
      try {
        client.end();
      } catch {
        // already gone
      }
      if (sock && !sock.destroyed) {
        const closed = new Promise<void>((resolve) => sock.once("close", () => resolve()));
        await withDeadline(boundMs, this.o.clock, () => closed).catch(() => undefined);
      }
    }
    // A silent peer never acknowledges the disconnect: nothing may keep the process alive.
    for (const sock of this.sockets.values()) sock.destroy();
    this.sockets.clear();
    this.o.log?.info({ host: this.o.name }, "ssh closed");
  }

  private get clock(): Clock {
    return this.o.clock;
  }

  get address(): string {
    return `${this.o.target.host}:${this.o.target.port}`;
  }

  /** The wait before the next attempt: none after a success or a drop, then the backoff. */
  private delay(): number {
    return this.failures === 0 ? 0 : this.o.backoff.delay(this.failures);
  }

  private attempt(): void {
    this.attempts++;
    this.lastAttemptAt = this.clock.now();
    this.o.log?.debug({ host: this.o.name, address: this.address, attempt: this.attempts }, "ssh connecting");
    const p = this.open().then(
      (client) => this.opened(client),
      (err: unknown) => this.failed(err),
    );
    this.connecting = p;
    p.then(
      () => (this.connecting = null),
      () => (this.connecting = null),
    );
  }

  private opened(client: Client): Client {
    const wasDown = this.downSince;
    this.failures = 0;
    this.lastError = null;
    this.silent = false;
    this.downSince = null;
    this.connects++;
    if (this.closed) {
      this.sockets.get(client)?.destroy();
      throw new JagaError("ssh.closed", { host: this.o.name });
    }
    this.client = client;
    client.on("close", () => this.dropped(client));
    if (wasDown === null) this.o.log?.info({ host: this.o.name, address: this.address }, "ssh connected");
    else {
      const fields = { host: this.o.name, address: this.address, downMs: this.clock.now() - wasDown, attempts: this.attempts - this.attemptsAtDown };
      this.o.log?.info(fields, "ssh reconnected");
    }
    return client;
  }

  private failed(err: unknown): never {
    const e = err instanceof JagaError ? err : connectError(err, this.attemptInfo());
    const changed = this.lastError?.code !== e.code;
    this.failures++;
    this.lastError = e;
    this.silent = e.code === "ssh.timeout";
    if (this.downSince === null) {
      this.downSince = this.clock.now();
      this.attemptsAtDown = this.attempts - 1;
    }
    if (!this.closed) {
      // Once per transition: the first failure, or a different reason; the retries themselves go to debug.
      const fields = { host: this.o.name, address: this.address, code: e.code, detail: e.detail, failures: this.failures, retryInMs: this.delay() };
      if (changed) this.o.log?.warn(fields, "ssh connect failed");
      else this.o.log?.debug(fields, "ssh connect failed again");
      this.reconnectInBackground();
    }
    throw e;
  }

  private dropped(client: Client): void {
    this.sockets.delete(client);
    const reason: DropReason = this.dropReasons.get(client) ?? { detail: "closed" };
    this.dropReasons.delete(client);
    if (this.client !== client) return;
    this.client = null;
    if (this.closed) return;
    this.o.log?.warn({ host: this.o.name, address: this.address, reason: reason.detail }, "ssh connection dropped");
    this.downSince = this.clock.now();
    this.attemptsAtDown = this.attempts;
    // A drop is news, not a failure streak: the first attempt goes out at once. A peer that
    // closed the link is probably restarting, so callers wait for that attempt; a silent one
    // is known down until it answers again.
    this.failures = 0;
    this.silent = reason.silentMs !== undefined;
    this.lastError =
      reason.silentMs !== undefined
        ? new JagaError("ssh.timeout", { host: this.o.name, address: this.address, seconds: Math.round(reason.silentMs / 1000) }, reason.detail)
        : null;
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
          const wait = this.lastAttemptAt + this.delay() - this.clock.now();
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

  private attemptInfo(): ConnectAttempt {
    return {
      host: this.o.name,
      address: this.address,
      user: this.o.target.user,
      timeoutMs: this.o.connectTimeoutMs,
      expected: this.o.target.hostKey,
    };
  }

  /** TCP connect, handshake, host key check and login, all within `connectTimeoutMs`. */
  private async open(): Promise<Client> {
    const a = this.attemptInfo();
    const auth = await loadCredentials(this.o.name, this.o.target, this.o.env);
    let sock: Socket | undefined;
    let client: Client | undefined;
    try {
      return await withDeadline(
        this.o.connectTimeoutMs,
        this.clock,
        async (signal) => {
          sock = await openSocket(this.o.target.host, this.o.target.port, signal, this.o.lookup);
          client = new ssh2.Client();
          await handshake(client, signal, {
            sock,
            username: this.o.target.user,
            ...auth,
            // Our deadline covers this; ssh2's own is only the backstop for a clock that never moves.
            readyTimeout: this.o.connectTimeoutMs,
            keepaliveInterval: this.o.keepaliveIntervalMs,
            keepaliveCountMax: this.o.keepaliveCountMax,
            // Called with the raw key blob before any login is sent: refuse anything not pinned.
            hostVerifier: (key: Buffer) => {
              a.actual = fingerprint(key);
              const ok = !!a.expected && sameFingerprint(a.expected, a.actual);
              a.hostKeyRefused = !ok;
              return ok;
            },
          });
          this.sockets.set(client, sock);
          this.watch(client);
          return client;
        },
        { signal: this.closing.signal, what: "ssh connect" },
      );
    } catch (err) {
      sock?.destroy();
      if (client) this.sockets.delete(client);
      throw connectError(err, a);
    }
  }

  /** After login: errors are logged once and only remembered; the 'close' that follows is what counts. */
  private watch(client: Client): void {
    client.on("error", (err: Error & { level?: string }) => {
      const reason: DropReason = /keepalive/i.test(err.message)
        ? { detail: `no answer to ${this.o.keepaliveCountMax + 1} pings`, silentMs: this.o.keepaliveIntervalMs * (this.o.keepaliveCountMax + 1) }
        : { detail: (err as NodeJS.ErrnoException).code ?? err.message.slice(0, 80) };
      if (!this.dropReasons.has(client)) this.dropReasons.set(client, reason);
      this.o.log?.debug({ host: this.o.name, detail: err.message }, "ssh connection error");
    });
  }
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

/** A TCP connection with its own resolver, so errors keep their errno; `signal` ends the try. */
function openSocket(host: string, port: number, signal: AbortSignal, lookup?: LookupFunction): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host, port, noDelay: true, ...(lookup ? { lookup } : {}) });
    const onAbort = () => {
      sock.destroy();
      reject(signal.reason as Error);
    };
    const onError = (err: Error) => {
      signal.removeEventListener("abort", onAbort);
      reject(err);
    };
    sock.once("connect", () => {
      signal.removeEventListener("abort", onAbort);
      sock.removeListener("error", onError);
      resolve(sock);
    });
    sock.once("error", onError);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** ssh2's connect as a promise: resolves on 'ready', rejects on the first error or on `signal`. */
function handshake(client: Client, signal: AbortSignal, config: ConnectConfig): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      cleanup();
      reject(Object.assign(new Error("connection closed during handshake"), { code: "ECONNRESET" }));
    };
    const onAbort = () => {
      cleanup();
      reject(signal.reason as Error);
    };
    const cleanup = () => {
      client.removeListener("error", onError);
      client.removeListener("close", onClose);
      signal.removeEventListener("abort", onAbort);
      // A late error must not crash Jaga: keep one listener until watch() adds its own.
      client.on("error", () => undefined);
    };
    client.once("ready", () => {
      cleanup();
      resolve();
    });
    client.once("error", onError);
    client.once("close", onClose);
    signal.addEventListener("abort", onAbort, { once: true });
    client.connect(config);
  });
}
