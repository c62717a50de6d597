/**
 * Standby, assembled: the shared database, the {@link LeaseKeeper}, and the order in which an
 * instance becomes active and stops being it. Transitions run one at a time:
 *
 *   lease acquired → activate(term)     (main.ts: pull the shared session, open the socket, start the pump)
 *   lease lost     → deactivate(reason) (stop the pump, close the socket) — the lease is already given up
 *                                        locally, by the keeper's margin before it can expire in the database
 *   stop (SIGTERM) → deactivate, THEN release: the socket is closed before anyone else may open one
 *
 * An activation in progress gets a signal that fires when the lease is lost meanwhile; it checks
 * it before opening the socket, and a loss queued behind it undoes whatever it started.
 *
 * @example
 * const standby = openStandby(settings, { clock, log });
 * standby.start({ activate: async (term, signal) => …, deactivate: async (reason) => …, silent, heard });
 * await standby.stop(); // SIGTERM: deactivate, release, close
 */
import type { Clock } from "../clock.js";
import type { StandbySettings } from "../config/standby.js";
import type { Logger } from "../log.js";
import { createSupabaseClient } from "../store/supabase/client.js";
import { directDb, postgrestDb, type SharedDb } from "./db.js";
import { LeaseKeeper, type Holder, type LeaseStatus, type LossReason, type PreviousTerm } from "./lease.js";

export interface Term {
  epoch: number;
  /** Epoch ms it began. */
  at: number;
  previous: PreviousTerm | null;
}

export interface StandbyHooks {
  /** The lease is held: become the active instance. `signal` fires if it is lost meanwhile. */
  activate(term: Term, signal: AbortSignal): Promise<void>;
  /** Stop being it (the lease is lost, or about to be released). Must be quick. */
  deactivate(reason: LossReason | "stop"): Promise<void>;
  /** A standby sees the active instance's renewals stop. */
  silent?(holder: Holder, at: number): void;
  /** …and start again. */
  heard?(holder: Holder, at: number): void;
}

export class Standby {
  private chain: Promise<void> = Promise.resolve();
  private active = false;
  private activation?: AbortController;
  private hooks?: StandbyHooks;

  constructor(
    readonly keeper: LeaseKeeper,
    readonly db: SharedDb,
    private readonly log: Logger,
  ) {
    keeper.onChange((e) => {
      const hooks = this.hooks;
      if (!hooks) return;
      if (e.type === "acquired") this.queue(() => this.activate({ epoch: e.epoch, at: e.at, previous: e.previous }));
      else if (e.type === "lost") {
        this.activation?.abort(new Error(`lease lost: ${e.reason}`));
        this.queue(() => this.deactivate(e.reason));
      } else if (e.type === "silent") hooks.silent?.(e.holder, e.at);
      else if (e.type === "heard") hooks.heard?.(e.holder, e.at);
    });
  }

  /** Starts claiming; `hooks` run on every change of role. */
  start(hooks: StandbyHooks): void {
    this.hooks = hooks;
    this.keeper.start();
  }

  /** True while this instance is active (the lease held by the local deadline, and the term started). */
  isActive(): boolean {
    return this.active && this.keeper.held();
  }

  status(): LeaseStatus {
    return this.keeper.status();
  }

  /**
   * Hands over (SIGTERM): what runs under the lease stops first, then the lease is released,
   * then the database connections close. Bounded by the keeper's own timeouts.
   */
  async stop(): Promise<void> {
    this.activation?.abort(new Error("stopping"));
    this.queue(() => this.deactivate("stop"));
    await this.chain;
    await this.keeper.release();
    await this.db.close().catch(() => undefined);
  }

  private queue(work: () => Promise<void>): void {
    this.chain = this.chain.then(work).catch((err: unknown) => this.log.error({ err }, "standby: a change of role failed"));
  }

  private async activate(term: Term): Promise<void> {
    if (!this.keeper.held() || this.keeper.currentEpoch() !== term.epoch) return; // lost meanwhile
    const controller = new AbortController();
    this.activation = controller;
    this.active = true;
    try {
      await this.hooks!.activate(term, controller.signal);
    } catch (err) {
      this.log.error({ err, epoch: term.epoch }, "standby: becoming active failed; giving the lease up");
      this.keeper.fenced(err instanceof Error ? err.message : String(err));
    } finally {
      if (this.activation === controller) this.activation = undefined;
    }
  }

  private async deactivate(reason: LossReason | "stop"): Promise<void> {
    if (!this.active) return;
    this.active = false;
    await this.hooks!.deactivate(reason);
  }
}

/**
 * The shared database and the keeper from the settings.
 *
 * @example
 * const standby = openStandby(standbySettings(config, env)!, { clock, log });
 */
export function openStandby(s: StandbySettings, o: { clock: Clock; log: Logger }): Standby {
  const db =
    s.db.kind === "direct"
      ? directDb({ url: s.db.url, queryTimeoutMs: Math.min(5_000, Math.floor(s.ttlMs / 3)), ttlMs: s.ttlMs, applicationName: `jaga ${s.name}` })
      : postgrestDb(createSupabaseClient({ url: s.db.url, key: s.db.key, timeoutMs: Math.min(5_000, Math.floor(s.ttlMs / 3)) }), new URL(s.db.url).host);
  const keeper = new LeaseKeeper({ db, lease: s.lease, instance: s.name, ttlMs: s.ttlMs, pollMs: s.pollMs, clock: o.clock, log: o.log });
  o.log.info({ instance: s.name, lease: s.lease, via: db.kind, target: db.target, ttlMs: s.ttlMs }, "standby: this instance claims the lease or stands by");
  return new Standby(keeper, db, o.log);
}
