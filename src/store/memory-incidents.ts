/**
 * Incidents that survive a store that cannot be written: when opening an incident fails for a
 * storage reason (disk full, read-only), the incident lives in memory instead — it gets a
 * number, alerts go out, it resolves — and every read sees it. Once the store can write again,
 * {@link IncidentsWithMemory.adopt} writes them into it (same uid, so Supabase gets the same
 * incident) and memory is empty again.
 *
 * @example
 * const incidents = new IncidentsWithMemory(store.incidents);
 * await incidents.openOrGet({ host: "stb", app: "web", kind: "restart_storm", summary, at }); // works on a full disk
 * await incidents.adopt(); // after the disk has room: into the store
 */
import { randomUUID } from "node:crypto";
import { isStorageError } from "./sqlite/db.js";
import type { Incident, IncidentKey, Incidents } from "./store.js";

const sameKey = (a: IncidentKey, b: IncidentKey) => a.host === b.host && a.app === b.app && a.kind === b.kind;
const byOpened = (a: Incident, b: Incident) => a.openedAt - b.openedAt || a.id - b.id;

export class IncidentsWithMemory implements Incidents {
  private readonly memory = new Map<number, Incident>();

  constructor(private readonly store: Incidents) {}

  /** Incidents that are only in memory (0 while the store takes every write). */
  get inMemory(): number {
    return this.memory.size;
  }

  async openOrGet(o: IncidentKey & { summary: string; at: number; uid?: string }): Promise<{ incident: Incident; created: boolean }> {
    const kept = [...this.memory.values()].find((i) => i.state !== "resolved" && sameKey(i, o));
    if (kept) return { incident: kept, created: false };
    try {
      return await this.store.openOrGet(o);
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
      this.memory.set(incident.id, incident);
      return { incident, created: true };
    }
  }

  ack(id: number, by: string, at: number): Promise<Incident | null> {
    const kept = this.memory.get(id);
    if (!kept) return this.store.ack(id, by, at);
    if (kept.state === "open") Object.assign(kept, { state: "acknowledged", acknowledgedAt: at, acknowledgedBy: by });
    return Promise.resolve({ ...kept });
  }

  resolve(id: number, at: number): Promise<Incident | null> {
    const kept = this.memory.get(id);
    if (!kept) return this.store.resolve(id, at);
    if (kept.state !== "resolved") Object.assign(kept, { state: "resolved", resolvedAt: at });
    return Promise.resolve({ ...kept });
  }

  async get(id: number): Promise<Incident | null> {
    const kept = this.memory.get(id);
    return kept ? { ...kept } : this.store.get(id);
  }

  async listOpen(): Promise<Incident[]> {
    const kept = [...this.memory.values()].filter((i) => i.state !== "resolved");
    const stored = await this.store.listOpen();
    return kept.length ? [...stored, ...kept.map((i) => ({ ...i }))].sort(byOpened) : stored;
  }

  async listSince(since: number): Promise<Incident[]> {
    const kept = [...this.memory.values()].filter((i) => i.openedAt >= since || (i.resolvedAt ?? -1) >= since);
    const stored = await this.store.listSince(since);
    return kept.length ? [...stored, ...kept.map((i) => ({ ...i }))].sort(byOpened) : stored;
  }

  /**
   * Writes the incidents kept in memory into the store, oldest first, with their state; stops
   * at the first failure and keeps the rest. Returns how many were written.
   */
  async adopt(): Promise<number> {
    let written = 0;
    for (const kept of [...this.memory.values()].sort(byOpened)) {
      const { incident } = await this.store.openOrGet({ ...kept, at: kept.openedAt });
      if (kept.acknowledgedAt !== null) await this.store.ack(incident.id, kept.acknowledgedBy ?? "", kept.acknowledgedAt);
      if (kept.resolvedAt !== null) await this.store.resolve(incident.id, kept.resolvedAt);
      this.memory.delete(kept.id);
      written++;
    }
    return written;
  }

  /** The next number after every incident the store and memory know (reads work on a full disk). */
  private async nextId(): Promise<number> {
    const stored = await this.store.listSince(0).catch(() => [] as Incident[]);
    return Math.max(0, ...stored.map((i) => i.id), ...this.memory.keys()) + 1;
  }
}
