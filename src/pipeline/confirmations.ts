/**
 * Plans waiting for their sender's `/yes <code>`. One mechanism for every destructive command:
 * the pipeline's confirm step files a plan here, the answer step takes it back. A code is four
 * digits, unique among what waits; only the person who asked can confirm or cancel it, and only
 * within `withinMs`. When a plan runs out of time, `onExpire` hears of it (the audit log).
 *
 * @example
 * const desk = new Confirmations(clock, 60_000, (p) => audit(p, "expired"));
 * const p = desk.ask({ sender, command, args, plan });   // p.code: "4821"
 * desk.take(sender.id, "4821");                           // { kind: "ok", pending: p }
 */
import { randomInt } from "node:crypto";
import type { Clock } from "../clock.js";
import type { Command } from "./command.js";
import type { Person } from "./people.js";

export interface Pending {
  code: string;
  sender: Person;
  command: Command;
  args: Record<string, unknown>;
  /** What will change, as shown to the sender. */
  plan: string;
  /** The incident action this plan came from (`/do`), for its timeline once confirmed and run. */
  action?: { incident: number; command: string };
  /** Epoch ms. */
  at: number;
  expires: number;
}

export type Taken =
  | { kind: "ok"; pending: Pending }
  /** The code was this sender's and ran out of time. */
  | { kind: "expired"; expired: number }
  /** No plan of this sender's has that code (another's, a typo, never issued). */
  | { kind: "none" };

/** Expired codes are remembered this long, so a late `/yes` says "expired", not "unknown". */
const REMEMBER_MS = 30 * 60_000;
const MAX_PENDING = 1_000;

export class Confirmations {
  private readonly waiting = new Map<string, { pending: Pending; stop: AbortController }>();
  private readonly expired = new Map<string, { sender: string; at: number }>();

  constructor(
    private readonly clock: Clock,
    readonly withinMs: number,
    private readonly onExpire: (p: Pending) => void,
  ) {}

  /** Files a plan and returns it with its code; its timer starts now. */
  ask(p: Omit<Pending, "code" | "at" | "expires">): Pending {
    if (this.waiting.size >= MAX_PENDING) this.expire([...this.waiting.keys()][0]!);
    const at = this.clock.now();
    const pending: Pending = { ...p, code: this.freshCode(), at, expires: at + this.withinMs };
    const stop = new AbortController();
    this.waiting.set(pending.code, { pending, stop });
    this.clock.sleep(this.withinMs, stop.signal).then(
      () => this.expire(pending.code),
      () => undefined,
    );
    return pending;
  }

  /** Takes the sender's plan with `code` out of waiting, to run it. */
  take(senderId: string, code: string): Taken {
    const w = this.waiting.get(code);
    if (w && w.pending.sender.id === senderId) {
      this.drop(code);
      return { kind: "ok", pending: w.pending };
    }
    const gone = this.expired.get(code);
    if (gone && gone.sender === senderId && this.clock.now() - gone.at < REMEMBER_MS) return { kind: "expired", expired: gone.at };
    return { kind: "none" };
  }

  /** Cancels the sender's plan with `code`, or all of theirs without one; returns what was cancelled. */
  cancel(senderId: string, code?: string): Pending[] {
    const mine = this.of(senderId).filter((p) => code === undefined || p.code === code);
    for (const p of mine) this.drop(p.code);
    return mine;
  }

  /** The sender's plans still waiting, oldest first. */
  of(senderId: string): Pending[] {
    return [...this.waiting.values()].map((w) => w.pending).filter((p) => p.sender.id === senderId);
  }

  /** Ends every wait now (Jaga stops): each counts as expired. */
  clear(): void {
    for (const code of [...this.waiting.keys()]) this.expire(code);
  }

  private expire(code: string): void {
    const w = this.waiting.get(code);
    if (!w) return;
    this.drop(code);
    this.expired.set(code, { sender: w.pending.sender.id, at: this.clock.now() });
    if (this.expired.size > MAX_PENDING) this.expired.delete(this.expired.keys().next().value!);
    this.onExpire(w.pending);
  }

  private drop(code: string): void {
    this.waiting.get(code)?.stop.abort();
    this.waiting.delete(code);
  }

  private freshCode(): string {
    for (;;) {
      const code = String(randomInt(1000, 10_000));
      if (!this.waiting.has(code)) return code;
    }
  }
}
