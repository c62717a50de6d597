/**
 * Detectors: plain functions from what was observed to "is something wrong, and how wrong".
 * No I/O, no clock of their own, so every threshold is tested with plain numbers.
 */
import type { WatchConfig } from "../config/schema.js";
import type { RestartRecord } from "../store/sqlite/watch.js";
import type { Vitals } from "../ops/vitals.js";

export interface Storm {
  restarts: number;
  /** Milliseconds from the first counted restart to the last. */
  spanMs: number;
  rule: "sustained" | "fast";
}

/**
 * A restart storm: more than `restarts` within `within` (default more than 5 in 1 h), or the
 * fast rule: at least `fast.restarts` within `fast.within` (default 3 in 5 min).
 *
 * @example
 * restartStorm(records, now, config.watch.restartStorm); // { restarts: 6, spanMs: 2460000, rule: "sustained" }
 */
export function restartStorm(records: readonly RestartRecord[], now: number, rule: WatchConfig["restartStorm"]): Storm | null {
  const inWindow = (ms: number) => records.filter((r) => r.at > now - ms && r.at <= now);
  const sum = (rs: RestartRecord[]) => rs.reduce((a, r) => a + r.count, 0);
  const span = (rs: RestartRecord[]) => (rs.length ? rs.at(-1)!.at - rs[0]!.at : 0);
  const slow = inWindow(rule.within);
  if (sum(slow) > rule.restarts) return { restarts: sum(slow), spanMs: span(slow), rule: "sustained" };
  const fast = inWindow(rule.fast.within);
  if (sum(fast) >= rule.fast.restarts) return { restarts: sum(fast), spanMs: span(fast), rule: "fast" };
  return null;
}

export const MIN_SAMPLE_JIFFIES = 100;

/** CPU busy percentage between two /proc/stat samples; null when they are too close together. */
export function cpuPercent(prev: Vitals["cpu"], cur: Vitals["cpu"]): number | null {
  if (!prev || !cur) return null;
  const total = cur.total - prev.total;
  const idle = cur.idle - prev.idle;
  // Under ~1 s of CPU time (USER_HZ is 100) the ratio is noise, not a reading.
  if (total < MIN_SAMPLE_JIFFIES) return null;
  return Math.max(0, Math.min(100, Math.round((1 - idle / total) * 100)));
}

/**
 * Tracks how long a condition has held, e.g. CPU ≥ 90 %. `update` answers true once it has
 * held for `forMs` without a break.
 *
 * @example
 * const hot = new Sustained(300_000);
 * hot.update(cpu >= 90, now); // true after five minutes of samples at or above 90
 */
export class Sustained {
  private since: number | null = null;
  constructor(private readonly forMs: number) {}
  update(holds: boolean, now: number): boolean {
    if (!holds) {
      this.since = null;
      return false;
    }
    this.since ??= now;
    return now - this.since >= this.forMs;
  }
  /** When the current unbroken run began. */
  get startedAt(): number | null {
    return this.since;
  }
}

export type DiskLevel = "warning" | "critical" | null;

export function diskLevel(usedPercent: number, cfg: WatchConfig["disk"]): DiskLevel {
  if (usedPercent >= cfg.critical) return "critical";
  if (usedPercent >= cfg.warning) return "warning";
  return null;
}

export function memoryPercent(v: Pick<Vitals, "memTotalBytes" | "memAvailableBytes">): number {
  return v.memTotalBytes > 0 ? Math.round(((v.memTotalBytes - v.memAvailableBytes) / v.memTotalBytes) * 100) : 0;
}
