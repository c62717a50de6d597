/**
 * Incidents that survive a store that cannot be written. Normally every change commits with
 * its alert in one SQLite transaction (AlertingIncidents); when that transaction fails for a
 * storage reason (disk full, read-only), the change is kept in memory instead and its alert is
 * handed to `sendDirect` (the transport, past the outbox): a new incident gets a number and its
 * alert, a stored one resolves, a reminder goes out, and every read sees it.
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
import type { AlertFor, AlertingIncidents, Incident, IncidentKey, OutboxDraft } from "./store.js";

type Draft = OutboxDraft & { dedupeKey: string };

const sameKey = (a: IncidentKey, b: IncidentKey) => a.host === b.host && a.app === b.app && a.kind === b.kind;
const byOpened = (a: Incident, b: Incident) => a.openedAt - b.openedAt || a.id - b.id;

/** A change kept in memory: a new incident, or a stored one's resolution the store refused. */
interface Kept {
  incident: Incident;
  /** True when the incident is in the store already and only its new state is kept. */
  stored: boolean;
}

export class IncidentsWithMemory implements AlertingIncidents {
  private readonly memory = new Map<number, Kept>();
  /**
   * Memory numbers whose incident the store numbered differently when it was adopted: callers
   * (the desk, `/ack`) still hold the number the alert showed.
   */
  private readonly aliases = new Map<number, number>();

  constructor(
    private readonly store: AlertingIncidents,
    private readonly sendDirect: (draft: Draft) => Promise<unknown>,
  ) {}

  /** Changes that are only in memory (0 while the store takes every write). */
  get inMemory(): number {
    return this.memory.size;
  }

  async openOrGet(o: IncidentKey & { summary: string; at: number; uid?: string }, alert?: AlertFor): Promise<{ incident: Incident; created: boolean }> {
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
      this.memory.set(incident.id, { incident, stored: false });
      await this.direct(incident, alert);
      return { incident: { ...incident }, created: true };
    }
  }

  async ack(id: number, by: string, at: number, alert?: AlertFor): Promise<Incident | null> {
    const kept = this.memory.get(id);
    if (!kept) return this.store.ack(this.real(id), by, at, alert);
    if (kept.incident.state !== "open") return { ...kept.incident };
    Object.assign(kept.incident, { state: "acknowledged", acknowledgedAt: at, acknowledgedBy: by });
    await this.direct(kept.incident, alert);
    return { ...kept.incident };
  }

  async resolve(id: number, at: number, alert?: AlertFor): Promise<Incident | null> {
    const kept = this.memory.get(id);
    if (kept) {
      if (kept.incident.state === "resolved") return { ...kept.incident };
      Object.assign(kept.incident, { state: "resolved", resolvedAt: at });
      await this.direct(kept.incident, alert);
      return { ...kept.incident };
    }
    try {
      return await this.store.resolve(this.real(id), at, alert);
    } catch (err) {
      if (!isStorageError(err)) throw err;
      const stored = await this.store.get(this.real(id));
      if (!stored || stored.state === "resolved") return stored;
      const incident: Incident = { ...stored, state: "resolved", resolvedAt: at };
      this.memory.set(id, { incident, stored: true });
      await this.direct(incident, alert);
      return { ...incident };
    }
  }

  async notify(id: number, at: number, alert: AlertFor): Promise<boolean> {
    const kept = this.memory.get(id);
    if (kept) return this.direct(kept.incident, alert);
    try {
      return await this.store.notify(this.real(id), at, alert);
    } catch (err) {
      if (!isStorageError(err)) throw err;
      const stored = await this.store.get(this.real(id));
      return stored ? this.direct(stored, alert) : false;
    }
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
    for (const { incident: kept, stored } of [...this.memory.values()].sort((a, b) => byOpened(a.incident, b.incident))) {
      const id = stored ? kept.id : (await this.store.openOrGet({ ...kept, at: kept.openedAt })).incident.id;
      if (id !== kept.id) this.aliases.set(kept.id, id);
      if (!stored && kept.acknowledgedAt !== null) await this.store.ack(id, kept.acknowledgedBy ?? "", kept.acknowledgedAt);
      if (kept.resolvedAt !== null) await this.store.resolve(id, kept.resolvedAt);
      this.memory.delete(kept.id);
      written++;
    }
    return written;
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
