/**
 * Asks the PM2 daemon directly, over its `rpc.sock` (axon req/rep, AMP framing), instead of
 * starting the pm2 CLI. `pm2 jlist` is a Node process — about 0.2–0.3 s of CPU on a set-top box
 * for every /status, every digest, and the watcher's list every 2 s; the socket costs the
 * daemon's answer and nothing else, locally or through an SSH streamlocal channel. There is no
 * leaner call than `getMonitorData`: every list the daemon exposes carries each app's whole
 * `pm2_env` (its environment too, dropped at the parse), a few KB per app. Only reads go this way;
 * actions (restart, flush) stay on the CLI, whose behaviour admins know.
 *
 * A missing or refusing socket means no daemon runs in that PM2_HOME — and unlike the CLI,
 * asking never starts an empty one.
 *
 * @example
 * const list = await pm2Rpc(executor, "/root/.pm2", "getMonitorData", [{}], { timeoutMs: 10_000 });
 */
import type { Duplex } from "node:stream";
import { noAnswer } from "../hosts/deadline.js";
import type { ExecOptions, Executor } from "../hosts/executor.js";
import { AmpDecoder, ampEncode } from "../watch/pm2-bus.js";

export class Pm2DaemonAbsent extends Error {
  constructor(detail: string) {
    super(`no PM2 daemon: ${detail}`);
    this.name = "Pm2DaemonAbsent";
  }
}

let seq = 0;

/**
 * One call to the daemon. `options.timeoutMs` (default 15 s) bounds the whole call, opening the
 * socket included: over SSH a frozen host may never answer the channel open, and locally a
 * stopped daemon may accept and never reply. Past it the call fails with `host.no_answer`;
 * an abort ends it at once with the signal's reason. The socket is destroyed either way.
 *
 * @example
 * await pm2Rpc(executor, home, "getMonitorData", [{}], { timeoutMs: 8_000, signal, host: "stb" });
 */
export function pm2Rpc(
  executor: Executor,
  pm2Home: string,
  method: string,
  args: unknown[],
  options: ExecOptions & { host?: string } = {},
): Promise<unknown> {
  if (!executor.openUnixSocket) return Promise.reject(new Error("this executor cannot open Unix sockets"));
  const signal = options.signal;
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  const opening = executor.openUnixSocket(`${pm2Home}/rpc.sock`);
  const id = `jaga-${process.pid}:${++seq}`;
  const timeoutMs = options.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const decoder = new AmpDecoder();
    let socket: Duplex | null = null;
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (socket) drop(socket);
      fn();
    };
    const onAbort = () => finish(() => reject(signal?.reason as Error));
    const timer = setTimeout(() => finish(() => reject(noAnswer(options.host ?? "?", timeoutMs))), timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });

    opening.then(
      (opened) => {
        // Opened after the deadline or the abort: nobody waits for it any more.
        if (settled) return drop(opened);
        socket = opened;
        opened.on("data", (chunk: Buffer) => {
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
        opened.once("error", (err) => finish(() => reject(err)));
        opened.once("close", () => finish(() => reject(new Error(`pm2 ${method}: connection closed before the answer`))));
        opened.write(ampEncode([{ type: "call", method, args }, id]));
      },
      (err: unknown) => finish(() => reject(openError(err))),
    );
  });
}

/** Locally ENOENT/ECONNREFUSED; over SSH sshd answers "connect failed" when nothing listens
 * there (a server that forbids streamlocal says "administratively prohibited": not absent). */
function openError(err: unknown): Error {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === "ENOENT" || code === "ECONNREFUSED" || /connect failed/i.test(message)) return new Pm2DaemonAbsent(message);
  return err instanceof Error ? err : new Error(message);
}

function drop(socket: Duplex): void {
  socket.removeAllListeners("data");
  socket.on("error", () => undefined);
  socket.destroy();
}
