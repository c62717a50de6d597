/**
 * Incidents that survive a store that cannot be written. Normally every change commits with
 * its alert in one SQLite transaction (AlertingIncidents); when that transaction fails for a
 * storage reason (disk full, read-only), the change is kept in memory instead and its alert is
 * handed to `sendDirect` (the transport, past the outbox): a new incident gets a number and its
 * alert, a stored one resolves, a reminder goes out, and every read sees it.
 * Its evidence and timeline events are kept with it; an event for a stored incident that the
 * store refused is kept too, and read together with the stored ones.
 * Once the store can write again, {@link IncidentsWithMemory.adopt} writes what memory kept
 * into it (same uid, so Supabase gets the same incident) and memory is empty again.
 *
 * @example
 * const incidents = new IncidentsWithMemory(local.incidents, (d) => direct.send(d.chatId, d.text, d.dedupeKey));
 * await incidents.openOrGet({ host: "stb", app: "web", kind: "restart_storm", summary, at }, alertFor); // works on a full disk
 * await incidents.adopt(); // after the disk has room: into the store
 */
import { randomUUID } from "node:crypto";
import { isStorageError } from "./sqlite/db.js";
import type { AlertFor, AlertingIncidents, Incident, IncidentEvent, IncidentKey, IncidentTimeline, OutboxDraft } from "./store.js";

type Draft = OutboxDraft & { dedupeKey: string };

const sameKey = (a: IncidentKey, b: IncidentKey) => a.host === b.host && a.app === b.app && a.kind === b.kind;
const byOpened = (a: Incident, b: Incident) => a.openedAt - b.openedAt || a.id - b.id;

/** A change kept in memory: a new incident, or a stored one's resolution the store refused. */
interface Kept {
  incident: Incident;
  /** True when the incident is in the store already and only its new state is kept. */
  stored: boolean;
  /** Not stored: its evidence. */
  evidence: string[];
  /** Events the store does not have yet (all of them when not stored). */
  events: IncidentEvent[];
  /** The quiet time of a resolution kept here, for its `resolved` event at adoption. */
  quietMs?: number;
}

export class IncidentsWithMemory implements AlertingIncidents {
  private readonly memory = new Map<number, Kept>();
  /**
   * Memory numbers whose incident the store numbered differently when it was adopted: callers
   * (the desk, `/ack`) still hold the number the alert showed.
   */
  private readonly aliases = new Map<number, number>();
  /** Events for stored incidents (not otherwise in memory) that the store refused, by number. */
  private readonly extra = new Map<number, IncidentEvent[]>();

  constructor(
    private readonly store: AlertingIncidents,
    private readonly sendDirect: (draft: Draft) => Promise<unknown>,
  ) {}

  /** Changes that are only in memory (0 while the store takes every write). */
  get inMemory(): number {
    return this.memory.size + this.extra.size;
  }

  async openOrGet(o: IncidentKey & { summary: string; at: number; uid?: string; evidence?: readonly string[] }, alert?: AlertFor): Promise<{ incident: Incident; created: boolean }> {
    const kept = [...this.memory.values()].find((k) => !k.stored && k.incident.state !== "resolved" && sameKey(k.incident, o));
    if (kept) return { incident: { ...kept.incident }, created: false };
    try {
      return await this.store.openOrGet(o, alert);
    } catch (err) {
      if (!isStorageError(err)) throw err;
      const incident: Incident = {
        id: await this.nextId(),
        uid: o.uid ?? randomUUID(),
        host: o.host,
        app: o.app,
        kind: o.kind,
        state: "open",
        summary: o.summary,
        openedAt: o.at,
        acknowledgedAt: null,
        acknowledgedBy: null,
        resolvedAt: null,
      };
      this.memory.set(incident.id, { incident, stored: false, evidence: [...(o.evidence ?? [])], events: [{ at: o.at, kind: "opened", by: null, detail: null }] });
      await this.direct(incident, alert);
      return { incident: { ...incident }, created: true };
    }
  }

  async ack(id: number, by: string, at: number, alert?: AlertFor): Promise<Incident | null> {
    const kept = this.memory.get(id);
    if (!kept) return this.store.ack(this.real(id), by, at, alert);
    if (kept.incident.state !== "open") return { ...kept.incident };
    Object.assign(kept.incident, { state: "acknowledged", acknowledgedAt: at, acknowledgedBy: by });
    kept.events.push({ at, kind: "acknowledged", by, detail: null });
    await this.direct(kept.incident, alert);
    return { ...kept.incident };
  }

  async resolve(id: number, at: number, alert?: AlertFor, quietMs?: number): Promise<Incident | null> {
    const kept = this.memory.get(id);
    const resolved: IncidentEvent = { at, kind: "resolved", by: null, detail: quietMs === undefined ? null : String(Math.round(quietMs)) };
    if (kept) {
      if (kept.incident.state === "resolved") return { ...kept.incident };
      Object.assign(kept.incident, { state: "resolved", resolvedAt: at });
      if (kept.stored) kept.quietMs = quietMs;
      else kept.events.push(resolved);
      await this.direct(kept.incident, alert);
      return { ...kept.incident };
    }
    try {
      return await this.store.resolve(this.real(id), at, alert, quietMs);
    } catch (err) {
      if (!isStorageError(err)) throw err;
      const stored = await this.store.get(this.real(id));
      if (!stored || stored.state === "resolved") return stored;
      const incident: Incident = { ...stored, state: "resolved", resolvedAt: at };
      // The `resolved` event is written by the store's resolve at adoption, with this quiet time.
      this.memory.set(id, { incident, stored: true, evidence: [], events: this.extra.get(id) ?? [], quietMs });
      this.extra.delete(id);
      await this.direct(incident, alert);
      return { ...incident };
    }
  }

  async notify(id: number, at: number, alert: AlertFor): Promise<boolean> {
    const reminded: IncidentEvent = { at, kind: "reminded", by: null, detail: null };
    const kept = this.memory.get(id);
    if (kept) {
      const sent = await this.direct(kept.incident, alert);
      if (sent) kept.events.push(reminded);
      return sent;
    }
    try {
      return await this.store.notify(this.real(id), at, alert);
    } catch (err) {
      if (!isStorageError(err)) throw err;
      const stored = await this.store.get(this.real(id));
      const sent = stored ? await this.direct(stored, alert) : false;
      if (sent) this.keepExtra(id, reminded);
      return sent;
    }
  }

  async addEvent(id: number, event: IncidentEvent): Promise<boolean> {
    const kept = this.memory.get(id);
    if (kept) {
      kept.events.push({ ...event });
      return true;
    }
    try {
      return await this.store.addEvent(this.real(id), event);
    } catch (err) {
      if (!isStorageError(err)) throw err;
      if (!(await this.store.get(this.real(id)))) return false;
      this.keepExtra(id, { ...event });
      return true;
    }
  }

  async timeline(id: number): Promise<IncidentTimeline | null> {
    const kept = this.memory.get(id);
    if (kept && !kept.stored) return { evidence: [...kept.evidence], events: kept.events.map((e) => ({ ...e })) };
    const stored = await this.store.timeline(this.real(id));
    if (!stored) return null;
    const more = [...(kept?.events ?? []), ...(this.extra.get(id) ?? [])];
    if (kept?.incident.resolvedAt != null) {
      const quiet = kept.quietMs;
      more.push({ at: kept.incident.resolvedAt, kind: "resolved", by: null, detail: quiet === undefined ? null : String(Math.round(quiet)) });
    }
    return { evidence: stored.evidence, events: [...stored.events, ...more].sort((a, b) => a.at - b.at) };
  }

  async get(id: number): Promise<Incident | null> {
    const kept = this.memory.get(id);
    return kept ? { ...kept.incident } : this.store.get(this.real(id));
  }

  async listOpen(): Promise<Incident[]> {
    const stored = (await this.store.listOpen()).filter((i) => !this.memory.has(i.id));
    const kept = [...this.memory.values()].filter((k) => k.incident.state !== "resolved").map((k) => ({ ...k.incident }));
    return [...stored, ...kept].sort(byOpened);
  }

  async listSince(since: number): Promise<Incident[]> {
    const stored = (await this.store.listSince(since)).filter((i) => !this.memory.has(i.id));
    const kept = [...this.memory.values()]
      .map((k) => k.incident)
      .filter((i) => i.openedAt >= since || (i.resolvedAt ?? -1) >= since)
      .map((i) => ({ ...i }));
    return [...stored, ...kept].sort(byOpened);
  }

  /**
   * Writes what memory kept into the store, oldest first, without alerts (they went out
   * directly); stops at the first failure and keeps the rest. Returns how many were written.
   * The store numbers an adopted incident itself (consecutively, so normally the same number);
   * when it differs, the memory number stays an alias of the stored one.
   */
  async adopt(): Promise<number> {
    let written = 0;
    for (const entry of [...this.memory.values()].sort((a, b) => byOpened(a.incident, b.incident))) {
      const { incident: kept, stored } = entry;
      const id = stored ? kept.id : (await this.store.openOrGet({ ...kept, at: kept.openedAt, evidence: entry.evidence })).incident.id;
      if (id !== kept.id) this.aliases.set(kept.id, id);
      if (!stored && kept.acknowledgedAt !== null) await this.store.ack(id, kept.acknowledgedBy ?? "", kept.acknowledgedAt);
      // opened, acknowledged and resolved are written by the store's own changes; the rest here.
      for (const e of entry.events) if (e.kind === "reminded" || e.kind === "action") await this.store.addEvent(id, e);
      const resolved = entry.events.find((e) => e.kind === "resolved");
      const quietMs = stored ? entry.quietMs : resolved?.detail ? Number(resolved.detail) : undefined;
      if (kept.resolvedAt !== null) await this.store.resolve(id, kept.resolvedAt, undefined, quietMs);
      this.memory.delete(kept.id);
      written++;
    }
    for (const [id, events] of [...this.extra]) {
      for (const e of events) await this.store.addEvent(this.real(id), e);
      this.extra.delete(id);
    }
    return written;
  }

  private keepExtra(id: number, event: IncidentEvent): void {
    const list = this.extra.get(id) ?? [];
    list.push(event);
    this.extra.set(id, list);
  }

  private real(id: number): number {
    return this.aliases.get(id) ?? id;
  }

  /** Sends the change's alert past the outbox; false when there is none (muted). */
  private async direct(incident: Incident, alert?: AlertFor): Promise<boolean> {
    const draft = alert?.({ ...incident });
    if (!draft) return false;
    await this.sendDirect(draft);
    return true;
  }

  /** The next number after every incident the store and memory know (reads work on a full disk). */
  private async nextId(): Promise<number> {
    const stored = await this.store.listSince(0).catch(() => [] as Incident[]);
    return Math.max(0, ...stored.map((i) => i.id), ...this.memory.keys()) + 1;
  }
}
