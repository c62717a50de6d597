/**
 * The incident desk: turns "this condition holds" into incidents and alerts, and "it has been
 * quiet" into resolutions. One open incident per (host, app, kind); the alert when it opens, at
 * most one reminder per `remindEvery` while it lasts and nobody acknowledged it, one when it
 * resolves. Alerts go through the durable outbox with dedupe keys derived from the incident, so
 * a Jaga restarted mid-storm never sends the same alert twice.
 *
 * @example
 * await desk.raise({ host: "stb", app: "bot-kjp", kind: "restart_storm" }, {
 *   summary: "6 restarts in 41 min",
 *   describe: async () => ["Likely cause: …", "Try: /logs bot-kjp stb"],
 * });
 * await desk.sweep(); // resolves incidents quiet for watch.resolveAfter
 */
import type { Clock } from "../clock.js";
import { isMessageKey, translator, type Lang, type Translate } from "../i18n/index.js";
import type { Logger } from "../log.js";
import type { WatchState } from "../store/sqlite/watch.js";
import type { Incident, IncidentKey, Incidents } from "../store/store.js";
import { formatDuration } from "../duration.js";
import { redact } from "../text.js";

export type AlertSink = (text: string, dedupeKey: string) => Promise<unknown>;

export interface DeskOptions {
  incidents: Incidents;
  state: WatchState;
  alert: AlertSink;
  clock: Clock;
  log: Logger;
  language: Lang;
  /** Quiet time after which an incident resolves (watch.resolveAfter). */
  resolveAfterMs: number;
  remindEveryMs?: number;
}

export interface Raise {
  /** One line, masked, e.g. "6 restarts in 41 min". */
  summary: string;
  /** The lines under the headline (cause, command to try); only called when an alert goes out. */
  describe?: () => Promise<string[]>;
}

export const KIND_ICONS: Record<string, string> = {
  restart_storm: "🔁",
  cpu: "🔥",
  disk: "💾",
  disk_critical: "💾",
  memory: "🧠",
  unreachable: "📡",
  dns: "🌐",
};

const keyOf = (k: IncidentKey) => `${k.host}\u0000${k.app}\u0000${k.kind}`;

export class IncidentDesk {
  private readonly t: Translate;
  private readonly remindEveryMs: number;
  /** Serializes raises and sweeps: two events for one app must not race to open two alerts. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: DeskOptions) {
    this.t = translator(o.language);
    this.remindEveryMs = o.remindEveryMs ?? 30 * 60_000;
  }

  /** The condition holds now: open (and alert) or keep open (and maybe remind). */
  raise(key: IncidentKey, r: Raise): Promise<Incident> {
    return this.serial(async () => {
      const now = this.o.clock.now();
      const summary = redact(r.summary);
      const { incident, created } = await this.o.incidents.openOrGet({ ...key, summary, at: now });
      this.o.state.set(`seen:${keyOf(key)}`, now);
      if (created) {
        this.o.log.warn({ ...key, id: incident.id, summary }, "incident opened");
        await this.send(incident, "open", `incident:${incident.uid}:open`, async () => this.openText(incident, summary, r));
        return incident;
      }
      if (incident.state === "open") {
        const bucket = Math.floor((now - incident.openedAt) / this.remindEveryMs);
        if (bucket >= 1) {
          await this.send(incident, "remind", `incident:${incident.uid}:remind:${bucket}`, () =>
            Promise.resolve(this.remindText(incident, summary, now)),
          );
        }
      }
      return incident;
    });
  }

  /** The condition was seen again (e.g. one more restart): an open incident stays open. */
  async touch(key: IncidentKey): Promise<void> {
    const open = (await this.o.incidents.listOpen()).some((i) => keyOf(i) === keyOf(key));
    if (open) this.o.state.set(`seen:${keyOf(key)}`, this.o.clock.now());
  }

  /** The condition is over right now (a host answers again): resolve at once. */
  clear(key: IncidentKey): Promise<void> {
    return this.serial(async () => {
      const incident = (await this.o.incidents.listOpen()).find((i) => keyOf(i) === keyOf(key));
      if (incident) await this.resolve(incident, this.o.clock.now());
    });
  }

  /** Resolves every incident quiet for `resolveAfter`; `kinds` limits it to some kinds. */
  sweep(filter: (i: Incident) => boolean = () => true): Promise<Incident[]> {
    return this.serial(async () => {
      const now = this.o.clock.now();
      const resolved: Incident[] = [];
      for (const incident of await this.o.incidents.listOpen()) {
        if (!filter(incident)) continue;
        const seen = this.o.state.get<number>(`seen:${keyOf(incident)}`) ?? incident.openedAt;
        if (now - seen >= this.o.resolveAfterMs) {
          await this.resolve(incident, now, now - seen);
          resolved.push(incident);
        }
      }
      return resolved;
    });
  }

  /** Is `host` or `app` muted right now? */
  muted(key: IncidentKey): boolean {
    const now = this.o.clock.now();
    return [key.host, key.app].filter(Boolean).some((target) => (this.o.state.get<number>(`mute:${target}`) ?? 0) > now);
  }

  private async resolve(incident: Incident, now: number, quietMs?: number): Promise<void> {
    await this.o.incidents.resolve(incident.id, now);
    this.o.state.delete(`seen:${keyOf(incident)}`);
    this.o.log.info({ id: incident.id, host: incident.host, app: incident.app, kind: incident.kind }, "incident resolved");
    await this.send(incident, "resolved", `incident:${incident.uid}:resolved`, () =>
      Promise.resolve(
        this.t("alert.resolved", {
          id: incident.id,
          what: this.what(incident),
          quiet: quietMs === undefined ? this.t("alert.back") : this.t("alert.quiet", { duration: formatDuration(quietMs) }),
          lasted: formatDuration(now - incident.openedAt),
        }),
      ),
    );
  }

  private async send(incident: Incident, phase: string, dedupeKey: string, text: () => Promise<string>): Promise<void> {
    if (this.muted(incident)) {
      this.o.log.info({ id: incident.id, phase }, "alert muted");
      return;
    }
    await this.o.alert(redact(await text()), dedupeKey);
  }

  private async openText(incident: Incident, summary: string, r: Raise): Promise<string> {
    let details: string[] = [];
    try {
      details = (await r.describe?.()) ?? [];
    } catch (err) {
      this.o.log.warn({ err, id: incident.id }, "could not describe incident");
    }
    return [
      `${KIND_ICONS[incident.kind] ?? "🚨"} *${this.kindName(incident.kind)}* · ${this.where(incident)}`,
      summary,
      ...details,
      this.t("alert.footer", { id: incident.id }),
    ].join("\n");
  }

  private remindText(incident: Incident, summary: string, now: number): string {
    return this.t("alert.remind", { id: incident.id, what: this.what(incident), since: formatDuration(now - incident.openedAt), summary });
  }

  private kindName(kind: string): string {
    const key = `kind.${kind}`;
    return isMessageKey(key) ? this.t(key) : kind;
  }

  private where(i: IncidentKey): string {
    return i.app ? this.t("alert.where_app", { app: i.app, host: i.host }) : this.t("alert.where_host", { host: i.host });
  }

  private what(i: IncidentKey): string {
    return `${this.kindName(i.kind)} · ${this.where(i)}`;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
