/**
 * One command on one open SSH connection: argv in (quoted once, by quote.ts), exit code and
 * capped stdout/stderr out. When `stop` fires (the command's deadline, its abort signal, or
 * close()), the answer comes within {@link RESULT_GRACE_MS} whatever the host does, marked
 * `timedOut`; ending the remote process group goes on in the background (TERM, then KILL).
 * A host that does not even answer the kill's channel request is reported silent.
 *
 * @example
 * const r = await execOn(client, ["pm2", "jlist"], { cap: 8 << 20, stop: deadline.signal, started: clock.now() }, env);
 */
import type { Client, ClientChannel } from "ssh2";
import type { Clock } from "../../clock.js";
import { JagaError } from "../../errors.js";
import { CappedBuffer, type ExecResult } from "../executor.js";
import { shellQuote } from "../quote.js";
import { signalRemote } from "./remote-kill.js";

/** After `stop`, how long the answer waits for the channel to close (and its last output). */
export const RESULT_GRACE_MS = 1_000;
/** Output a login script prints before our marker is dropped, but only up to this much. */
const MAX_PREAMBLE = 64 * 1024;
const PID_MARKER = "__jaga_pid ";

/**
 * The remote command line for argv: print the shell's pid (the process group id, see
 * remote-kill.ts), pin the locale so parsers see C output, then `exec` the quoted argv so the
 * command keeps that pid. A missing command makes the shell answer 127, like the local executor.
 *
 * @example
 * remoteCommand(["pm2", "jlist"]); // "echo __jaga_pid $$; LC_ALL=C; … exec 'pm2' 'jlist'"
 */
export function remoteCommand(argv: readonly string[]): string {
  return `echo ${PID_MARKER.trim()} $$; LC_ALL=C; LANG=C; export LC_ALL LANG; exec ${shellQuote(argv)}`;
}

/** What a command run needs from the executor around it. */
export interface ExecEnv {
  host: string;
  address: string;
  clock: Clock;
  /** How long the link may take to answer the kill's channel request. */
  answerMs: number;
  /** Between TERM and KILL (shorter while closing). */
  killGraceMs(): number;
  /** The link left a request unanswered for `answerMs`: it is dead. */
  onSilent(): void;
  /** Background work (the kill escalation) that close() may wait for. */
  track(work: Promise<unknown>): void;
}

export interface ExecRequest {
  argv: readonly string[];
  /** Bytes kept per stream. */
  cap: number;
  /** Ends the command: deadline, caller's abort, or close(). */
  stop: AbortSignal;
  /** When the caller started waiting (the duration counts queue and connect time too). */
  started: number;
}

/**
 * Runs one command on an open connection and collects its result; rejects with `ssh.lost`
 * when the connection goes away under a command that was not being stopped.
 *
 * @example
 * await execOn(client, { argv: ["uptime"], cap: 65_536, stop, started: clock.now() }, env);
 */
export function execOn(client: Client, req: ExecRequest, env: ExecEnv): Promise<ExecResult> {
  const { clock, host, address } = env;
  return new Promise((resolve, reject) => {
    const out = new CappedBuffer(req.cap);
    const errBuf = new CappedBuffer(req.cap);
    let channel: ClientChannel | null = null;
    let preamble: Buffer | null = Buffer.alloc(0);
    let pid: number | null = null;
    let code: number | null = null;
    let exited = false;
    let timedOut = false;
    let done = false;
    /** endRemote has finished: a channel opening only now is ended on arrival. */
    let abandoned = false;
    /** Aborted when the channel has closed. */
    const closed = new AbortController();
    const settled = new AbortController();

    const result = (): ExecResult => {
      if (preamble !== null && preamble.length) {
        out.push(preamble);
        preamble = null;
      }
      return {
        code: timedOut ? null : code,
        stdout: out.toString(),
        stderr: errBuf.toString(),
        truncated: out.truncated || errBuf.truncated,
        timedOut,
        durationMs: clock.now() - req.started,
      };
    };
    const settle = (value: ExecResult | JagaError) => {
      if (done) return;
      done = true;
      settled.abort();
      req.stop.removeEventListener("abort", onStop);
      if (value instanceof JagaError) reject(value);
      else resolve(value);
    };
    const lost = (detail: string) => new JagaError("ssh.lost", { host, address, detail });

    const onClose = () => {
      closed.abort();
      // No exit status and not ended by us: the connection went away under the command.
      settle(!exited && !timedOut ? lost("closed") : result());
    };

    const onStop = () => {
      if (done || timedOut) return;
      timedOut = true;
      env.track(endRemote());
      // The answer is due now; the last output gets a moment to arrive, a silent host does not.
      void clock.sleep(RESULT_GRACE_MS, settled.signal).then(
        () => settle(result()),
        () => undefined,
      );
    };

    /** TERM the remote process group, KILL it after a grace period, then drop the channel. */
    const endRemote = async (): Promise<void> => {
      const gone = () =>
        clock.sleep(env.killGraceMs(), closed.signal).then(
          () => false,
          () => true,
        );
      try {
        for (const sig of ["TERM", "KILL"] as const) {
          const answer = await signalRemote(client, { pid, channel }, sig, env.answerMs, clock);
          if (answer === "silent") return env.onSilent();
          if (answer === "gone" || (await gone())) return;
        }
        closeChannel(channel);
      } finally {
        abandoned = true;
      }
    };

    const wire = (ch: ClientChannel) => {
      channel = ch;
      ch.on("data", (chunk: Buffer) => {
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
      ch.stderr.on("data", (chunk: Buffer) => errBuf.push(chunk));
      ch.on("exit", (c: number | null) => {
        exited = true;
        code = typeof c === "number" ? c : null;
      });
      ch.on("close", onClose);
    };

    req.stop.addEventListener("abort", onStop, { once: true });
    try {
      client.exec(remoteCommand(req.argv), (err, ch) => {
        if (err) {
          closed.abort();
          const gone = /no response|not connected/i.test(err.message);
          if (!timedOut) settle(gone ? lost("closed") : new JagaError("ssh.failed", { host, address, detail: err.message.slice(0, 120) }, err.message));
          return;
        }
        wire(ch);
        // Opened after everything was given up: end it at once (the session's own process).
        if (abandoned) {
          try {
            ch.signal("KILL");
          } catch {
            // already closed
          }
          closeChannel(ch);
        }
      });
    } catch {
      // The socket stopped being writable between get() and here.
      settle(lost("closed"));
      return;
    }
    if (req.stop.aborted) onStop();
  });
}

function closeChannel(channel: ClientChannel | null): void {
  try {
    channel?.close();
  } catch {
    // already closed
  }
}
