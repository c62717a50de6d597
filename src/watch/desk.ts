/**
 * The incident desk: turns "this condition holds" into incidents and alerts, and "it has been
 * quiet" into resolutions. One open incident per (host, app, kind); the alert when it opens, at
 * most one reminder per `remindEvery` while it lasts and nobody acknowledged it, one when it
 * resolves.
 *
 * No alert is lost, by construction: every change that sends a message commits together with
 * its outbox row, in one SQLite transaction ({@link AlertingIncidents}). The cause (pm2 logs,
 * ss) is gathered BEFORE that transaction, and only for a key with no open incident; nothing
 * slow happens between the write and the queueing, so a crash leaves either neither or both.
 * The evidence (what describe gathered: the cause, error lines, vitals) is kept with the
 * incident, written by the same transaction that opens it; the store records the timeline
 * (opened, reminded, acknowledged, resolved) in each change's own transaction, and the
 * pipeline adds the actions run for it ({@link IncidentDesk.recordAction}).
 * Dedupe keys derived from the incident's uid keep a restarted Jaga from queueing the same
 * alert twice. A muted target still gets its incident, without an alert.
 *
 * The open incidents are kept in memory (loaded from the store on first use, then maintained
 * by the desk, their only writer), so a restart event or a DNS check for a known incident costs
 * no query.
 *
 * @example
 * await desk.raise({ host: "stb", app: "bot-kjp", kind: "restart_storm" }, {
 *   summary: "6 restarts in 41 min",
 *   describe: async () => ["Likely cause: …"],
 * });
 * await desk.sweep(); // resolves incidents quiet for watch.resolveAfter
 */
import type { Clock } from "../clock.js";
import { actionsFor, renderActions } from "./actions.js";
import { failpoint } from "../failpoint.js";
import { isMessageKey, translator, type Lang, type Translate } from "../i18n/index.js";
import type { Logger } from "../log.js";
import type { WatchState } from "../store/sqlite/watch.js";
import type { AlertFor, AlertingIncidents, Incident, IncidentKey } from "../store/store.js";
import { formatDuration } from "../duration.js";
import { redact } from "../text.js";
import { boundEvidence } from "./evidence.js";

/** Queues a message for the alert group (the digest's way of sending). */
export type AlertSink = (text: string, dedupeKey: string) => Promise<unknown>;

/** Where the desk's alerts go, and who to wake once one is queued (the outbox pump). */
export interface AlertRoute {
  chatId: string;
  queued(): void;
}

export interface DeskOptions {
  incidents: AlertingIncidents;
  state: WatchState;
  alerts: AlertRoute;
  clock: Clock;
  log: Logger;
  language: Lang;
  /** Quiet time after which an incident resolves (watch.resolveAfter). */
  resolveAfterMs: number;
  remindEveryMs?: number;
  /**
   * Whose incidents `incidents` are right now (with a standby: the shared desk while active, this
   * instance's own store while standing by). When it changes, the open incidents are read again
   * before anything else is done with them: a number from one side means nothing on the other.
   */
  scope?: () => string;
}

/** What describe gathered: the alert's lines and, kept with the incident, the evidence. */
export interface Described {
  /** The lines under the alert's headline (the cause; what to do is the numbered actions). */
  lines: string[];
  /** What is kept for `/incident`: the cause, error lines, vitals (bounded and masked by the desk). */
  evidence: string[];
}

export interface Raise {
  /** One line, masked, e.g. "6 restarts in 41 min". */
  summary: string;
  /**
   * Only called when an incident opens, before its transaction. Plain lines are the alert's
   * lines and its evidence both; {@link Described} keeps more evidence than the alert shows.
   */
  describe?: () => Promise<string[] | Described>;
}

export const KIND_ICONS: Record<string, string> = {
  restart_storm: "🔁",
  cpu: "🔥",
  disk: "💾",
  disk_critical: "💾",
  memory: "🧠",
  unreachable: "📡",
  dns: "🌐",
  app_down: "⛔",
};

const keyOf = (k: IncidentKey) => `${k.host}\u0000${k.app}\u0000${k.kind}`;

export class IncidentDesk {
  private readonly t: Translate;
  private readonly remindEveryMs: number;
  /** Serializes raises and sweeps: two events for one app must not race to open two alerts. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Open (and acknowledged) incidents by key; undefined until loaded from the store. */
  private open?: Map<string, Incident>;
  /** The scope `open` was loaded in. */
  private openScope?: string;
  /** The last reminder bucket queued per incident uid, so a raise does not ask the store each time. */
  private readonly reminded = new Map<string, number>();

  constructor(private readonly o: DeskOptions) {
    this.t = translator(o.language);
    this.remindEveryMs = o.remindEveryMs ?? 30 * 60_000;
  }

  /** The condition holds now: open (and alert) or keep open (and maybe remind). */
  raise(key: IncidentKey, r: Raise): Promise<Incident> {
    return this.serial(async () => {
      failpoint("desk.after-condition");
      const open = await this.openIncidents();
      const summary = redact(r.summary);
      const known = open.get(keyOf(key));
      if (known) {
        const now = this.o.clock.now();
        this.o.state.set(`seen:${keyOf(key)}`, now);
        await this.remind(known, summary, now);
        return known;
      }
      const now = this.o.clock.now();
      const { lines: details, evidence } = await this.describe(r, key); // before the transaction, never inside or after
      failpoint("desk.after-describe");
      let queued = false; // the callback runs inside the transaction, only when the incident is new
      const { incident, created } = await this.o.incidents.openOrGet({ ...key, summary, at: now, evidence }, (i) => {
        const draft = this.draft(i, "open", this.openText(i, summary, details));
        queued = draft !== null;
        return draft;
      });
      failpoint("desk.after-open");
      open.set(keyOf(key), incident);
      this.o.state.set(`seen:${keyOf(key)}`, now);
      if (created) this.o.log.warn({ ...key, id: incident.id, summary }, "incident opened");
      if (queued) this.o.alerts.queued();
      return incident;
    });
  }

  /** The condition was seen again (e.g. one more restart): an open incident stays open. */
  async touch(key: IncidentKey): Promise<void> {
    if ((await this.openIncidents()).has(keyOf(key))) this.o.state.set(`seen:${keyOf(key)}`, this.o.clock.now());
  }

  /** The condition is over right now (a host answers again): resolve at once. */
  clear(key: IncidentKey): Promise<void> {
    return this.serial(async () => {
      const incident = (await this.openIncidents()).get(keyOf(key));
      if (incident) await this.resolve(incident, this.o.clock.now());
    });
  }

  /** Resolves every incident quiet for `resolveAfter`; `filter` limits it to some. */
  sweep(filter: (i: Incident) => boolean = () => true): Promise<Incident[]> {
    return this.serial(async () => {
      const now = this.o.clock.now();
      const resolved: Incident[] = [];
      for (const incident of [...(await this.openIncidents()).values()]) {
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

  /**
   * "I'm on it": open -> acknowledged, and the group told in the incident's thread (its opening
   * alert edited while WhatsApp allows, else a reply to it) in the same transaction. Null when
   * there is no such incident; an incident already acknowledged or resolved comes back unchanged
   * and nothing is sent.
   *
   * @example
   * await desk.acknowledge(12, "Oki"); // the alert of #12 now reads "👀 Acknowledged by Oki"
   */
  acknowledge(id: number, by: string): Promise<Incident | null> {
    return this.serial(async () => {
      let queued = false;
      const incident = await this.o.incidents.ack(id, by, this.o.clock.now(), (i) => {
        const text = this.t("alert.acked", { id: i.id, what: this.what(i), who: by });
        const draft = this.draft(i, "ack", text, this.t("alert.edit_acked", { who: by }));
        queued = draft !== null;
        return draft;
      });
      if (incident && this.open?.has(keyOf(incident))) this.open.set(keyOf(incident), incident);
      if (queued) this.o.alerts.queued();
      return incident;
    });
  }

  /**
   * Records on an incident's timeline that someone ran one of its actions (the pipeline's
   * `/do`, after the command succeeded). False when there is no such incident.
   *
   * @example
   * await desk.recordAction(12, "/restart bot-kjp stb", "Oki");
   */
  recordAction(id: number, command: string, by: string): Promise<boolean> {
    return this.o.incidents.addEvent(id, { at: this.o.clock.now(), kind: "action", by, detail: redact(command) });
  }

  /** Is `host` or `app` muted right now? */
  muted(key: IncidentKey): boolean {
    const now = this.o.clock.now();
    return [key.host, key.app].filter(Boolean).some((target) => (this.o.state.get<number>(`mute:${target}`) ?? 0) > now);
  }

  /** The open incidents, loaded once; a failed load is retried by the next call. */
  private async openIncidents(): Promise<Map<string, Incident>> {
    const scope = this.o.scope?.();
    if (this.openScope !== scope) {
      // Another side's incidents now: what was loaded (and reminded) means nothing here.
      this.open = undefined;
      this.reminded.clear();
      this.openScope = scope;
    }
    if (this.open) return this.open;
    const loaded = new Map((await this.o.incidents.listOpen()).map((i) => [keyOf(i), i]));
    // A concurrent call (touch is not serialized) may have loaded it meanwhile: keep the first,
    // unless the scope moved on while this one read (then this read is the other side's).
    if (this.openScope === scope) this.open ??= loaded;
    return this.open ?? loaded;
  }

  private async remind(incident: Incident, summary: string, now: number): Promise<void> {
    const bucket = Math.floor((now - incident.openedAt) / this.remindEveryMs);
    if (bucket < 1 || (this.reminded.get(incident.uid) ?? 0) >= bucket) return;
    // Reads the incident's state in the same transaction: an acknowledged one gets no reminder.
    const queued = await this.o.incidents.notify(incident.id, now, (i) =>
      i.state === "open" ? this.draft(i, `remind:${bucket}`, this.remindText(i, summary, now)) : null,
    );
    this.reminded.set(incident.uid, bucket);
    if (queued) this.o.alerts.queued();
  }

  private async resolve(incident: Incident, now: number, quietMs?: number): Promise<void> {
    const quiet = quietMs === undefined ? this.t("alert.back") : this.t("alert.quiet", { duration: formatDuration(quietMs) });
    let changed = false; // the callback runs inside the transaction, only when this call resolved it
    let queued = false;
    await this.o.incidents.resolve(
      incident.id,
      now,
      (i) => {
        changed = true;
        const lasted = formatDuration(now - i.openedAt);
        const text = this.t("alert.resolved", { id: i.id, what: this.what(i), quiet, lasted });
        const acked = i.acknowledgedBy ? this.t("alert.edit_acked_by", { who: i.acknowledgedBy }) : "";
        const draft = this.draft(i, "resolved", text, this.t("alert.edit_resolved", { quiet, lasted, acked }));
        queued = draft !== null;
        return draft;
      },
      quietMs,
    );
    failpoint("desk.after-resolve");
    this.open?.delete(keyOf(incident));
    this.reminded.delete(incident.uid);
    this.o.state.delete(`seen:${keyOf(incident)}`);
    if (changed) this.o.log.info({ id: incident.id, host: incident.host, app: incident.app, kind: incident.kind }, "incident resolved");
    if (queued) this.o.alerts.queued();
  }

  /**
   * The outbox row for a phase of an incident, or null when its target is muted. Runs inside the
   * transaction. Every phase after the opening continues the opening alert's thread; `edit` is
   * the status line that alert gets on top while it can still be edited (none: a reply always).
   */
  private draft(incident: Incident, phase: string, text: string, edit?: string): ReturnType<AlertFor> {
    if (this.muted(incident)) {
      this.o.log.info({ id: incident.id, phase }, "alert muted");
      return null;
    }
    const thread = phase === "open" ? null : `incident:${incident.uid}:open`;
    return { chatId: this.o.alerts.chatId, text: redact(text), dedupeKey: `incident:${incident.uid}:${phase}`, thread, edit: edit === undefined ? null : redact(edit) };
  }

  /**
   * The cause and the evidence, gathered before anything is written; a failure leaves them
   * out, the alert goes anyway. Bounded, the evidence keeps its first two lines (the cause comes
   * first) and the newest of the rest.
   */
  private async describe(r: Raise, key: IncidentKey): Promise<Described> {
    try {
      const got = (await r.describe?.()) ?? [];
      const d = Array.isArray(got) ? { lines: got, evidence: got } : got;
      return { lines: d.lines, evidence: boundEvidence(d.evidence, 2) };
    } catch (err) {
      this.o.log.warn({ err, ...key }, "could not describe incident");
      return { lines: [], evidence: [] };
    }
  }

  private openText(incident: Incident, summary: string, details: string[]): string {
    const actions = actionsFor(incident);
    return [
      `${KIND_ICONS[incident.kind] ?? "🚨"} *${this.kindName(incident.kind)}* · ${this.where(incident)}`,
      summary,
      ...details,
      ...(actions.length
        ? [this.t("alert.actions", { actions: renderActions(actions) }), this.t("alert.footer_actions", { id: incident.id })]
        : [this.t("alert.footer", { id: incident.id })]),
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
