/**
 * The alert group's metadata, cached. Baileys looks up a group's participants before every
 * message it sends there (to encrypt for each device) — an alert, a reply, a ⏳ reaction —
 * unless `cachedGroupMetadata` answers; without a cache a burst of alerts is a burst of
 * group queries, the classic road to `rate-overlimit` (429) and to a ban. Fetched when the
 * socket opens, refreshed on `groups.update` / `group-participants.update`, and never
 * re-fetched more often than every few minutes.
 *
 * It also answers the question every operator has on day one: is Jaga in the group, may it
 * post there (announcement-only groups), and which configured admins are members?
 *
 * @example
 * const group = new AlertGroupCache({ jid: config.alerts.group, clock, log });
 * makeWASocket({ cachedGroupMetadata: (jid) => group.cached(jid) });
 * group.report({ me, admins }); // { member: true, canPost: true, adminsIn: [...], adminsMissing: [...] }
 */
import type { GroupMetadata, GroupParticipant, WASocket } from "@whiskeysockets/baileys";
import { jidDecode } from "./lib.js";
import type { Clock } from "../../clock.js";
import type { Logger } from "../../log.js";

export interface GroupReport {
  jid: string;
  /** null until the metadata was fetched once. */
  subject: string | null;
  member: boolean;
  /** Member, and the group is open to everyone or Jaga is one of its admins. */
  canPost: boolean;
  announceOnly: boolean;
  adminsIn: string[];
  adminsMissing: string[];
  fetchedAt: number | null;
  lastError: string | null;
}

export interface AlertGroupOptions {
  jid: string;
  clock: Clock;
  log: Logger;
  /** At most one fetch per this long (default 3 min). */
  minRefreshMs?: number;
}

type Fetch = (jid: string) => Promise<GroupMetadata>;

export class AlertGroupCache {
  private meta?: GroupMetadata;
  private fetchedAt: number | null = null;
  private lastError: string | null = null;
  private fetching?: Promise<void>;
  private pending?: AbortController;
  private fetcher?: Fetch;

  constructor(private readonly o: AlertGroupOptions) {}

  /** Baileys' `cachedGroupMetadata`: the alert group from the cache, others not cached. */
  cached(jid: string): Promise<GroupMetadata | undefined> {
    return Promise.resolve(jid === this.o.jid ? this.meta : undefined);
  }

  /** The socket opened: fetch now (through this socket from now on). */
  opened(sock: Pick<WASocket, "groupMetadata">): Promise<void> {
    this.fetcher = (jid) => sock.groupMetadata(jid);
    return this.fetch();
  }

  /** `groups.update` / `group-participants.update` named these groups. */
  changed(ids: readonly (string | undefined)[]): void {
    if (!ids.includes(this.o.jid) || !this.fetcher) return;
    const wait = this.fetchedAt === null ? 0 : this.fetchedAt + (this.o.minRefreshMs ?? 180_000) - this.o.clock.now();
    if (wait <= 0) return void this.fetch();
    if (this.pending) return; // one refresh already planned
    const pending = new AbortController();
    this.pending = pending;
    this.o.clock.sleep(wait, pending.signal).then(
      () => {
        this.pending = undefined;
        void this.fetch();
      },
      () => undefined,
    );
  }

  stop(): void {
    this.pending?.abort();
    this.pending = undefined;
  }

  /** Where Jaga stands in the group; `me` are Jaga's own user parts (phone number, LID). */
  report(me: readonly string[], admins: readonly { name: string; phone: string }[], phoneOf: (p: GroupParticipant) => string | undefined): GroupReport {
    const m = this.meta;
    const participants = m?.participants ?? [];
    const self = participants.find((p) => idsOf(p).some((id) => me.includes(id)));
    const phones = new Set(participants.map(phoneOf).filter((p): p is string => Boolean(p)));
    const announceOnly = Boolean(m?.announce);
    const member = Boolean(self);
    return {
      jid: this.o.jid,
      subject: m?.subject ?? null,
      member,
      announceOnly,
      canPost: member && (!announceOnly || Boolean(self?.admin)),
      adminsIn: admins.filter((a) => phones.has(a.phone)).map((a) => a.name),
      adminsMissing: admins.filter((a) => !phones.has(a.phone)).map((a) => a.name),
      fetchedAt: this.fetchedAt,
      lastError: this.lastError,
    };
  }

  private fetch(): Promise<void> {
    this.fetching ??= (async () => {
      try {
        this.meta = await this.fetcher!(this.o.jid);
        this.lastError = null;
      } catch (err) {
        // Not a member (403/404), or offline: keep what we had; the report says why.
        this.lastError = err instanceof Error ? err.message.slice(0, 120) : String(err);
        this.o.log.warn({ group: this.o.jid, reason: this.lastError }, "could not read the alert group");
      } finally {
        this.fetchedAt = this.o.clock.now();
        this.fetching = undefined;
      }
    })();
    return this.fetching;
  }
}

/** Every user part a participant is known by (id, phone number, LID). */
export function idsOf(p: GroupParticipant): string[] {
  return [p.id, p.phoneNumber, p.lid].map((j) => (j ? jidDecode(j)?.user : undefined)).filter((u): u is string => Boolean(u));
}
