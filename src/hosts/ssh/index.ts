/**
 * Runs argv on a remote host over SSH (ssh2), with the same contract as the local executor:
 * argv in; exit code, capped stdout/stderr out; a timeout or abort ends the remote process group,
 * not just the local wait. The parts, one job each:
 *
 * - connection.ts: one persistent connection per host (a fresh handshake costs more than most
 *   commands Jaga runs), host key pinning, keepalive, reconnect on the shared backoff, logging;
 * - exec.ts: one command on that connection, with its output caps and its deadline;
 * - remote-kill.ts: ending the remote process group over the same connection;
 * - streamlocal.ts: a stream to a Unix socket on the host (PM2's event bus);
 * - slots.ts: at most `maxConcurrent` commands at once per host.
 *
 * Deadlines hold whatever the host does. A command's `timeoutMs` covers its whole wait (queue,
 * connect, channel open, run): at the deadline it answers `timedOut` within about a second, even
 * when the host froze and answers nothing. A frozen host is declared down when it leaves the
 * kill unanswered (`answerTimeoutMs`) or its keepalive pings (`keepaliveIntervalMs ×
 * (keepaliveCountMax + 1)`); from then on commands get `ssh.timeout` at once, like a refused host
 * gets `ssh.refused`. `close()` resolves within `closeTimeoutMs`.
 *
 * @example
 * const ssh = new SshExecutor({ name: "stb", target: { host: "10.0.0.7", port: 22, user: "root",
 *   privateKeyPath: "~/.ssh/id_ed25519", agent: false, hostKey: "SHA256:…" }, log });
 * const r = await ssh.run(["pm2", "jlist"], { timeoutMs: 10_000 });
 * await ssh.close();
 */
import type { Duplex } from "node:stream";
import type { Client } from "ssh2";
import { systemClock, type Clock } from "../../clock.js";
import { JagaError } from "../../errors.js";
import { exponentialBackoff } from "../../policy/backoff.js";
import { deadline } from "../../policy/timeout.js";
import { assertArgv, DEFAULT_MAX_OUTPUT, DEFAULT_TIMEOUT_MS, type ExecOptions, type ExecResult, type Executor } from "../executor.js";
import { SshConnection } from "./connection.js";
import { execOn, type ExecEnv } from "./exec.js";
import { Slots } from "./slots.js";
import { openStreamLocal } from "./streamlocal.js";
import { SSH_DEFAULTS, type SshExecutorOptions, type SshState } from "./target.js";

export { passphraseVars } from "./credentials.js";
export { remoteCommand } from "./exec.js";
export { SSH_DEFAULTS, type SshExecutorOptions, type SshState, type SshTarget } from "./target.js";

/** Between TERM and KILL: normally, and while closing (close() has little time). */
const KILL_GRACE_MS = 2_000;
const CLOSING_KILL_GRACE_MS = 300;

export class SshExecutor implements Executor {
  readonly kind = "ssh" as const;
  readonly name: string;
  private readonly clock: Clock;
  private readonly connection: SshConnection;
  private readonly slots: Slots;
  private readonly answerMs: number;
  private readonly closeTimeoutMs: number;
  private closed = false;
  private closedDone: Promise<void> | null = null;
  private readonly closing = new AbortController();
  /** Commands in flight and kill escalations still going; close() waits for them, briefly. */
  private readonly running = new Set<Promise<unknown>>();
  /** The stop controllers of commands in flight. */
  private readonly stops = new Set<AbortController>();

  constructor(options: SshExecutorOptions) {
    this.name = options.name;
    this.clock = options.clock ?? systemClock;
    const d = SSH_DEFAULTS;
    const backoff = options.backoff ?? d.backoff;
    this.answerMs = options.answerTimeoutMs ?? d.answerTimeoutMs;
    this.closeTimeoutMs = options.closeTimeoutMs ?? d.closeTimeoutMs;
    this.slots = new Slots(options.maxConcurrent ?? d.maxConcurrent);
    this.connection = new SshConnection({
      name: options.name,
      target: options.target,
      clock: this.clock,
      env: options.env ?? process.env,
      ...(options.log ? { log: options.log } : {}),
      ...(options.lookup ? { lookup: options.lookup } : {}),
      connectTimeoutMs: options.connectTimeoutMs ?? d.connectTimeoutMs,
      keepaliveIntervalMs: options.keepaliveIntervalMs ?? d.keepaliveIntervalMs,
      keepaliveCountMax: options.keepaliveCountMax ?? d.keepaliveCountMax,
      // No jitter: each host is a different server, so there is no herd to spread out.
      backoff: exponentialBackoff({ baseMs: backoff.initialMs, capMs: backoff.maxMs }),
    });
  }

  /** Where the connection stands, for `jaga hosts check` and tests. */
  get state(): SshState {
    return this.closed ? "closed" : this.connection.state;
  }

  /** The reason of the last failure, while the host is down. */
  get lastFailure(): JagaError | null {
    return this.connection.lastFailure;
  }

  /** Connections established. */
  get connects(): number {
    return this.connection.connects;
  }

  /** Connect attempts made. */
  get attempts(): number {
    return this.connection.attempts;
  }

  /**
   * Connects now (if not connected) and resolves once a command could run; throws the
   * JagaError that says why not. Used by `jaga hosts check` and to warm the pool.
   *
   * @example
   * await ssh.connect(); // or catch (err) → err.code === "ssh.hostkey_mismatch"
   */
  async connect(signal?: AbortSignal): Promise<void> {
    await this.connection.get(signal ? AbortSignal.any([signal, this.closing.signal]) : this.closing.signal);
  }

  async run(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    assertArgv(argv);
    if (this.closed) throw new JagaError("ssh.closed", { host: this.name });
    const started = this.clock.now();
    // The deadline covers the whole wait: a queued or connecting command counts its time too.
    const due = deadline(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, this.clock, { signal: options.signal, what: "ssh command" });
    // Its own controller rather than AbortSignal.any with the long-lived closing signal: close()
    // aborts the ones in flight, and nothing stays attached to it once a command is over.
    const stopper = new AbortController();
    const stop = stopper.signal;
    const onDue = () => stopper.abort(due.signal.reason);
    due.signal.addEventListener("abort", onDue, { once: true });
    this.stops.add(stopper);
    const work = (async (): Promise<ExecResult> => {
      const release = await this.slots.acquire(stop);
      if (!release) return ended(started, this.clock);
      try {
        let client: Client;
        try {
          client = await this.connection.get(stop);
        } catch (err) {
          if (stop.aborted && !(err instanceof JagaError)) return ended(started, this.clock);
          throw err;
        }
        return await execOn(client, { argv, cap: options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT, stop, started }, this.execEnv(client));
      } finally {
        release();
      }
    })();
    this.track(work);
    try {
      return await work;
    } finally {
      this.stops.delete(stopper);
      due.signal.removeEventListener("abort", onDue);
      due.clear();
    }
  }

  /**
   * A stream to a Unix socket on the host over the pooled connection; see streamlocal.ts.
   * Long-lived, so it takes no command slot.
   *
   * @example
   * const bus = await ssh.openUnixSocket("/root/.pm2/pub.sock");
   */
  async openUnixSocket(path: string): Promise<Duplex> {
    const client = await this.connection.get(this.closing.signal);
    return openStreamLocal(client, path, this.answerMs, this.clock);
  }

  /**
   * Ends in-flight commands (their remote process groups too, while the link answers) and the
   * connection; resolves within `closeTimeoutMs` whatever the peer does.
   *
   * @example
   * await ssh.close();
   */
  close(): Promise<void> {
    this.closedDone ??= this.shutdown();
    return this.closedDone;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    const reason = new JagaError("ssh.closed", { host: this.name });
    this.closing.abort(reason);
    for (const stopper of this.stops) stopper.abort(reason);
    const started = this.clock.now();
    // Aborted commands answer within a second and send TERM (then KILL) first; give them that,
    // but keep part of the budget for the disconnect.
    const forCommands = Math.round(this.closeTimeoutMs * 0.8);
    const wait = new AbortController();
    await Promise.race([Promise.allSettled([...this.running]), this.clock.sleep(forCommands, wait.signal).catch(() => undefined)]);
    wait.abort();
    await this.connection.close(Math.max(0, this.closeTimeoutMs - (this.clock.now() - started)));
  }

  private track(work: Promise<unknown>): void {
    this.running.add(work);
    const forget = () => this.running.delete(work);
    work.then(forget, forget);
  }

  private execEnv(client: Client): ExecEnv {
    return {
      host: this.name,
      address: this.connection.address,
      clock: this.clock,
      answerMs: this.answerMs,
      killGraceMs: () => (this.closed ? CLOSING_KILL_GRACE_MS : KILL_GRACE_MS),
      onSilent: () => this.connection.dropSilent(client, this.answerMs),
      track: (p: Promise<unknown>) => this.track(p),
    };
  }
}

/** The result of a command ended before it started (timed out in the queue or while connecting). */
function ended(started: number, clock: Clock): ExecResult {
  return { code: null, stdout: "", stderr: "", truncated: false, timedOut: true, durationMs: clock.now() - started };
}
