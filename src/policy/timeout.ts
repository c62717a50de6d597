/**
 * Deadlines as values, on the injected {@link Clock}: work gets an AbortSignal that fires when its
 * time is up, and the caller gets its answer at the deadline whether or not the work noticed.
 * This is what keeps a silent peer (a frozen host: TCP open, nothing answering) from holding
 * anyone past the time they were promised.
 *
 * @example
 * const banner = await withDeadline(5_000, clock, (signal) => readBanner(socket, signal));
 * // after 5 s: rejects with DeadlineError, and `signal` is aborted with it
 */
import type { Clock } from "../clock.js";

/** The work did not finish within its deadline. `ms` is the deadline that passed. */
export class DeadlineError extends Error {
  override readonly name = "DeadlineError";
  readonly code = "ETIMEDOUT";
  constructor(readonly ms: number, what = "operation") {
    super(`${what} timed out after ${ms} ms`);
  }
}

/**
 * True for the error {@link withDeadline} rejects with.
 *
 * @example
 * catch (err) { if (isDeadlineError(err)) return "no answer"; throw err; }
 */
export function isDeadlineError(err: unknown): err is DeadlineError {
  return err instanceof DeadlineError;
}

export interface DeadlineOptions {
  /** The caller's own signal: when it fires first, so does the deadline's, with its reason. */
  signal?: AbortSignal;
  /** What is being waited for, for the default error's message. */
  what?: string;
  /** The error to abort and reject with at the deadline. Default: a {@link DeadlineError}. */
  error?: Error;
}

export interface Deadline {
  /** Fires with the deadline's error at the deadline, or with the parent's reason when that fires first. */
  readonly signal: AbortSignal;
  /** True once the deadline itself (not the parent) fired. */
  readonly expired: boolean;
  /** Stops the timer; call it when the work is over. */
  clear(): void;
}

/**
 * A signal that fires `ms` from now (on `clock`), or when `options.signal` fires. Always `clear()` it.
 *
 * @example
 * const d = deadline(30_000, clock, { signal: options.signal, what: "ssh command" });
 * try { await work(d.signal); } finally { d.clear(); }
 */
export function deadline(ms: number, clock: Clock, options: DeadlineOptions = {}): Deadline {
  const parent = options.signal;
  const controller = new AbortController();
  const timer = new AbortController();
  let expired = false;
  const onParent = () => controller.abort(parent?.reason);
  const clear = () => {
    timer.abort();
    parent?.removeEventListener("abort", onParent);
  };
  if (parent?.aborted) onParent();
  else {
    parent?.addEventListener("abort", onParent, { once: true });
    clock.sleep(Math.max(0, ms), timer.signal).then(
      () => {
        expired = !controller.signal.aborted;
        controller.abort(options.error ?? new DeadlineError(ms, options.what));
        clear();
      },
      () => undefined,
    );
  }
  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    clear,
  };
}

/**
 * Runs `fn` with a signal that fires after `ms`; resolves or rejects as `fn` does, but never
 * later than the deadline: then it rejects with a {@link DeadlineError} (or `options.error`), or
 * with `options.signal`'s reason when that fires first, without waiting for `fn` to notice.
 * `fn` should stop what it does when its signal fires.
 *
 * @example
 * const client = await withDeadline(10_000, clock, (signal) => handshake(sock, signal), { what: "ssh connect" });
 */
export async function withDeadline<T>(ms: number, clock: Clock, fn: (signal: AbortSignal) => Promise<T>, options: DeadlineOptions = {}): Promise<T> {
  const d = deadline(ms, clock, options);
  try {
    if (d.signal.aborted) throw d.signal.reason;
    return await new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(d.signal.reason as Error);
      d.signal.addEventListener("abort", onAbort, { once: true });
      let running: Promise<T>;
      try {
        running = fn(d.signal);
      } catch (err) {
        running = Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      running.then(resolve, reject).finally(() => d.signal.removeEventListener("abort", onAbort));
    });
  } finally {
    d.clear();
  }
}
