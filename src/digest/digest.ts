/**
 * The morning digest: per host and app, state and the night's restarts; incidents opened and
 * resolved; WhatsApp's health. Scheduled with croner at `digest.cron` in `timezone`, sent
 * exactly once per day across restarts (the day is remembered in the store and is the outbox
 * dedupe key), and sent late — up to 6 h — when Jaga was down at the scheduled time.
 *
 * @example
 * const digest = new Digest({ config, hosts, state, incidents, clock, send });
 * digest.start();                  // schedules, and catches up on a missed one
 * await digest.compose();          // what /digest shows
 */
import { Cron } from "croner";
import type { Clock } from "../clock.js";
import type { Config } from "../config/load.js";
import { formatBytes } from "../duration.js";
import { isJagaError } from "../errors.js";
import type { Inventory } from "../hosts/inventory.js";
import { translator, type Translate } from "../i18n/index.js";
import type { Logger } from "../log.js";
import { groupApps } from "../ops/pm2.js";
import { readVitals, vitalsPaths } from "../ops/vitals.js";
import type { WatchState } from "../store/sqlite/watch.js";
import type { Incidents } from "../store/store.js";
import { KIND_ICONS } from "../watch/desk.js";
import { memoryPercent } from "../watch/detectors.js";

/** A digest missed by more than this is skipped: by the afternoon it is news from the past. */
export const CATCH_UP_MS = 6 * 3_600_000;
const DAY = 86_400_000;

export interface DigestOptions {
  config: Config;
  hosts: Inventory;
  state: WatchState;
  incidents: Incidents;
  clock: Clock;
  log: Logger;
  /** Queues the digest for the alert group (the outbox de-duplicates by key). */
  send(text: string, dedupeKey: string): Promise<unknown>;
  /** One line about the WhatsApp connection, when there is one. */
  whatsappHealth?: () => string | null;
}

export class Digest {
  private job?: Cron;
  private readonly t: Translate;

  constructor(private readonly o: DigestOptions) {
    this.t = translator(o.config.language);
  }

  /** Schedules the daily run and sends a missed one now if it is due. */
  start(): void {
    const { cron } = this.o.config.digest;
    this.job = new Cron(cron, { timezone: this.o.config.timezone, catch: (err) => this.o.log.error({ err }, "digest failed") }, async () => {
      await this.runIfDue();
    });
    void this.runIfDue().catch((err: unknown) => this.o.log.error({ err }, "digest catch-up failed"));
  }

  stop(): void {
    this.job?.stop();
  }

  /**
   * The scheduled time whose digest should go out now, or null: the latest scheduled time at or
   * before now, if it is less than 6 h ago and its day's digest has not been sent.
   */
  due(now = this.o.clock.now()): number | null {
    const cron = new Cron(this.o.config.digest.cron, { timezone: this.o.config.timezone, paused: true });
    // previousRuns looks back from a reference; +1 ms so a run exactly at `now` counts.
    const [last] = cron.previousRuns(1, new Date(now + 1));
    cron.stop();
    if (!last) return null;
    const at = last.getTime();
    if (now - at >= CATCH_UP_MS) return null;
    return this.o.state.get<string>("digest.lastSent") === this.dayOf(at) ? null : at;
  }

  /** Sends the digest if one is due; true when it did. */
  async runIfDue(now = this.o.clock.now()): Promise<boolean> {
    const at = this.due(now);
    if (at === null) return false;
    const day = this.dayOf(at);
    // Remember first: a crash between the two must not mean a second digest after restart;
    // the outbox key makes a retry of the same day harmless anyway.
    this.o.state.set("digest.lastSent", day);
    await this.o.send(await this.compose(now), `digest:${day}`);
    this.o.log.info({ day }, "digest sent");
    return true;
  }

  /** The digest text, short enough to read on a phone. */
  async compose(now = this.o.clock.now()): Promise<string> {
    const { hosts, state, incidents, config } = this.o;
    const since = now - DAY;
    const restarts = new Map(state.restartTotals(since).map((r) => [`${r.host}\u0000${r.app}`, r.count]));
    const sections = await Promise.all(
      hosts.hosts.map(async (host) => {
        const paths = vitalsPaths(host.config, config.dataDir);
        const [vitals, list] = await Promise.allSettled([readVitals(host.executor, paths, { timeoutMs: 15_000, host: host.name }), host.pm2.list({ timeoutMs: 20_000 })]);
        const lines: string[] = [];
        if (vitals.status === "fulfilled") {
          const v = vitals.value;
          lines.push(
            this.t("digest.host", {
              host: host.name,
              load: v.load[0].toFixed(2),
              mem: memoryPercent(v),
              disk: v.disks.map((d) => `${d.mount} ${d.usedPercent}%`).join(", ") || "?",
            }),
          );
        } else {
          const err: unknown = vitals.reason;
          lines.push(this.t("digest.host_down", { host: host.name, reason: isJagaError(err) ? this.t(err.code, err.params) : "?" }));
        }
        if (list.status === "fulfilled") {
          for (const app of groupApps(list.value)) {
            const n = restarts.get(`${host.name}\u0000${app.name}`) ?? 0;
            const icon = app.status !== "online" ? "❌" : n > config.watch.restartStorm.restarts ? "⚠️" : "✅";
            lines.push(
              this.t("digest.app", { icon, app: app.name, status: app.status, restarts: n, cpu: Math.round(app.cpu), memory: formatBytes(app.memory) }),
            );
          }
        } else if (isJagaError(list.reason)) {
          lines.push(this.t(list.reason.code, list.reason.params));
        }
        return lines.join("\n");
      }),
    );
    const recent = await incidents.listSince(since);
    const open = await incidents.listOpen();
    const summary = [
      this.t("digest.incidents", {
        opened: recent.filter((i) => i.openedAt >= since).length,
        resolved: recent.filter((i) => i.resolvedAt !== null && i.resolvedAt >= since).length,
        open: open.length,
      }),
      ...open.slice(0, 5).map((i) => this.t("digest.open", { id: i.id, what: `${KIND_ICONS[i.kind] ?? "🚨"} ${i.kind} ${i.app ? `\`${i.app}\`@` : ""}${i.host}` })),
    ];
    const wa = this.o.whatsappHealth?.();
    const date = new Intl.DateTimeFormat(config.language === "id" ? "id-ID" : "en-GB", {
      timeZone: config.timezone,
      weekday: "short",
      day: "numeric",
      month: "short",
      hour: "2-digit",
      minute: "2-digit",
    }).format(now);
    return [this.t("digest.title", { date }), ...sections, summary.join("\n"), ...(wa ? [this.t("digest.whatsapp", { state: wa })] : [])].join("\n\n");
  }

  /** The calendar day of `at` in the configured time zone, e.g. 2026-11-22. */
  dayOf(at: number): string {
    return new Intl.DateTimeFormat("en-CA", { timeZone: this.o.config.timezone, year: "numeric", month: "2-digit", day: "2-digit" }).format(at);
  }
}
