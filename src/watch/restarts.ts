/**
 * Counts restarts as deltas of PM2's `restart_time`, per process, robust to what PM2 does to
 * that counter: `pm2 reset` sets it to 0, delete + re-add gives a new pm_id, a restarted daemon
 * starts everything from 0. A counter that went down is a new baseline, never a negative or a
 * phantom storm. Cluster instances are summed per app name. Baselines are persisted, so
 * restarts that happen while Jaga itself restarts are still counted. A store that cannot be
 * written never stops the counting: the state keeps what the disk refused in memory
 * (store/sqlite/watch.ts), and any other write failure is reported, not thrown.
 *
 * @example
 * const tracker = new RestartTracker("stb", state);
 * tracker.observe([{ name: "bot-kjp", pmId: 0, restarts: 34 }], now, { complete: true });
 * // -> [{ app: "bot-kjp", count: 1 }] when the baseline was 33
 */
import type { WatchState } from "../store/sqlite/watch.js";

export interface ProcessCount {
  name: string;
  pmId: number;
  restarts: number;
}

export interface RestartDelta {
  app: string;
  count: number;
}

type Baselines = Record<string, number>;

export class RestartTracker {
  private baselines: Baselines;
  private readonly key: string;

  constructor(
    readonly host: string,
    private readonly state: WatchState,
    /** Told about a state write that failed; the deltas are returned all the same. */
    private readonly onWriteError: (err: unknown) => void = () => undefined,
  ) {
    this.key = `baseline:${host}`;
    this.baselines = state.get<Baselines>(this.key) ?? {};
  }

  /**
   * Feeds counters (from PM2's list, or one process's) and records new restarts at `at`.
   * `complete`: the list is every process on the host, so missing ones are forgotten.
   */
  observe(processes: readonly ProcessCount[], at: number, { complete }: { complete: boolean }): RestartDelta[] {
    const next: Baselines = complete ? {} : { ...this.baselines };
    const perApp = new Map<string, number>();
    for (const p of processes) {
      const id = `${p.name}\u0000${p.pmId}`;
      const before = this.baselines[id];
      next[id] = p.restarts;
      if (before === undefined || p.restarts <= before) continue; // first sight, or reset: new baseline
      perApp.set(p.name, (perApp.get(p.name) ?? 0) + (p.restarts - before));
    }
    const changed = JSON.stringify(next) !== JSON.stringify(this.baselines);
    this.baselines = next;
    const deltas = [...perApp].map(([app, count]) => ({ app, count }));
    try {
      if (changed) this.state.set(this.key, next);
      for (const d of deltas) this.state.recordRestarts(this.host, d.app, at, d.count);
    } catch (err) {
      this.onWriteError(err);
    }
    return deltas;
  }
}
