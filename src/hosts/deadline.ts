/**
 * Deadlines for host calls. A fleet-wide command asks every host at once; each call gets its own
 * deadline inside the command's, so one silent host (TCP open, nothing answering) costs its own
 * line — "no answer in 8 s" — and never the whole reply.
 *
 * The race here does not trust the executor to give up in time: a frozen SSH connection may
 * never call back. At the deadline the call is aborted (its remote process ended when the
 * executor can) and the caller gets `host.no_answer` at once; a late result is dropped.
 *
 * @example
 * const ms = hostDeadline({ hostTimeoutMs: 8_000, deadline: ctx.deadline, now: clock.now() });
 * const list = await withDeadline("stb", { timeoutMs: ms, signal }, clock, (o) => pm2.list(o));
 */
import type { Clock } from "../clock.js";
import { JagaError } from "../errors.js";
import { withDeadline as deadlineOf } from "../policy/timeout.js";
import { DEFAULT_TIMEOUT_MS, type ExecOptions } from "./executor.js";

/** Kept back from the command's time for composing and sending the reply. */
export const REPLY_MARGIN_MS = 1_000;

/**
 * How long one host call may take: the configured host deadline, but never past what is left
 * of the command's time minus the reply margin. With little time left, half of it (so a command
 * with a short timeout still asks rather than failing at once); with none, 0.
 *
 * @example
 * hostDeadline({ hostTimeoutMs: 8_000, deadline: 30_000, now: 0 });      // 8000
 * hostDeadline({ hostTimeoutMs: 8_000, deadline: 30_000, now: 25_000 }); // 4000
 * hostDeadline({ hostTimeoutMs: 8_000, deadline: 30_000, now: 29_500 }); // 250
 */
export function hostDeadline(o: { hostTimeoutMs: number; deadline: number; now: number; marginMs?: number }): number {
  const left = o.deadline - o.now;
  if (left <= 0) return 0;
  const usable = Math.max(left - (o.marginMs ?? REPLY_MARGIN_MS), left / 2);
  return Math.floor(Math.min(o.hostTimeoutMs, usable));
}

/**
 * Seconds as people read them: whole seconds from 10 s up, one decimal below.
 *
 * @example
 * deadlineSeconds(8_000); // 8
 * deadlineSeconds(1_500); // 1.5
 */
export function deadlineSeconds(ms: number): number {
  return ms >= 10_000 ? Math.round(ms / 1000) : Math.round(ms / 100) / 10;
}

/**
 * The error a host call ends with when its deadline passes.
 *
 * @example
 * noAnswer("stb", 8_000).params; // { host: "stb", seconds: 8 }
 */
export function noAnswer(host: string, ms: number): JagaError {
  return new JagaError("host.no_answer", { host, seconds: deadlineSeconds(ms) }, `no answer within ${ms} ms`);
}

/** True for the error {@link withDeadline} ends a silent call with. */
export function isNoAnswer(err: unknown): err is JagaError {
  return err instanceof JagaError && err.code === "host.no_answer";
}

/**
 * Runs `call` with `options.timeoutMs` as a hard deadline on the injected clock. The call gets
 * the same `timeoutMs` and a signal that aborts at the deadline or when `options.signal` does.
 * Resolves or rejects as the call does, but never later than the deadline: then it rejects with
 * `host.no_answer` (or with the outer signal's reason when that aborted first).
 *
 * @example
 * await withDeadline("stb", { timeoutMs: 2_000 }, clock, (o) => readVitals(executor, paths, o));
 */
export function withDeadline<T>(host: string, options: ExecOptions, clock: Clock, call: (options: ExecOptions) => Promise<T>): Promise<T> {
  const ms = Math.max(0, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  // The shared policy (src/policy/timeout.ts), with this layer's error: `host.no_answer`.
  return deadlineOf(ms, clock, (signal) => call({ ...options, timeoutMs: ms, signal }), { signal: options.signal, error: noAnswer(host, ms) });
}
