/**
 * Counts events per key inside a sliding time window — the one mechanism behind the per-sender
 * rate limit and the restart guard. Memory stays bounded: a key keeps at most `max` times, and
 * keys whose window has passed are forgotten when the map grows.
 *
 * @example
 * const w = new SlidingWindow(clock, 60_000, 10);
 * if (w.full("628123")) return tooMany(w.freeAt("628123"));
 * w.add("628123");
 */
import type { Clock } from "../clock.js";

const MAX_KEYS = 10_000;

export class SlidingWindow {
  private readonly times = new Map<string, number[]>();
  /** Per key, the time the last `add` pushed out of a full list, for `undo` to put back. */
  private readonly trimmed = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    readonly windowMs: number,
    readonly max: number,
  ) {}

  /** How many events `key` had in the window that ends now. */
  count(key: string): number {
    return this.recent(key).length;
  }

  /** True when one more event would exceed `max`. */
  full(key: string): boolean {
    return this.count(key) >= this.max;
  }

  /** Records one event now. */
  add(key: string): void {
    const list = this.recent(key);
    list.push(this.clock.now());
    if (list.length > this.max) this.trimmed.set(key, list.splice(0, list.length - this.max).at(-1)!);
    else this.trimmed.delete(key);
    if (!this.times.has(key) && this.times.size >= MAX_KEYS) this.forgetQuiet();
    this.times.set(key, list);
  }

  /** Takes back the newest event of `key` (one that turned out not to happen). */
  undo(key: string): void {
    const list = this.times.get(key);
    if (!list) return;
    list.pop();
    // An event past `max` (an admin's forced restart) pushed the oldest out: it still happened.
    const gone = this.trimmed.get(key);
    if (gone !== undefined) list.unshift(gone);
    this.trimmed.delete(key);
  }

  /** Epoch ms when `key` may have one more event (now, when it may already). */
  freeAt(key: string): number {
    const list = this.recent(key);
    if (list.length < this.max) return this.clock.now();
    return list[list.length - this.max]! + this.windowMs;
  }

  private recent(key: string): number[] {
    const since = this.clock.now() - this.windowMs;
    const list = (this.times.get(key) ?? []).filter((t) => t > since);
    if (list.length === 0) {
      this.times.delete(key);
      this.trimmed.delete(key);
    } else this.times.set(key, list);
    return list;
  }

  private forgetQuiet(): void {
    for (const key of [...this.times.keys()]) this.recent(key);
  }
}
