/**
 * Runs argv on this machine with child_process and no shell. The child gets a scrubbed
 * environment (PATH, HOME, locale) so Jaga's own secrets never reach it, and its own process
 * group so a timeout ends everything it started, not just the first process.
 */
import { spawn } from "node:child_process";
import { connect } from "node:net";
import type { Duplex } from "node:stream";
import {
  assertArgv,
  CappedBuffer,
  DEFAULT_MAX_OUTPUT,
  DEFAULT_TIMEOUT_MS,
  type ExecOptions,
  type ExecResult,
  type Executor,
} from "./executor.js";

const PASSED_ENV = ["PATH", "HOME", "USER", "LOGNAME", "TZ"] as const;
const KILL_GRACE_MS = 2_000;

export class LocalExecutor implements Executor {
  readonly kind = "local" as const;
  private readonly running = new Set<() => void>();

  async run(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    assertArgv(argv);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const cap = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
    const env: NodeJS.ProcessEnv = { LC_ALL: "C", LANG: "C" };
    for (const k of PASSED_ENV) if (process.env[k] !== undefined) env[k] = process.env[k];
    const started = Date.now();

    return new Promise((resolve) => {
      const [cmd, ...args] = argv as [string, ...string[]];
      const child = spawn(cmd, args, { shell: false, detached: true, env, stdio: ["ignore", "pipe", "pipe"] });
      const out = new CappedBuffer(cap);
      const err = new CappedBuffer(cap);
      let timedOut = false;
      let killTimer: NodeJS.Timeout | undefined;

      const end = () => {
        if (timedOut) return;
        timedOut = true;
        killGroup(child.pid, "SIGTERM");
        killTimer = setTimeout(() => killGroup(child.pid, "SIGKILL"), KILL_GRACE_MS);
        killTimer.unref();
      };
      const timer = setTimeout(end, timeoutMs);
      options.signal?.addEventListener("abort", end, { once: true });
      if (options.signal?.aborted) end();
      this.running.add(end);

      child.stdout.on("data", (c: Buffer) => out.push(c));
      child.stderr.on("data", (c: Buffer) => err.push(c));
      let done = false;
      const finish = (code: number | null, stderrExtra = "") => {
        if (done) return; // 'error' and 'close' can both fire for one child
        done = true;
        clearTimeout(timer);
        if (killTimer && !timedOut) clearTimeout(killTimer);
        options.signal?.removeEventListener("abort", end);
        this.running.delete(end);
        // The group may outlive its leader (a child that ignored SIGTERM): make sure it is gone.
        if (timedOut) killGroup(child.pid, "SIGKILL");
        resolve({
          code,
          stdout: out.toString(),
          stderr: err.toString() + stderrExtra,
          truncated: out.truncated || err.truncated,
          timedOut,
          durationMs: Date.now() - started,
        });
      };
      child.on("error", (e: NodeJS.ErrnoException) => {
        // Same answer a shell gives, so callers treat local and SSH hosts alike.
        if (e.code === "ENOENT") finish(127, `${cmd}: command not found\n`);
        else if (e.code === "EACCES") finish(126, `${cmd}: permission denied\n`);
        else finish(null, `${cmd}: ${e.message}\n`);
      });
      child.on("close", (code) => finish(code));
    });
  }

  openUnixSocket(path: string): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(socket);
      });
      socket.once("error", reject);
    });
  }

  close(): Promise<void> {
    for (const end of this.running) end();
    return Promise.resolve();
  }
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}
