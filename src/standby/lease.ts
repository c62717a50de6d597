/**
 * The lease that makes one Jaga instance of several the active one (see the migration
 * 20261215080000_standby_lease.sql for the row and the one statement that claims it).
 *
 * A {@link LeaseKeeper} claims the lease, renews it every `ttl/3`, and watches the others:
 *
 *  - **Held** from a successful claim until its *local* deadline: the moment the claim request
 *    was sent, plus the ttl, minus a safety margin. The database counts the ttl from when it ran
 *    the statement, which is later, so the holder always lets go before the database could hand
 *    the lease to anyone else — by the margin at least, whatever the network did meanwhile. No
 *    clocks are compared: each side measures its own interval.
 *  - **Lost** when renewals fail until that deadline (a partition: the database cannot be
 *    reached), when the database says someone else holds it, when a write is refused by fencing
 *    ({@link LeaseKeeper.fenced}), or — on a direct connection — the moment the session holding
 *    the advisory lock ends.
 *  - **Standby**: asks every `poll` (1 s) whether the lease is free, so a handover (SIGTERM,
 *    {@link LeaseKeeper.release}) is taken within a second and an expired lease the moment it
 *    expires. On a direct connection it also tries the advisory lock; it gets it the instant the
 *    holder's session dies, and then the claim statement frees the lease at once (its recorded
 *    session is gone), without waiting for the expiry.
 *  - **Watching the active one**: a standby that sees the holder's `renewed_at` stand still for
 *    two renewal periods reports it silent ({@link LeaseEvent} `silent`) — before it can take
 *    over — and heard again when it moves.
 *
 * Why no library: the Node packages for PostgreSQL locks (`advisory-lock` and the like) wrap
 * `pg_advisory_lock` on a pool. That covers neither a lease claimed over HTTP (PostgREST,
 * Supabase's API), nor an epoch to fence writes with, nor a lock held on one known session that
 * the lease row can name; what is left for them is one `select pg_try_advisory_lock($1)`.
 *
 * @example
 * const keeper = new LeaseKeeper({ db, lease: "jaga", instance: "box-a", ttlMs: 15_000, clock, log });
 * keeper.onChange((e) => { if (e.type === "acquired") startActive(e.epoch); if (e.type === "lost") stopActive(); });
 * keeper.start();
 * await keeper.release(); // SIGTERM: after the socket is closed
 */
import { randomBytes } from "node:crypto";
import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import { LogLimit } from "../log-limit.js";
import { withDeadline } from "../policy/timeout.js";
import { redact } from "../text.js";
import type { SharedDb } from "./db.js";

/** How a previous term ended, as the database saw it when the lease changed hands. */
export type TermEnd = "released" | "expired" | "session";

export type LossReason = "renewal-failed" | "taken" | "fenced" | "session-lost";

export interface PreviousTerm {
  owner: string;
  instance: string;
  /** Epoch ms of its last renewal: when it was last heard of. */
  lastRenewedAt: number;
  end: TermEnd;
}

export type LeaseEvent =
  | { type: "acquired"; epoch: number; at: number; previous: PreviousTerm | null }
  | { type: "lost"; epoch: number; at: number; reason: LossReason; detail: string }
  | { type: "released"; epoch: number; at: number }
  | { type: "silent"; holder: Holder; at: number }
  | { type: "heard"; holder: Holder; at: number };

/** Who holds the lease, as last read. Times are epoch ms on the database's clock. */
export interface Holder {
  owner: string;
  instance: string;
  epoch: number;
  renewedAt: number;
  expiresAt: number;
}

/** Another instance of the same Jaga, from its last beat. */
export interface Member {
  owner: string;
  instance: string;
  role: string;
  startedAt: number;
  seenAt: number;
  /** How long ago it was last heard of, when read (ms). */
  silentForMs: number;
  /** This process. */
  self: boolean;
}

export interface LeaseStatus {
  role: "active" | "standby" | "stopped";
  lease: string;
  instance: string;
  owner: string;
  /** The epoch this instance holds; null unless active. */
  epoch: number | null;
  /** Epoch ms: active or standby since. */
  since: number;
  /** Through which path: PostgREST or a direct connection (with the advisory lock). */
  via: "postgrest" | "direct";
  holder: Holder | null;
  /** True when the holder seems gone (no renewal for two periods). */
  holderSilent: boolean;
  members: Member[];
  /** The last error talking to the database, masked; null after a success. */
  lastError: string | null;
}

export interface LeaseOptions {
  db: SharedDb;
  /** The lease's name: every instance of one Jaga uses the same. */
  lease: string;
  /** This instance's name (config `standby.name`). */
  instance: string;
  ttlMs: number;
  clock: Clock;
  log: Logger;
  /** How often a standby asks (default 1 s, never more than a renewal period). */
  pollMs?: number;
  /** Given up this long before the ttl runs out (default ttl/5, at least 500 ms). */
  marginMs?: number;
  /** Wait this long after taking a lease whose holder's session died, before acting (default 1 s, at most the margin). */
  sessionGraceMs?: number;
  /** For the owner's boot id (tests pin it). */
  bootId?: string;
}

/** Timestamps: ISO text through PostgREST, Date objects through pg. */
type Ts = string | Date;

interface ClaimRow {
  held: boolean;
  epoch: number | string;
  owner: string;
  acquired_at: Ts;
  renewed_at: Ts;
  expires_at: Ts;
  prev_owner: string | null;
  prev_renewed_at: Ts | null;
  prev_end: TermEnd | null;
  db_now: Ts;
}

interface BeatRow {
  owner: string;
  role: string;
  started_at: Ts;
  seen_at: Ts;
  db_now: Ts;
}

/**
 * The instance name in an owner token (`box-a#3f9c…` → `box-a`).
 *
 * @example
 * instanceOf("box-a#3f9c2e"); // "box-a"
 */
export function instanceOf(owner: string): string {
  const i = owner.lastIndexOf("#");
  return i > 0 ? owner.slice(0, i) : owner;
}

/** A timestamp as PostgREST (ISO text) or pg (a Date) returns it, in epoch ms. */
const ms = (t: string | Date | null): number => (t === null ? 0 : t instanceof Date ? t.getTime() : Date.parse(t));

/**
 * The renewal period, the margin and the poll for a ttl (see the module comment).
 *
 * @example
 * leaseTimings(15_000); // { renewEveryMs: 5000, marginMs: 3000, pollMs: 1000 }
 */
export function leaseTimings(ttlMs: number, o: { marginMs?: number; pollMs?: number } = {}): { renewEveryMs: number; marginMs: number; pollMs: number } {
  const renewEveryMs = Math.max(100, Math.floor(ttlMs / 3));
  const marginMs = o.marginMs ?? Math.max(500, Math.floor(ttlMs / 5));
  const pollMs = Math.min(o.pollMs ?? 1_000, renewEveryMs);
  return { renewEveryMs, marginMs, pollMs };
}

export class LeaseKeeper {
  /** This process among the members: `<instance>#<boot id>`. */
  readonly member: string;
  /** The owner token claims are made with; a new one after every loss (see {@link LeaseKeeper.lose}). */
  private ownerToken: string;
  private terms = 0;
  /** After a loss, no claim before this (local clock): the others go first. */
  private quietUntil = 0;
  private readonly listeners: ((e: LeaseEvent) => void)[] = [];
  private readonly timings: { renewEveryMs: number; marginMs: number; pollMs: number };
  private readonly startedAt: number;
  private readonly limit: LogLimit;
  private role: "active" | "standby" | "stopped" = "stopped";
  private since: number;
  private epoch: number | null = null;
  /** Local clock: past this the lease is not ours, whatever the database says later. */
  private deadline = 0;
  private holder: Holder | null = null;
  private holderSilent = false;
  /** Local time the holder's renewed_at last moved. */
  private holderMovedAt = 0;
  private members: Member[] = [];
  private lastBeat = -Infinity;
  private lastError: string | null = null;
  private loop?: Promise<void>;
  private readonly stopSignal = new AbortController();
  /** Cuts the current wait short (a loss, a stop). */
  private wake = new AbortController();
  private hasLock = false;

  constructor(private readonly o: LeaseOptions) {
    this.member = `${o.instance}#${o.bootId ?? randomBytes(6).toString("hex")}`;
    this.ownerToken = this.member;
    this.timings = leaseTimings(o.ttlMs, o);
    this.startedAt = o.clock.now();
    this.since = this.startedAt;
    this.limit = new LogLimit(o.log, o.clock);
    o.db.onSessionLost((reason) => {
      this.hasLock = false;
      if (this.role === "active") this.lose("session-lost", reason);
    });
  }

  /** The owner token of the current (or next) claim: `<instance>#<boot id>[.<n>]`. */
  get owner(): string {
    return this.ownerToken;
  }

  /** Subscribes to acquired / lost / released / silent / heard. */
  onChange(listener: (e: LeaseEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Starts claiming (standby until the first successful claim). */
  start(): void {
    if (this.loop) return;
    this.role = "standby";
    this.since = this.o.clock.now();
    this.loop = this.run();
  }

  /** True while the lease is ours by the local deadline (checked before anything is done with it). */
  held(): boolean {
    return this.role === "active" && this.o.clock.now() < this.deadline;
  }

  /** The epoch held now, or null: what every fenced write carries. */
  currentEpoch(): number | null {
    return this.held() ? this.epoch : null;
  }

  status(): LeaseStatus {
    const now = this.o.clock.now();
    return {
      role: this.role,
      lease: this.o.lease,
      instance: this.o.instance,
      owner: this.owner,
      epoch: this.role === "active" ? this.epoch : null,
      since: this.since,
      via: this.o.db.kind,
      holder: this.holder,
      holderSilent: this.holderSilent,
      members: this.members.map((m) => ({ ...m, silentForMs: m.self ? 0 : Math.max(0, m.silentForMs + (now - this.lastBeat)) })),
      lastError: this.lastError,
    };
  }

  /**
   * A write under our epoch was refused by the database: someone else holds the lease. Lost at
   * once (the caller stops what it was doing).
   */
  fenced(detail: string): void {
    if (this.role === "active") this.lose("fenced", detail);
  }

  /**
   * Gives the lease up now (SIGTERM), and stops claiming. Call it after the WhatsApp socket and
   * the sends are stopped: from the release on, another instance may open its own.
   */
  async release(): Promise<void> {
    const wasActive = this.role === "active" && this.epoch !== null;
    const epoch = this.epoch;
    this.role = "stopped";
    this.stopSignal.abort();
    this.wake.abort();
    await this.loop?.catch(() => undefined);
    // The session lock first: the next holder takes it with the lease, not after it (its kill -9
    // is then seen at once too). Until the release, the lease row still names this live session.
    if (this.hasLock) {
      await this.o.db.value("jaga_lease_unlock", { p_name: this.o.lease }, { lease: true }).catch(() => undefined);
      this.hasLock = false;
    }
    if (wasActive && epoch !== null) {
      try {
        await withDeadline(this.timings.renewEveryMs, this.o.clock, () =>
          this.o.db.value<boolean>("jaga_lease_release", { p_name: this.o.lease, p_owner: this.owner, p_epoch: epoch }, { lease: true }),
        );
        this.o.log.info({ lease: this.o.lease, epoch }, "standby: lease handed over");
      } catch (err) {
        // Not released: it expires by itself; the next instance waits for that.
        this.o.log.warn({ err: redact(String(err)) }, "standby: the lease could not be released; it will expire");
      }
      this.emit({ type: "released", epoch, at: this.o.clock.now() });
    }
    await this.beat("stopping").catch(() => undefined);
  }

  /** Stops without releasing (tests; a crash is the same without even this). */
  async abandon(): Promise<void> {
    this.role = "stopped";
    this.stopSignal.abort();
    this.wake.abort();
    await this.loop?.catch(() => undefined);
  }

  private emit(e: LeaseEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.o.log.error({ err }, "standby: a lease listener failed");
      }
    }
  }

  private lose(reason: LossReason, detail: string): void {
    if (this.role !== "active" || this.epoch === null) return;
    const epoch = this.epoch;
    this.role = "standby";
    this.since = this.o.clock.now();
    this.deadline = 0;
    // A lost term is over for good: the next claim is a new owner, so it can only win the way
    // anyone else could (the lease free, or its holder's session gone), under a new epoch, and
    // not before the standbys had a renewal period to take it.
    this.ownerToken = `${this.member}.${++this.terms}`;
    this.quietUntil = this.since + this.timings.renewEveryMs;
    this.o.log.warn({ lease: this.o.lease, epoch, reason, detail: redact(detail) }, "standby: lease lost; this instance is a standby now");
    this.emit({ type: "lost", epoch, at: this.since, reason, detail: redact(detail) });
    this.wake.abort();
  }

  private async run(): Promise<void> {
    const stop = this.stopSignal.signal;
    while (!stop.aborted) {
      if (this.role === "active") await this.renewRound();
      else await this.standbyRound();
      if (stop.aborted) break;
      const wait = this.nextWait();
      this.wake = new AbortController();
      await this.o.clock.sleep(wait, AbortSignal.any([stop, this.wake.signal])).catch(() => undefined);
    }
  }

  /** Active: the next renewal; standby: the next poll, or the holder's expiry if that comes first. */
  private nextWait(): number {
    const { renewEveryMs, pollMs } = this.timings;
    // Active without the session lock (taken in a handover while the old holder still had it):
    // the next round, which tries the lock, comes at the standby's pace, so a kill -9 in the
    // seconds after a handover is seen at once too, not at the expiry.
    const every = this.o.db.kind === "direct" && !this.hasLock ? pollMs : renewEveryMs;
    if (this.role === "active") return Math.max(0, Math.min(every, this.deadline - this.o.clock.now()));
    return pollMs;
  }

  /** One claim, bounded so a hung request never outlives what it is for. */
  private async claim(useSession: boolean, withinMs: number): Promise<{ row: ClaimRow; sentAt: number } | null> {
    const sentAt = this.o.clock.now();
    try {
      const rows = await withDeadline(Math.max(1, withinMs), this.o.clock, () =>
        this.o.db.rows<ClaimRow>(
          "jaga_lease_claim",
          { p_name: this.o.lease, p_owner: this.owner, p_ttl_ms: this.o.ttlMs, p_session: useSession },
          { lease: true },
        ),
      { what: "lease claim" });
      this.lastError = null;
      const row = rows[0];
      return row ? { row, sentAt } : null;
    } catch (err) {
      this.lastError = redact(err instanceof Error ? err.message : String(err));
      this.limit.warn("standby.claim", err, "standby: the lease could not be claimed or renewed");
      return null;
    }
  }

  private observe(row: ClaimRow): void {
    const now = this.o.clock.now();
    const holder: Holder = {
      owner: row.owner,
      instance: instanceOf(row.owner),
      epoch: Number(row.epoch),
      renewedAt: ms(row.renewed_at),
      expiresAt: ms(row.expires_at),
    };
    const moved = !this.holder || this.holder.owner !== holder.owner || this.holder.renewedAt !== holder.renewedAt;
    if (moved) this.holderMovedAt = now;
    this.holder = holder;
    if (row.held) {
      this.holderSilent = false;
      return;
    }
    const free = ms(row.expires_at) <= ms(row.db_now);
    const silent = free || now - this.holderMovedAt >= 2 * this.timings.renewEveryMs;
    if (silent && !this.holderSilent) {
      this.holderSilent = true;
      this.emit({ type: "silent", holder, at: now });
    } else if (!silent && this.holderSilent && moved) {
      this.holderSilent = false;
      this.emit({ type: "heard", holder, at: now });
    }
  }

  private async standbyRound(): Promise<void> {
    const { pollMs, renewEveryMs } = this.timings;
    if (this.o.clock.now() < this.quietUntil) return;
    if (this.o.db.kind === "direct" && !this.hasLock) {
      this.hasLock = await withDeadline(pollMs, this.o.clock, () => this.o.db.tryLock(this.o.lease)).catch(() => false);
    }
    const got = await this.claim(this.hasLock, Math.max(pollMs, renewEveryMs));
    if (this.stopSignal.signal.aborted || this.role === "stopped") return;
    if (got) {
      this.observe(got.row);
      if (got.row.held) await this.acquired(got.row, got.sentAt);
    }
    await this.beatEvery();
  }

  private async acquired(row: ClaimRow, sentAt: number): Promise<void> {
    const epoch = Number(row.epoch);
    this.epoch = epoch;
    this.deadline = sentAt + this.o.ttlMs - this.timings.marginMs;
    const previous: PreviousTerm | null = row.prev_owner
      ? { owner: row.prev_owner, instance: instanceOf(row.prev_owner), lastRenewedAt: ms(row.prev_renewed_at), end: row.prev_end ?? "expired" }
      : null;
    // Its session died: if the process lives on it learns so at once and stops; give it that moment.
    if (previous?.end === "session") {
      const grace = Math.min(this.o.sessionGraceMs ?? 1_000, this.timings.marginMs);
      await this.o.clock.sleep(grace, this.stopSignal.signal).catch(() => undefined);
      if (this.stopSignal.signal.aborted) return;
    }
    if (this.o.clock.now() >= this.deadline) return; // too slow to use it; the next round tries again
    // The holder fell silent and its lease ran out between two of our polls (a loaded box can
    // stall a poll): say so before taking over, as a standby that saw it would have.
    if (previous && previous.end !== "released" && previous.instance !== this.o.instance && !this.holderSilent) {
      const known = this.holder?.owner === previous.owner ? this.holder : null;
      const holder: Holder = known ?? { owner: previous.owner, instance: previous.instance, epoch: epoch - 1, renewedAt: previous.lastRenewedAt, expiresAt: previous.lastRenewedAt + this.o.ttlMs };
      this.emit({ type: "silent", holder, at: this.o.clock.now() });
    }
    this.role = "active";
    this.since = this.o.clock.now();
    this.holderSilent = false;
    this.o.log.info({ lease: this.o.lease, epoch, previous: previous?.owner ?? null, end: previous?.end ?? null }, "standby: lease acquired; this instance is active");
    this.emit({ type: "acquired", epoch, at: this.since, previous });
  }

  private async renewRound(): Promise<void> {
    const epoch = this.epoch;
    const left = this.deadline - this.o.clock.now();
    if (left <= 0) return this.lose("renewal-failed", this.lastError ?? "no renewal in time");
    // Taken without the session lock (the old holder still had it when the lease went free, as in
    // a handover): take it as soon as it is free (these rounds come every poll until then), so a
    // kill -9 of this instance is seen at once rather than at the expiry.
    if (this.o.db.kind === "direct" && !this.hasLock) {
      this.hasLock = await withDeadline(Math.min(left, this.timings.pollMs), this.o.clock, () => this.o.db.tryLock(this.o.lease)).catch(() => false);
    }
    const useSession = this.o.db.kind === "direct" && this.hasLock;
    const got = await this.claim(useSession, left);
    if (this.role !== "active" || this.epoch !== epoch) return;
    if (!got) {
      if (this.o.clock.now() >= this.deadline) this.lose("renewal-failed", this.lastError ?? "no renewal in time");
      return;
    }
    this.observe(got.row);
    if (!got.row.held) return this.lose("taken", `held by ${got.row.owner} under epoch ${got.row.epoch}`);
    if (Number(got.row.epoch) !== epoch) {
      // Ours again, but a new term: whatever ran under the old epoch is over.
      this.lose("renewal-failed", "the lease ran out between renewals");
      return;
    }
    this.deadline = got.sentAt + this.o.ttlMs - this.timings.marginMs;
    await this.beatEvery();
  }

  private async beatEvery(): Promise<void> {
    if (this.o.clock.now() - this.lastBeat < this.timings.renewEveryMs) return;
    await this.beat(this.role === "active" ? "active" : "standby").catch((err: unknown) => this.o.log.debug({ err }, "standby: beat failed"));
  }

  private async beat(role: "active" | "standby" | "stopping"): Promise<void> {
    const rows = await withDeadline(this.timings.renewEveryMs, this.o.clock, () =>
      this.o.db.rows<BeatRow>(
        "jaga_lease_beat",
        { p_name: this.o.lease, p_owner: this.member, p_role: role, p_started_at: new Date(this.startedAt) },
        { lease: true },
      ),
    );
    this.lastBeat = this.o.clock.now();
    this.members = rows.map((r) => ({
      owner: r.owner,
      instance: instanceOf(r.owner),
      role: r.role,
      startedAt: ms(r.started_at),
      seenAt: ms(r.seen_at),
      silentForMs: Math.max(0, ms(r.db_now) - ms(r.seen_at)),
      self: r.owner === this.member,
    }));
  }
}
