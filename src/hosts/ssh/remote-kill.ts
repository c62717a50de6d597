/**
 * Ending a remote command over the connection it runs on. sshd starts each exec session in its
 * own session and process group (OpenSSH calls setsid() before running the user's shell), so the
 * shell's `$$` is the group id; the wrapper in exec.ts prints it and `exec`s the command, which
 * keeps that pid. Ending it is a second channel on the same connection running
 * `kill -TERM -<pid>`, then `-KILL`.
 *
 * That second channel doubles as a probe: a link that cannot open a channel within `answerMs`
 * is silent (a frozen host), and the caller drops it instead of waiting for the OS.
 *
 * @example
 * const answer = await signalRemote(client, { pid: 4242, channel }, "TERM", 5_000, clock);
 * if (answer === "silent") connection.dropSilent(client, 5_000);
 */
import type { Client, ClientChannel } from "ssh2";
import type { Clock } from "../../clock.js";
import { withDeadline } from "../../policy/timeout.js";
import { shellQuote } from "../quote.js";

/** What the link did with a request: accepted it, said nothing in time, or was already gone. */
export type Answer = "answered" | "silent" | "gone";

/**
 * The command line that signals a process group, with the plain pid as the fallback for an
 * sshd that did not setsid(). Quoted by shellQuote like everything else.
 *
 * @example
 * groupKillCommand(4242, "TERM"); // "'kill' '-TERM' '-4242' 2>/dev/null || 'kill' '-TERM' '4242' 2>/dev/null"
 */
export function groupKillCommand(pid: number, sig: "TERM" | "KILL"): string {
  return `${shellQuote(["kill", `-${sig}`, `-${pid}`])} 2>/dev/null || ${shellQuote(["kill", `-${sig}`, String(pid)])} 2>/dev/null`;
}

/**
 * Runs `command` on a new channel and resolves once the server accepted it (not when it ends),
 * or "silent" after `answerMs` without an answer.
 *
 * @example
 * await ask(client, "true", 2_000, clock); // "answered"
 */
export async function ask(client: Client, command: string, answerMs: number, clock: Clock): Promise<Answer> {
  try {
    return await withDeadline(answerMs, clock, (signal) =>
      new Promise<Answer>((resolve) => {
        client.exec(command, (err, ch) => {
          // A refusal (or "No response from server" as the link closes) is still an answer.
          if (err) return resolve(/no response|not connected/i.test(err.message) ? "gone" : "answered");
          if (signal.aborted) ch.close();
          ch.resume();
          ch.stderr.resume();
          resolve("answered");
        });
      }),
    );
  } catch (err) {
    // exec() throws at once when the socket is no longer writable.
    return err instanceof Error && /not connected/i.test(err.message) ? "gone" : "silent";
  }
}

/**
 * Sends `sig` to the remote command: its process group when the pid is known; before that,
 * through sshd's channel `signal` request (which needs no answer), checking the link with a
 * no-op command so silence is still noticed.
 *
 * @example
 * await signalRemote(client, { pid: null, channel }, "KILL", 5_000, clock);
 */
export function signalRemote(
  client: Client,
  target: { pid: number | null; channel: ClientChannel | null },
  sig: "TERM" | "KILL",
  answerMs: number,
  clock: Clock,
): Promise<Answer> {
  if (target.pid !== null) return ask(client, groupKillCommand(target.pid, sig), answerMs, clock);
  try {
    target.channel?.signal(sig);
  } catch {
    // the channel is already gone
  }
  return ask(client, "true", answerMs, clock);
}
