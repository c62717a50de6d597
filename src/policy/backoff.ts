/**
 * Backoff as a value: how long to wait before retry n, decided in one place for every loop that
 * retries (SSH reconnect, WhatsApp reconnect, PM2 bus, outbox pump, Supabase replay). The value
 * holds no state; the caller counts its own failures and asks `delay(attempt)`.
 *
 * Exponential: retry 1 waits `baseMs`, each further retry twice as long, never more than `capMs`.
 * With `jitter: "full"` the wait is uniformly random in [0, that ceiling), so a fleet that lost a
 * service at the same moment does not come back at the same moment; `"none"` suits one peer that
 * no herd shares (a host's own sshd).
 *
 * @example
 * const backoff = exponentialBackoff({ baseMs: 1_000, capMs: 30_000 });
 * backoff.delay(1); // 1000
 * backoff.delay(4); // 8000
 * backoff.delay(99); // 30000
 */

export interface BackoffOptions {
  /** The wait before retry 1. */
  baseMs: number;
  /** No wait is longer than this. */
  capMs: number;
  /** "full": uniformly random below the exponential ceiling. Default "none". */
  jitter?: "none" | "full";
  /** Source of randomness for jitter (tests pin it). Default Math.random. */
  random?: () => number;
}

export interface Backoff {
  readonly baseMs: number;
  readonly capMs: number;
  readonly jitter: "none" | "full";
  /** Milliseconds to wait before retry `attempt` (1 = the first retry; below 1 counts as 1). */
  delay(attempt: number): number;
}

/** 2^30 × base is far past any cap; stops the exponent from overflowing to Infinity. */
const MAX_EXPONENT = 30;

/**
 * The exponential ceiling before retry `attempt`: min(cap, base × 2^(attempt − 1)).
 *
 * @example
 * ceiling(3, 1_000, 60_000); // 4000
 */
export function ceiling(attempt: number, baseMs: number, capMs: number): number {
  const exp = Math.min(Math.max(0, Math.floor(attempt) - 1), MAX_EXPONENT);
  return Math.min(capMs, baseMs * 2 ** exp);
}

/**
 * Exponential backoff with full jitter: the wait before retry n is uniformly random in
 * [0, min(cap, base × 2^(n−1))).
 *
 * @example
 * fullJitter(1, 2_000, 300_000);          // somewhere in [0, 2 s)
 * fullJitter(9, 2_000, 300_000, () => 1); // just under 5 min, the cap
 */
export function fullJitter(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const r = Math.min(Math.max(random(), 0), 0.999_999);
  return Math.floor(r * ceiling(attempt, baseMs, capMs));
}

/**
 * A backoff policy value; see the module comment.
 *
 * @example
 * const wa = exponentialBackoff({ baseMs: 2_000, capMs: 300_000, jitter: "full" });
 * await clock.sleep(wa.delay(failures), signal);
 */
export function exponentialBackoff(options: BackoffOptions): Backoff {
  const { baseMs, capMs } = options;
  if (!(baseMs >= 0) || !(capMs >= 0)) throw new RangeError("backoff: baseMs and capMs must be non-negative numbers");
  const jitter = options.jitter ?? "none";
  const random = options.random ?? Math.random;
  return Object.freeze({
    baseMs,
    capMs,
    jitter,
    delay: (attempt: number) => (jitter === "full" ? fullJitter(attempt, baseMs, capMs, random) : ceiling(attempt, baseMs, capMs)),
  });
}
