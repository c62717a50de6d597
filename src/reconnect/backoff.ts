/**
 * Exponential backoff with full jitter: the wait before retry n is uniformly random in
 * [0, min(cap, base * 2^(n-1))). Random, so that a fleet of bots that lost WhatsApp at the
 * same moment does not come back at the same moment; capped, so an outage of hours still
 * retries every few minutes.
 *
 * @example
 * fullJitter(1, 2_000, 300_000);         // somewhere in [0, 2 s)
 * fullJitter(9, 2_000, 300_000, () => 1); // just under 5 min, the cap
 */
export function fullJitter(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const exp = Math.min(Math.max(0, attempt - 1), 30); // 2^30 * base is far past any cap
  const ceiling = Math.min(capMs, baseMs * 2 ** exp);
  const r = Math.min(Math.max(random(), 0), 0.999_999);
  return Math.floor(r * ceiling);
}
