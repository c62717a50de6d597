/**
 * "An app that is down is an incident": PM2 shows it `stopped` or `errored` (PM2 gave up after
 * `max_restarts` unstable restarts), or a required app is missing from PM2's list, for longer
 * than `watch.appDown.grace`. It resolves once the app has been online for `watch.appDown.upFor`
 * without a break. Only apps Jaga has seen online, or that `watch.apps` requires, count: an app
 * someone left stopped before Jaga ever saw it run is nobody's outage.
 *
 * Pure: observations and the time come in, a decision goes out; the watcher does the I/O
 * (watcher.ts) and keeps the tracks, one per app.
 *
 * @example
 * let t = observeApp(undefined, "errored", now);
 * const { next, action } = appDownStep(t, now + 60_000, rule, { eligible: true, deliberate: false });
 * // action === "raise"
 */
import type { WatchConfig } from "../config/schema.js";

/** What an app's PM2 status means here. `absent`: missing from a complete list. */
export type AppHealth = "up" | "down" | "absent" | "transient";

export interface AppTrack {
  health: AppHealth;
  /** PM2's own word for it (`errored`, `stopped`, …), or `absent`. */
  status: string;
  /** When the current run of this health began (an outage's start, or an up run's). */
  since: number;
  /** This run's resolution was already decided (an up run that lasted, a stop marked on purpose). */
  settled: boolean;
}

export type AppDownAction = "raise" | "clear" | null;

export interface AppDownContext {
  /** Seen online (by this Jaga, or recorded in the watch state), or listed in `watch.apps`. */
  eligible: boolean;
  /** Stopped on purpose through Jaga: not an outage. */
  deliberate: boolean;
}

const DOWN = new Set(["stopped", "errored"]);

/**
 * @example
 * appHealth("errored"); // "down"
 * appHealth("waiting restart"); // "transient": PM2 is still trying
 */
export function appHealth(status: string | null): AppHealth {
  if (status === null) return "absent";
  if (status === "online") return "up";
  return DOWN.has(status) ? "down" : "transient";
}

/**
 * One app's status from its instances' statuses: online only when every instance is, down only
 * when none is running (errored wins over stopped: PM2 gave up), otherwise still on its way
 * (launching, stopping, waiting restart, or a cluster partly up). Null: no instances at all.
 *
 * @example
 * appStatus(["online", "errored"]); // "partial": a cluster partly up
 * appStatus(["stopped", "errored"]); // "errored"
 */
export function appStatus(statuses: readonly string[]): string | null {
  if (statuses.length === 0) return null;
  if (statuses.every((s) => s === "online")) return "online";
  if (statuses.every((s) => DOWN.has(s))) return statuses.includes("errored") ? "errored" : "stopped";
  return statuses.find((s) => s !== "online" && !DOWN.has(s)) ?? "partial";
}

/**
 * Folds one observation into the track: a new health starts a new run, the same one goes on.
 *
 * @example
 * observeApp(track, "stopped", now); // since stays put while it stays down
 */
export function observeApp(prev: AppTrack | undefined, status: string | null, at: number): AppTrack {
  const health = appHealth(status);
  const word = status ?? "absent";
  if (prev && prev.health === health) return { ...prev, status: word };
  // stopped <-> absent (deleted, re-added stopped) is one outage, not two.
  const outage = (h: AppHealth) => h === "down" || h === "absent";
  if (prev && outage(prev.health) && outage(health)) return { ...prev, health, status: word };
  return { health, status: word, since: at, settled: false };
}

/**
 * A restart happened (PM2's counter moved): whatever up run there was is broken, even if every
 * poll happened to catch it online.
 *
 * @example
 * track = restartedApp(track, now);
 */
export function restartedApp(t: AppTrack, at: number): AppTrack {
  return t.health === "up" ? { ...t, since: at, settled: false } : t;
}

/**
 * The decision for one app now. `raise` while it has been down past the grace (every time, so
 * the desk can remind); `clear` once per run when it has stayed up for `upFor`, or at once when
 * the outage was a stop on purpose.
 *
 * @example
 * appDownStep(track, now, config.watch.appDown, { eligible: true, deliberate: false });
 */
export function appDownStep(t: AppTrack, now: number, rule: WatchConfig["appDown"], ctx: AppDownContext): { next: AppTrack; action: AppDownAction } {
  const none = { next: t, action: null };
  if (t.health === "down" || t.health === "absent") {
    if (ctx.deliberate) return t.settled ? none : { next: { ...t, settled: true }, action: "clear" };
    if (!ctx.eligible || now - t.since < rule.grace) return none;
    return { next: { ...t, settled: false }, action: "raise" };
  }
  if (t.health === "up" && !t.settled && now - t.since >= rule.upFor) return { next: { ...t, settled: true }, action: "clear" };
  return none;
}

/** A stop through Jaga, as a command records it: who, and when (Jaga's clock). */
export interface StopMark {
  by: string;
  at: number;
}

/**
 * The watch-state key of a stop on purpose; see `WatchServices.markStopped`.
 *
 * @example
 * stoppedKey("stb", "bot-kjp"); // "stopped:stb/bot-kjp"
 */
export function stoppedKey(host: string, app: string): string {
  return `stopped:${host}/${app}`;
}

/**
 * Does `watch.apps` require `app` on `host`? `bot-kjp` means every host, `bot-kjp@stb` one.
 *
 * @example
 * requiredApps(["bot-kjp", "api@stb"], "stb"); // Set { "bot-kjp", "api" }
 */
export function requiredApps(entries: readonly string[], host: string): Set<string> {
  const out = new Set<string>();
  for (const e of entries) {
    const [app, on] = e.split("@");
    if (on === undefined || on === host) out.add(app!);
  }
  return out;
}
