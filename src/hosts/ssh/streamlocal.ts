/**
 * A byte stream to a Unix socket on the host over the pooled connection (OpenSSH's
 * `direct-streamlocal@openssh.com`): the watcher hears PM2's event bus this way without starting
 * a process there. The channel request has a deadline like everything else, so a frozen host
 * cannot hold the caller; a stream that arrives after it is destroyed.
 *
 * @example
 * const bus = await openStreamLocal(client, "/root/.pm2/pub.sock", 5_000, clock);
 */
import type { Duplex } from "node:stream";
import type { Client } from "ssh2";
import type { Clock } from "../../clock.js";
import { withDeadline } from "../../policy/timeout.js";

/**
 * Opens the stream, or rejects (the server's refusal, or a DeadlineError after `answerMs`).
 *
 * @example
 * await openStreamLocal(client, "/home/app/.pm2/pub.sock", 5_000, clock).catch(() => null);
 */
export function openStreamLocal(client: Client, path: string, answerMs: number, clock: Clock): Promise<Duplex> {
  return withDeadline(
    answerMs,
    clock,
    (signal) =>
      new Promise<Duplex>((resolve, reject) => {
        client.openssh_forwardOutStreamLocal(path, (err, stream) => {
          if (err) return reject(err);
          if (signal.aborted) stream.destroy();
          resolve(stream);
        });
      }),
    { what: "unix socket channel" },
  );
}
