/**
 * Asks the PM2 daemon directly, over its `rpc.sock` (axon req/rep, AMP framing), instead of
 * starting the pm2 CLI. `pm2 jlist` is a Node process — about 0.2–0.3 s of CPU on a set-top box
 * for every /status, every watcher reconcile, every digest; the socket costs the daemon's answer
 * and nothing else, locally or through an SSH streamlocal channel. Only reads go this way;
 * actions (restart, flush) stay on the CLI, whose behaviour admins know.
 *
 * A missing or refusing socket means no daemon runs in that PM2_HOME — and unlike the CLI,
 * asking never starts an empty one.
 *
 * @example
 * const list = await pm2Rpc(executor, "/root/.pm2", "getMonitorData", [{}], { timeoutMs: 10_000 });
 */
import { JagaError } from "../errors.js";
import type { ExecOptions, Executor } from "../hosts/executor.js";
import { AmpDecoder, ampEncode } from "../watch/pm2-bus.js";

export class Pm2DaemonAbsent extends Error {
  constructor(detail: string) {
    super(`no PM2 daemon: ${detail}`);
    this.name = "Pm2DaemonAbsent";
  }
}

let seq = 0;

export async function pm2Rpc(
  executor: Executor,
  pm2Home: string,
  method: string,
  args: unknown[],
  options: ExecOptions & { host?: string } = {},
): Promise<unknown> {
  if (!executor.openUnixSocket) throw new Error("this executor cannot open Unix sockets");
  let socket;
  try {
    socket = await executor.openUnixSocket(`${pm2Home}/rpc.sock`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message = err instanceof Error ? err.message : String(err);
    // Locally ENOENT/ECONNREFUSED; over SSH sshd answers "connect failed" when nothing listens
    // there (a server that forbids streamlocal says "administratively prohibited": not absent).
    if (code === "ENOENT" || code === "ECONNREFUSED" || /connect failed/i.test(message)) {
      throw new Pm2DaemonAbsent(message);
    }
    throw err;
  }
  const id = `jaga-${process.pid}:${++seq}`;
  const timeoutMs = options.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const decoder = new AmpDecoder();
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      socket.removeAllListeners("data");
      socket.on("error", () => undefined);
      socket.destroy();
      fn();
    };
    const onAbort = () => finish(() => reject(options.signal?.reason as Error));
    const timer = setTimeout(
      () => finish(() => reject(new JagaError("pm2.failed", { host: options.host ?? "?", detail: "timeout" }, `rpc ${method} timed out`))),
      timeoutMs,
    );
    options.signal?.addEventListener("abort", onAbort, { once: true });
    socket.on("data", (chunk: Buffer) => {
      try {
        for (const msg of decoder.push(chunk)) {
          if (msg.at(-1) !== id) continue;
          const reply = msg[0] as { error?: string; args?: unknown[] } | null;
          if (reply?.error) finish(() => reject(new Error(`pm2 ${method}: ${reply.error}`)));
          else finish(() => resolve(reply?.args?.[0]));
        }
      } catch (err) {
        finish(() => reject(err instanceof Error ? err : new Error(String(err))));
      }
    });
    socket.once("error", (err) => finish(() => reject(err)));
    socket.once("close", () => finish(() => reject(new Error(`pm2 ${method}: connection closed before the answer`))));
    socket.write(ampEncode([{ type: "call", method, args }, id]));
  });
}
