/**
 * Watching, assembled: one {@link HostWatcher} per host, the incident desk they report to, and
 * the morning digest. Commands reach it as `ctx.services.watch`.
 *
 * @example
 * const watch = createWatch({ config, hosts, incidents: store.incidents, state: local.watch, alert, alerts: { chatId, queued: () => pump.kick() }, clock, log });
 * watch.start();
 * ...
 * await watch.stop();
 */
import type { Clock } from "../clock.js";
import type { Config } from "../config/load.js";
import { Digest } from "../digest/digest.js";
import type { Inventory } from "../hosts/inventory.js";
import type { Logger } from "../log.js";
import type { Vitals } from "../ops/vitals.js";
import type { WatchState } from "../store/sqlite/watch.js";
import type { AlertingIncidents } from "../store/store.js";
import { stoppedKey, type StopMark } from "./app-down.js";
import { IncidentDesk, type AlertRoute, type AlertSink } from "./desk.js";
import { SelfWatcher } from "./self.js";
import { HostWatcher } from "./watcher.js";

export interface WatchServices {
  readonly desk: IncidentDesk;
  readonly state: WatchState;
  readonly incidents: AlertingIncidents;
  readonly digest: Digest;
  readonly watchers: readonly HostWatcher[];
  /** Jaga's own data disk as the pseudo-host `jaga`, when no local host's vitals cover it. */
  readonly self: SelfWatcher | null;
  /** Names of hosts whose last check failed (for /health). */
  unreachable(): string[];
  /** The host's vitals as the watcher last read them, if younger than `maxAgeMs`. */
  freshVitals(host: string, maxAgeMs: number): Vitals | null;
  /**
   * A command is about to stop `app` on `host` on purpose (`by`: who asked): while it stays down
   * it is no outage, and an open "app down" incident for it resolves. Call it BEFORE stopping;
   * the mark ends by itself once the app was seen down and then online again (started by
   * anyone), so the next stop by hand alerts again. A stop that failed should call
   * {@link WatchServices.unmarkStopped}.
   *
   * @example
   * ctx.services.watch?.markStopped("stb", "bot-kjp", ctx.sender.name);
   * await host.pm2.stop("bot-kjp");
   */
  markStopped(host: string, app: string, by: string): void;
  /** Takes a stop mark back (the stop failed, or was undone); the app is watched as usual. */
  unmarkStopped(host: string, app: string): void;
  /** Who stopped `app` on purpose and when, if it is marked. */
  stoppedBy(host: string, app: string): StopMark | undefined;
  start(): void;
  stop(): Promise<void>;
}

export interface WatchOptions {
  config: Config;
  hosts: Inventory;
  incidents: AlertingIncidents;
  state: WatchState;
  /** How the digest sends. */
  alert: AlertSink;
  /** Where the desk queues its alerts, in the same transaction as the incident change. */
  alerts: AlertRoute;
  clock: Clock;
  log: Logger;
  whatsappHealth?: () => string | null;
  /** See {@link DeskOptions.scope}: with a standby, whose incidents the desk works on now. */
  scope?: () => string;
}

const RESTART_HISTORY_MS = 7 * 86_400_000;

export function createWatch(o: WatchOptions): WatchServices {
  const desk = new IncidentDesk({
    incidents: o.incidents,
    state: o.state,
    alerts: o.alerts,
    clock: o.clock,
    log: o.log,
    language: o.config.language,
    resolveAfterMs: o.config.watch.resolveAfter,
    scope: o.scope,
  });
  const watchers = o.hosts.hosts.map(
    (host) => new HostWatcher({ host, desk, state: o.state, clock: o.clock, config: o.config, log: o.log }),
  );
  // A local host's disk check includes the data directory (ops/vitals.ts); with only SSH hosts,
  // Jaga's own machine is watched on its own.
  const self =
    o.config.hosts.some((h) => h.local) || !o.config.dataDir.startsWith("/")
      ? null
      : new SelfWatcher({ dataDir: o.config.dataDir, desk, config: o.config, clock: o.clock, log: o.log });
  const digest = new Digest({
    config: o.config,
    hosts: o.hosts,
    state: o.state,
    incidents: o.incidents,
    clock: o.clock,
    log: o.log,
    send: o.alert,
    whatsappHealth: o.whatsappHealth,
  });
  return {
    desk,
    state: o.state,
    incidents: o.incidents,
    digest,
    watchers,
    self,
    unreachable: () => watchers.filter((w) => w.failing).map((w) => w.name),
    freshVitals(host, maxAgeMs) {
      const w = watchers.find((x) => x.name === host);
      return w?.lastVitals && o.clock.now() - w.lastVitalsAt <= maxAgeMs ? w.lastVitals : null;
    },
    markStopped(host, app, by) {
      o.state.set(stoppedKey(host, app), { by, at: o.clock.now() } satisfies StopMark);
    },
    unmarkStopped(host, app) {
      o.state.delete(stoppedKey(host, app));
    },
    stoppedBy: (host, app) => o.state.get<StopMark>(stoppedKey(host, app)),
    start() {
      o.state.prune(o.clock.now() - RESTART_HISTORY_MS);
      for (const w of watchers) w.start();
      self?.start();
      if (o.config.digest.enabled) digest.start();
    },
    async stop() {
      digest.stop();
      await Promise.all([...watchers.map((w) => w.stop()), self?.stop()]);
    },
  };
}
