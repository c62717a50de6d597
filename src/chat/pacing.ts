/**
 * Pacing and coalescing, never dropping. A bot that posts bursts into a group is the classic
 * road to `rate-overlimit` (429) and to a ban, so each chat gets a send budget: at most one
 * message per `intervalMs` (plus a random jitter, so a fleet of bots does not tick in step) and
 * at most `dailyBudget` a day, with a warning at 80 %. When more messages wait for one chat than
 * its budget lets out, they go as ONE message listing them all — after Jaga's own outage, as
 * one "while I was offline" message. Nothing is ever dropped: over budget, messages wait.
 *
 * Pure apart from the clock reading it is given; the outbox pump asks it what to send now.
 *
 * @example
 * const pacer = new Pacer({ intervalMs: 3_000, jitterMs: 1_000, dailyBudget: 300 });
 * const { sends, nextAt } = pacer.plan(pendingRows, now, outage);
 * for (const s of sends) { await send(s.chatId, s.text); pacer.sent(s.chatId, now); }
 */
import { formatClock, formatDuration } from "../duration.js";
import type { Translate } from "../i18n/index.js";
import type { Logger } from "../log.js";
import type { OutboxMessage } from "../store/store.js";

export interface PacingOptions {
  /** One message per chat per this long, at most (default 3 s). */
  intervalMs?: number;
  /** Random extra wait added after each send, up to this (default 1 s). */
  jitterMs?: number;
  /** Messages per chat per day (default 300); a warning at 80 %, then messages wait for the next day. */
  dailyBudget?: number;
  /** Messages listed in one coalesced message at most (default 10). */
  maxPerMessage?: number;
  /** Characters of one coalesced message at most (default 3 500; WhatsApp allows far more, phones show less). */
  maxChars?: number;
  random?: () => number;
  /** Start of the local day for `at` (the daily budget's day); default UTC days. */
  dayOf?: (at: number) => number;
}

/** One message to send now: the outbox rows it carries, and its text. */
export interface PlannedSend {
  chatId: string;
  rows: OutboxMessage[];
  text: string;
}

/** Jaga's own outage, as the transport saw it (for the "while I was offline" header). */
export interface Outage {
  from: number;
  to: number;
}

export interface Headers {
  /** `3 alerts (14:02–14:40)` */
  batch(n: number, from: number, to: number): string;
  /** `While I was offline (since 14:02, 38m) — 3 messages` */
  offline(n: number, outage: Outage): string;
  budgetWarning(chatId: string, used: number, budget: number): void;
  budgetSpent(chatId: string, budget: number): void;
}

interface ChatState {
  nextAt: number;
  day: number;
  used: number;
  warned: boolean;
}

export class Pacer {
  private readonly chats = new Map<string, ChatState>();
  private readonly o: Required<Omit<PacingOptions, "dayOf">> & { dayOf: (at: number) => number };

  constructor(
    options: PacingOptions,
    private readonly headers: Headers,
  ) {
    this.o = {
      intervalMs: options.intervalMs ?? 3_000,
      jitterMs: options.jitterMs ?? 1_000,
      dailyBudget: options.dailyBudget ?? 300,
      maxPerMessage: options.maxPerMessage ?? 10,
      maxChars: options.maxChars ?? 3_500,
      random: options.random ?? Math.random,
      dayOf: options.dayOf ?? ((at) => Math.floor(at / 86_400_000)),
    };
  }

  /**
   * What may go now, per chat in order of the oldest row; `nextAt` is when the next chat's
   * slot opens (null when nothing waits).
   */
  plan(rows: readonly OutboxMessage[], now: number, outage: Outage | null = null): { sends: PlannedSend[]; nextAt: number | null } {
    const byChat = new Map<string, OutboxMessage[]>();
    for (const r of rows) byChat.set(r.chatId, [...(byChat.get(r.chatId) ?? []), r]);
    const sends: PlannedSend[] = [];
    let nextAt: number | null = null;
    for (const [chatId, waiting] of byChat) {
      const c = this.state(chatId, now);
      const slot = c.used >= this.o.dailyBudget ? this.nextDay(now) : c.nextAt;
      if (slot > now) {
        nextAt = nextAt === null ? slot : Math.min(nextAt, slot);
        continue;
      }
      sends.push(this.compose(chatId, waiting, outage));
    }
    return { sends, nextAt };
  }

  /** A message went out to the chat: its next slot is one interval (plus jitter) away. */
  sent(chatId: string, now: number): void {
    const c = this.state(chatId, now);
    c.used++;
    c.nextAt = now + this.o.intervalMs + Math.floor(this.o.random() * this.o.jitterMs);
    if (!c.warned && c.used >= Math.ceil(this.o.dailyBudget * 0.8)) {
      c.warned = true;
      this.headers.budgetWarning(chatId, c.used, this.o.dailyBudget);
    }
    if (c.used === this.o.dailyBudget) this.headers.budgetSpent(chatId, this.o.dailyBudget);
  }

  private compose(chatId: string, waiting: OutboxMessage[], outage: Outage | null): PlannedSend {
    // A message that continues a thread (an incident's later news) goes alone, as an edit of or a
    // reply to its first message; a batch stops before one, so it leads the next send.
    if (waiting.length === 1 || waiting[0]!.thread) return { chatId, rows: waiting.slice(0, 1), text: waiting[0]!.text };
    const rows: OutboxMessage[] = [];
    let size = 0;
    for (const r of waiting) {
      if (rows.length >= this.o.maxPerMessage || (rows.length > 0 && (r.thread || size + r.text.length > this.o.maxChars))) break;
      rows.push(r);
      size += r.text.length + 8;
    }
    if (rows.length === 1) return { chatId, rows, text: rows[0]!.text };
    const from = rows[0]!.createdAt;
    const to = rows[rows.length - 1]!.createdAt;
    const duringOutage = outage !== null && from < outage.to;
    const header = duringOutage ? this.headers.offline(rows.length, outage) : this.headers.batch(rows.length, from, to);
    return { chatId, rows, text: [header, ...rows.map((r) => r.text)].join("\n\n───\n\n") };
  }

  private state(chatId: string, now: number): ChatState {
    const day = this.o.dayOf(now);
    let c = this.chats.get(chatId);
    if (!c) {
      c = { nextAt: 0, day, used: 0, warned: false };
      this.chats.set(chatId, c);
    }
    if (c.day !== day) Object.assign(c, { day, used: 0, warned: false });
    return c;
  }

  private nextDay(now: number): number {
    let t = now;
    const today = this.o.dayOf(now);
    // The day boundary in the configured zone: step an hour at a time (at most 25 steps).
    while (this.o.dayOf(t) === today) t += 3_600_000;
    return t;
  }
}

/**
 * The day number of `at` in the zone (for the daily budget).
 *
 * @example
 * dayIn("Asia/Jakarta")(Date.parse("2026-12-01T18:00:00Z")); // the day of 2 Dec in Jakarta
 */
export function dayIn(timeZone: string): (at: number) => number {
  const f = new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" });
  return (at) => Math.floor(Date.parse(`${f.format(at)}T00:00:00Z`) / 86_400_000);
}

/**
 * The headers and budget notes in Jaga's language, in its time zone.
 *
 * @example
 * new Pacer({ intervalMs: 3_000 }, pacingHeaders(t, log, "Asia/Jakarta"));
 */
export function pacingHeaders(t: Translate, log: Logger, timeZone: string): Headers {
  return {
    batch: (n, from, to) => t("wa.batch", { n, from: formatClock(from, timeZone), to: formatClock(to, timeZone) }),
    offline: (n, o) => t("wa.offline", { n, since: formatClock(o.from, timeZone), duration: formatDuration(o.to - o.from) }),
    budgetWarning: (chat, used, budget) => log.warn({ chat, used, budget }, "WhatsApp daily send budget for this chat is nearly spent"),
    budgetSpent: (chat, budget) => log.error({ chat, budget }, "WhatsApp daily send budget for this chat is spent; messages wait for tomorrow (none is dropped)"),
  };
}
