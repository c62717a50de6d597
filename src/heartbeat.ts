/**
 * A heartbeat for an outside monitor (Healthchecks and the like): Jaga runs on the box it
 * watches, and when that box dies nobody is told — unless something elsewhere expects to hear
 * from Jaga every minute. `heartbeat.url` is fetched at start and every `heartbeat.every`; on a
 * fatal exit (cannot start, a stop that overran its budget, an uncaught error) `<url>/fail` is
 * posted with the reason, so the monitor alerts at once instead of after its grace period. A
 * clean stop sends nothing: the monitor notices the silence as it would a dead box.
 *
 * Pings never hold Jaga up: each has its own timeout, a failed one is logged (once a minute at
 * most) and the next one is tried on schedule.
 *
 * @example
 * const hb = new Heartbeat({ url: "https://hc-ping.com/<uuid>", everyMs: 60_000, clock, log });
 * hb.start();
 * await hb.fail("the data directory is on a full disk"); // before process.exit(1)
 */
import type { Clock } from "./clock.js";
import { LogLimit } from "./log-limit.js";
import type { Logger } from "./log.js";
import { redact } from "./text.js";

export interface HeartbeatOptions {
  url: string;
  everyMs: number;
  clock: Clock;
  log: Logger;
  /** One ping's time (default 10 s, and never more than the interval). */
  timeoutMs?: number;
}

export class Heartbeat {
  private readonly stopSignal = new AbortController();
  private loop?: Promise<void>;
  private readonly limit: LogLimit;
  /** Pings answered 2xx so far (for tests and logs). */
  sent = 0;

  constructor(private readonly o: HeartbeatOptions) {
    this.limit = new LogLimit(o.log, o.clock);
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops pinging (a clean stop). */
  async stop(): Promise<void> {
    this.stopSignal.abort();
    await this.loop;
  }

  /** Tells the monitor Jaga is going down for a reason that is not a clean stop. Never throws. */
  async fail(reason: string): Promise<void> {
    this.stopSignal.abort();
    const ok = await this.request(`${this.o.url.replace(/\/+$/, "")}/fail`, redact(reason).slice(0, 1_000));
    if (ok) this.o.log.info("heartbeat: the monitor was told of the failure");
  }

  private async run(): Promise<void> {
    while (!this.stopSignal.signal.aborted) {
      if (await this.request(this.o.url)) this.sent++;
      await this.o.clock.sleep(this.o.everyMs, this.stopSignal.signal).catch(() => undefined);
    }
  }

  private async request(url: string, body?: string): Promise<boolean> {
    const controller = new AbortController();
    const ms = Math.min(this.o.timeoutMs ?? 10_000, this.o.everyMs);
    const timer = this.o.clock.sleep(ms, controller.signal).then(
      () => controller.abort(new Error(`no answer in ${ms} ms`)),
      () => undefined,
    );
    try {
      const res = await fetch(url, body === undefined ? { signal: controller.signal } : { method: "POST", body, signal: controller.signal });
      await res.body?.cancel();
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      return true;
    } catch (err) {
      this.limit.warn("heartbeat", err, "heartbeat: the monitor could not be reached", { url: new URL(url).host });
      return false;
    } finally {
      controller.abort();
      await timer;
    }
  }
}
