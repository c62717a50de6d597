/**
 * Errors logged once per kind and window, not once per event: a full disk or a dead peer fails
 * every few milliseconds, and 136 stack traces a minute hide the one line that matters. The
 * first failure of a kind in a window is logged in full (with its stack); the rest are counted,
 * and the next line of that kind says how many were left out.
 *
 * @example
 * const limit = new LogLimit(log, clock);
 * limit.error("store.write", err, "cannot write the store");  // logged
 * limit.error("store.write", err, "cannot write the store");  // counted
 * // a minute later: logged again with { suppressed: 1 }
 */
import { systemClock, type Clock } from "./clock.js";
import type { Logger } from "./log.js";

export const LOG_WINDOW_MS = 60_000;
const MAX_KINDS = 1_000;

type Level = "error" | "warn";

export class LogLimit {
  private readonly kinds = new Map<string, { until: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
    private readonly windowMs = LOG_WINDOW_MS,
  ) {}

  /** Logs `err` under `kind` at most once per window; true when this call wrote a line. */
  error(kind: string, err: unknown, msg: string, fields: Record<string, unknown> = {}): boolean {
    return this.write("error", kind, err, msg, fields);
  }

  /** As {@link error}, at warn level (for failures that are expected to pass, e.g. a send). */
  warn(kind: string, err: unknown, msg: string, fields: Record<string, unknown> = {}): boolean {
    return this.write("warn", kind, err, msg, fields);
  }

  /** How many lines of `kind` were left out in the current window. */
  suppressed(kind: string): number {
    return this.kinds.get(kind)?.suppressed ?? 0;
  }

  private write(level: Level, kind: string, err: unknown, msg: string, fields: Record<string, unknown>): boolean {
    const now = this.clock.now();
    const seen = this.kinds.get(kind);
    if (seen && now < seen.until) {
      seen.suppressed++;
      return false;
    }
    const suppressed = seen?.suppressed ?? 0;
    if (this.kinds.size >= MAX_KINDS) this.forgetQuiet(now);
    this.kinds.set(kind, { until: now + this.windowMs, suppressed: 0 });
    const line = { ...fields, kind, err, ...(suppressed > 0 ? { suppressed } : {}) };
    this.log[level](line, suppressed > 0 ? `${msg} (${suppressed} more like this left out)` : msg);
    return true;
  }

  /** Kinds named after messages can be many: forget the ones whose window is over. */
  private forgetQuiet(now: number): void {
    for (const [kind, k] of this.kinds) if (now >= k.until && k.suppressed === 0) this.kinds.delete(kind);
  }
}

const shared = new WeakMap<Logger, LogLimit>();

/**
 * The shared limiter of a logger (system clock, one-minute window), for places that have a
 * logger but no limiter of their own.
 *
 * @example
 * logOnce(log, "watch.round", err, "watch round failed", { host: "stb" });
 */
export function logOnce(log: Logger, kind: string, err: unknown, msg: string, fields?: Record<string, unknown>): boolean {
  let limit = shared.get(log);
  if (!limit) shared.set(log, (limit = new LogLimit(log)));
  return limit.error(kind, err, msg, fields);
}
