/**
 * Jaga watches itself. Two jobs, both about the data directory:
 * - {@link SelfWatcher}: its disk is a vital like any other, an alert before it is full (the
 *   `watch.disk` thresholds), for the pseudo-host `jaga` — needed when every configured host is
 *   an SSH host; with a local host, the local host's disk check covers the data directory.
 * - {@link followStoreHealth}: a store that cannot be written becomes an incident ("Jaga cannot
 *   write its data"), raised through whatever can still send, and resolves when it can again.
 *
 * @example
 * const self = new SelfWatcher({ dataDir: config.dataDir, desk, config, clock, log });
 * self.start();
 * followStoreHealth({ health: store.health, incidents, desk, alert, t, clock, log });
 */
import type { Clock } from "../clock.js";
import type { Config } from "../config/load.js";
import { formatBytes, formatDuration } from "../duration.js";
import type { Translate } from "../i18n/index.js";
import { translator } from "../i18n/index.js";
import { LogLimit } from "../log-limit.js";
import type { Logger } from "../log.js";
import { diskUsage, type StoreCondition, type StoreHealth } from "../store/health.js";
import type { IncidentsWithMemory } from "../store/memory-incidents.js";
import type { IncidentKey } from "../store/store.js";
import type { AlertSink, IncidentDesk } from "./desk.js";
import { diskLevel } from "./detectors.js";

/** The host name Jaga's own incidents carry. */
export const SELF_HOST = "jaga";
/** The incident a store that cannot be written opens. */
export const STORE_INCIDENT: IncidentKey = { host: SELF_HOST, app: "", kind: "store" };

export interface SelfWatcherOptions {
  dataDir: string;
  desk: IncidentDesk;
  config: Config;
  clock: Clock;
  log: Logger;
}

export class SelfWatcher {
  private readonly t: Translate;
  private readonly limit: LogLimit;
  private readonly stopSignal = new AbortController();
  private loop?: Promise<void>;

  constructor(private readonly o: SelfWatcherOptions) {
    this.t = translator(o.config.language);
    this.limit = new LogLimit(o.log, o.clock);
  }

  /** One check: the data directory's disk against the thresholds, then the quiet sweep. */
  async tick(): Promise<void> {
    const { dataDir, config, desk } = this.o;
    const usage = diskUsage(dataDir);
    const level = usage ? diskLevel(usage.usedPercent, config.watch.disk) : null;
    if (usage && level) {
      await desk.raise(
        { host: SELF_HOST, app: dataDir, kind: level === "critical" ? "disk_critical" : "disk" },
        { summary: this.t("disk.summary", { mount: dataDir, percent: usage.usedPercent, free: formatBytes(usage.freeBytes) }) },
      );
    }
    await desk.sweep((i) => i.host === SELF_HOST && (i.kind === "disk" || i.kind === "disk_critical"));
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopSignal.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopSignal.signal.aborted) {
      try {
        await this.tick();
      } catch (err) {
        this.limit.error("watch.self", err, "self check failed");
      }
      await this.o.clock.sleep(this.o.config.watch.interval, this.stopSignal.signal).catch(() => undefined);
    }
  }
}

export interface FollowStoreOptions {
  health: StoreHealth;
  /** The desk's incidents: what was kept in memory goes into the store once it can write. */
  incidents?: IncidentsWithMemory;
  /** Without watching, the alert sink alone carries the two messages. */
  desk?: IncidentDesk;
  alert: AlertSink;
  /** Runs once the store writes again, before the incident resolves (e.g. requeue direct sends). */
  onWritable?: () => Promise<void>;
  t: Translate;
  clock: Clock;
  log: Logger;
}

/**
 * Turns the store's health into an incident: opened once per outage (it reaches the chat
 * through the direct path when the outbox cannot be written), resolved when writes work again.
 *
 * @example
 * const off = followStoreHealth({ health, incidents, desk, alert, t, clock, log });
 */
export function followStoreHealth(o: FollowStoreOptions): () => void {
  let since: number | null = null;
  let chain: Promise<unknown> = Promise.resolve();
  const later = (fn: () => Promise<unknown>) => {
    chain = chain.then(fn).catch((err: unknown) => o.log.error({ err }, "store incident could not be raised or resolved"));
  };
  return o.health.onChange((c: StoreCondition) => {
    const dataDir = c.disk?.path ?? "?";
    const free = c.disk ? formatBytes(c.disk.freeBytes) : "?";
    if (!c.writable && c.problem) {
      since = c.since;
      const summary = o.t("store.summary", { problem: o.t(`store.problem.${c.problem}`), path: dataDir, free });
      later(() => (o.desk ? o.desk.raise(STORE_INCIDENT, { summary }) : o.alert(o.t("store.alert", { summary }), `store:${since}:down`)));
      return;
    }
    const outage = since;
    later(async () => {
      await o.onWritable?.();
      const adopted = await o.incidents?.adopt();
      if (adopted) o.log.info({ adopted }, "incidents kept in memory are in the store now");
      if (o.desk) return o.desk.clear(STORE_INCIDENT);
      const duration = formatDuration(outage === null ? 0 : o.clock.now() - outage);
      return o.alert(o.t("store.back", { path: dataDir, free, duration }), `store:${outage}:up`);
    });
  });
}
