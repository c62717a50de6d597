/**
 * The one way Jaga touches a host: an argv array in; exit code, stdout and stderr out.
 * There is no string form. Local hosts spawn without a shell; SSH hosts quote argv once,
 * in `quote.ts`. Every implementation passes the contract suite in test/executor.contract.ts.
 *
 * @example
 * const r = await executor.run(["pm2", "jlist"], { timeoutMs: 10_000 });
 * if (r.code !== 0) throw new Error(r.stderr);
 */
import type { Duplex } from "node:stream";

export interface ExecOptions {
  /** Ends the process (not only the wait) after this long. Default 30 s. */
  timeoutMs?: number;
  /** Output beyond this many bytes per stream is dropped and `truncated` is set. Default 8 MiB. */
  maxOutputBytes?: number;
  /** Aborting ends the process, like a timeout. */
  signal?: AbortSignal;
}

export interface ExecResult {
  /** Exit code; null when the process was ended by a signal. 127: command not found. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** True when either stream hit `maxOutputBytes`. */
  truncated: boolean;
  /** True when the timeout or the abort signal ended the process. */
  timedOut: boolean;
  durationMs: number;
}

export interface Executor {
  readonly kind: "local" | "ssh";
  run(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /**
   * A byte stream to a Unix socket on the host (locally a plain connect; over SSH the
   * `direct-streamlocal` channel OpenSSH offers). Jaga asks the PM2 daemon this way
   * (`rpc.sock`, ops/pm2-rpc.ts) without starting a single process on the watched host.
   */
  openUnixSocket?(path: string): Promise<Duplex>;
  /** Releases connections; in-flight commands are ended. */
  close(): Promise<void>;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_OUTPUT = 8 * 1024 * 1024;

/** Argv is data, never code: refuse what no exec can carry faithfully. */
export function assertArgv(argv: readonly string[]): void {
  if (argv.length === 0) throw new TypeError("argv is empty");
  for (const arg of argv) {
    if (typeof arg !== "string") throw new TypeError("argv holds a non-string");
    if (arg.includes("\0")) throw new TypeError("argv holds a NUL byte");
  }
}

/** Collects a stream up to a byte cap, counting what it dropped. */
export class CappedBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly cap: number) {}
  push(chunk: Buffer): void {
    const room = this.cap - this.size;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part.length < chunk.length) this.truncated = true;
    this.chunks.push(part);
    this.size += part.length;
  }
  toString(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}
