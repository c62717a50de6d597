/**
 * A circuit breaker over connection failures, on an injected clock. Closed: attempts go
 * ahead, failures are counted in a sliding window. `failures` within `withinMs` open it: no
 * attempt for `openForMs`. Then half-open: exactly one trial; a failure opens it again, a
 * success closes it.
 *
 * @example
 * const b = new CircuitBreaker({ failures: 10, withinMs: 300_000, openForMs: 600_000 }, clock);
 * if (b.state() !== "open") attempt();
 * b.recordFailure(); // or b.recordSuccess()
 */
import type { Clock } from "../clock.js";

export type BreakerState = "closed" | "open" | "half-open";

export interface BreakerOptions {
  failures: number;
  withinMs: number;
  openForMs: number;
}

export class CircuitBreaker {
  private failures: number[] = [];
  private openUntil: number | null = null;
  private halfOpen = false;
  /** How many times it opened since start (a metric). */
  opened = 0;

  constructor(
    private readonly options: BreakerOptions,
    private readonly clock: Clock,
  ) {}

  state(): BreakerState {
    if (this.halfOpen) return "half-open";
    if (this.openUntil === null) return "closed";
    if (this.clock.now() >= this.openUntil) {
      // The cool-down is over: one trial may go.
      this.openUntil = null;
      this.halfOpen = true;
      return "half-open";
    }
    return "open";
  }

  /** When an open breaker lets the next trial through; null unless open. */
  reopensAt(): number | null {
    return this.state() === "open" ? this.openUntil : null;
  }

  /** Failures inside the window (for /health). */
  recentFailures(): number {
    this.prune();
    return this.failures.length;
  }

  recordFailure(): void {
    const now = this.clock.now();
    if (this.state() === "half-open") {
      this.trip(now);
      return;
    }
    this.failures.push(now);
    this.prune();
    if (this.failures.length >= this.options.failures) this.trip(now);
  }

  recordSuccess(): void {
    if (this.halfOpen) this.failures = [];
    this.halfOpen = false;
  }

  /** Lets one trial through now (a manual "reconnect"), without forgetting the failures. */
  allowTrial(): void {
    if (this.state() === "open") {
      this.openUntil = null;
      this.halfOpen = true;
    }
  }

  /** Back to closed with a clean window (POST /whatsapp/breaker/reset). */
  reset(): void {
    this.failures = [];
    this.openUntil = null;
    this.halfOpen = false;
  }

  private trip(now: number): void {
    this.openUntil = now + this.options.openForMs;
    this.halfOpen = false;
    this.failures = [];
    this.opened++;
  }

  private prune(): void {
    const from = this.clock.now() - this.options.withinMs;
    while (this.failures.length && this.failures[0]! <= from) this.failures.shift();
  }
}
