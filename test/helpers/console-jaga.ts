/**
 * A real `jaga start` on the console transport, for end-to-end tests: the CLI from source
 * (through tsx), stdin to type into, stdout and stderr collected as they come.
 *
 * @example
 * const jaga = startConsoleJaga(dir, { JAGA_DATA_DIR: join(dir, "data") });
 * await jaga.started();
 * jaga.type("/status");
 * await waitFor(() => jaga.stdout.includes("✅ `web`"));
 * jaga.end();              // end of input: Jaga stops
 * assert.equal(await jaga.closed, 0);
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { join } from "node:path";
import { ROOT, TSX, waitFor } from "./pm2.js";

export interface ConsoleJaga {
  readonly child: ChildProcessWithoutNullStreams;
  /** Everything printed so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves with the exit code once the process is gone. */
  readonly closed: Promise<number | null>;
  /** Resolves once Jaga logged "Jaga started" (15 s at most). */
  started(): Promise<void>;
  /** Types one line, as at the terminal. */
  type(line: string): void;
  /** Ends the input (Jaga stops after answering what it has). */
  end(text?: string): void;
}

/** Starts Jaga in `cwd` (its `jaga.yaml`) with the console transport and `env` on top of this process's. */
export function startConsoleJaga(cwd: string, env: Record<string, string> = {}): ConsoleJaga {
  const child = spawn(process.execPath, ["--import", TSX, join(ROOT, "src/cli.ts")], {
    cwd,
    env: { ...process.env, JAGA_TRANSPORT: "console", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const closed = new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    closed,
    started: () => waitFor(() => stderr.includes("Jaga started"), 15_000, `start; stderr:\n${stderr}`),
    type: (line) => void child.stdin.write(`${line}\n`),
    end: (text) => void child.stdin.end(text),
  };
}
