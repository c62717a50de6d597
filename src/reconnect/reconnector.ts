/**
 * The reconnector owns the one WhatsApp socket and decides, after every close, whether and when
 * the next one opens. It knows nothing of Baileys: a {@link SocketFactory} opens a socket and
 * tells it when the socket is open and, once fully closed, why it closed. Time is an injected
 * {@link Clock}, so every decision is testable without sleeping.
 *
 * Never two sockets: the next socket is only asked for after the previous one's `closed`
 * promise resolved, which the factory resolves only when the socket's ready state is CLOSED and
 * its listeners are gone. Never a tight loop: every path except a 515 restart waits (backoff,
 * breaker, DNS probe interval), and repeated 515s without an open fall back to backoff.
 *
 * @example
 * const r = new Reconnector({ clock, connect, probe, route: { resolver: system }, ...defaults });
 * r.onChange((s) => log.info(s, "whatsapp"));
 * r.start();
 * r.reconnectNow(); // POST /whatsapp/reconnect
 */
import type { Clock } from "../clock.js";
import type { Route } from "../dns/lookup.js";
import type { ProbeResult } from "../dns/probe.js";
import { exponentialBackoff, type Backoff } from "../policy/backoff.js";
import { CircuitBreaker, type BreakerOptions, type BreakerState } from "./breaker.js";
import { classifyClose, isHalt, type CloseInfo, type CloseKind, type HaltKind } from "./decide.js";

export interface ManagedSocket {
  /** Resolves (never rejects) once the socket is CLOSED and its listeners are removed. */
  readonly closed: Promise<CloseInfo>;
  /** Asks the socket to close; `closed` resolves when it actually has. */
  close(): void;
}

export interface SocketHooks {
  /** The socket reached "open" (logged in and usable). */
  open(): void;
}

/** Opens one socket that connects through `route`. Must not throw; report failures through `closed`. */
export type SocketFactory = (route: Route, hooks: SocketHooks) => ManagedSocket;

export type ConnectionState =
  | "idle"
  | "connecting"
  | "open"
  | "backoff"
  | "dns-wait"
  | "breaker-open"
  | "logged-out"
  | "forbidden"
  | "replaced"
  | "outdated"
  | "stopped";

export interface ReconnectorOptions {
  clock: Clock;
  connect: SocketFactory;
  /** Asks every resolver for the WhatsApp host; used while DNS is down. */
  probe: () => Promise<ProbeResult>;
  /** Asks only the system resolver; used to notice that it works again. */
  probeSystem?: () => Promise<boolean>;
  /** The route of the first attempt (normally the first of `dns.resolvers`). */
  route: Route;
  backoff: { baseMs: number; capMs: number; resetAfterMs: number };
  breaker: BreakerOptions;
  dns: { probeIntervalMs: number; recheckIntervalMs: number };
  random?: () => number;
  /** 515s in a row (without an open between them) answered at once before backing off. */
  maxImmediateRestarts?: number;
  /**
   * 440 (another client took the session): wait a long jittered delay, then take it back; after
   * `haltAfter` replacements within `withinMs`, stop for good (someone really uses it elsewhere).
   */
  replaced?: { retryMinMs: number; retryMaxMs: number; haltAfter: number; withinMs: number };
  /** 500 (bad session): `alertAfter` of them within `withinMs` emit one "bad-session" event. */
  badSession?: { alertAfter: number; withinMs: number };
  /** 405: fetch the current WA Web version; the next socket uses it. */
  refreshVersion?: () => Promise<void>;
}

/** Defaults for 440 and 500 (issue: a single spurious 440 must not silence a bot for good). */
export const REPLACED_DEFAULTS = { retryMinMs: 5 * 60_000, retryMaxMs: 10 * 60_000, haltAfter: 3, withinMs: 3_600_000 };
export const BAD_SESSION_DEFAULTS = { alertAfter: 3, withinMs: 3_600_000 };

export interface ReconnectorStatus {
  state: ConnectionState;
  /** Epoch ms when `state` began. */
  since: number;
  /** Sockets opened since start. */
  attempts: number;
  /** Failures since the last stable connection (drives the backoff). */
  consecutiveFailures: number;
  lastClose: (CloseInfo & { kind: CloseKind; at: number }) | null;
  breaker: { state: BreakerState; recentFailures: number; reopensAt: number | null; opened: number };
  /** Epoch ms of the next planned attempt or probe; null when none is planned. */
  nextAttemptAt: number | null;
  /** The OS resolver fails while another resolver answers. */
  systemDnsBroken: boolean;
  /** Which resolver the next socket resolves through. */
  resolver: string;
  dnsProbes: number;
}

export type ReconnectorEvent =
  | { type: "state"; status: ReconnectorStatus }
  | { type: "open" }
  | { type: "system-dns"; broken: boolean; resolver: string }
  | { type: "halt"; kind: HaltKind; close: CloseInfo }
  /** A 440 that will be answered by taking the session back at `retryAt`. */
  | { type: "replaced"; count: number; retryAt: number }
  /** Repeated 500s: the session's keys look broken (re-pairing may be needed). */
  | { type: "bad-session"; count: number };

export class Reconnector {
  private readonly breaker: CircuitBreaker;
  private readonly random: () => number;
  private readonly backoff: Backoff;
  private readonly listeners = new Set<(e: ReconnectorEvent) => void>();
  private state: ConnectionState = "idle";
  private since: number;
  private attempts = 0;
  private failures = 0;
  private immediateRestarts = 0;
  private replacements: number[] = [];
  private badSessions: number[] = [];
  private versionRefreshed = false;
  private dnsProbes = 0;
  private lastClose: ReconnectorStatus["lastClose"] = null;
  private nextAttemptAt: number | null = null;
  private systemDnsBroken = false;
  private route: Route;
  private current?: ManagedSocket;
  private loop?: Promise<void>;
  private recheck?: Promise<void>;
  /** DNS probes still running (a beat does not wait for the previous probe); stop() awaits them. */
  private readonly probing = new Set<Promise<void>>();
  /** A stale OS answer is being checked again before the OS resolver is called broken. */
  private confirming = false;
  private confirmation?: Promise<void>;
  private stopped = false;
  private manual = false;
  private wake = new AbortController();
  private readonly stopSignal = new AbortController();

  constructor(private readonly o: ReconnectorOptions) {
    this.breaker = new CircuitBreaker(o.breaker, o.clock);
    this.random = o.random ?? Math.random;
    this.backoff = exponentialBackoff({ baseMs: o.backoff.baseMs, capMs: o.backoff.capMs, jitter: "full", random: this.random });
    this.route = o.route;
    this.since = o.clock.now();
  }

  /** Subscribes to state changes and conditions; returns the unsubscribe function. */
  onChange(listener: (e: ReconnectorEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts connecting (once; later calls do nothing). */
  start(): void {
    if (this.loop || this.stopped) return;
    this.loop = this.run().catch(() => undefined);
  }

  /** A socket is open right now. */
  get connected(): boolean {
    return this.state === "open";
  }

  status(): ReconnectorStatus {
    return {
      state: this.state,
      since: this.since,
      attempts: this.attempts,
      consecutiveFailures: this.failures,
      lastClose: this.lastClose,
      breaker: {
        state: this.breaker.state(),
        recentFailures: this.breaker.recentFailures(),
        reopensAt: this.breaker.reopensAt(),
        opened: this.breaker.opened,
      },
      nextAttemptAt: this.nextAttemptAt,
      systemDnsBroken: this.systemDnsBroken,
      resolver: this.route.resolver.label,
      dnsProbes: this.dnsProbes,
    };
  }

  /**
   * Connects now: skips a backoff or probe wait, lets one trial through an open breaker,
   * resumes after logged-out/replaced (after re-pairing), and replaces an open socket.
   */
  reconnectNow(): void {
    if (this.stopped) return;
    this.manual = true;
    this.breaker.allowTrial();
    this.current?.close();
    this.wake.abort();
  }

  /** Closes the breaker with a clean window and wakes a wait it caused. */
  resetBreaker(): void {
    this.breaker.reset();
    if (this.state === "breaker-open") this.wake.abort();
    this.emitState();
  }

  /** Stops for good: no new socket; the current one is closed and awaited. */
  async stop(): Promise<void> {
    if (this.stopped) return this.loop;
    this.stopped = true;
    this.stopSignal.abort();
    this.wake.abort();
    this.current?.close();
    await this.loop;
    await this.confirmation;
    await this.recheck;
    await Promise.all(this.probing);
    this.setState("stopped");
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.breaker.state() === "open") {
        await this.wait("breaker-open", Math.max(0, (this.breaker.reopensAt() ?? this.o.clock.now()) - this.o.clock.now()));
        continue;
      }
      this.manual = false;
      const { close, openedFor } = await this.attempt();
      // Later sockets through the OS resolver ask it again (a kept address would go stale).
      if (this.route.resolver.kind === "system" && this.route.addresses) this.route = { resolver: this.route.resolver, hostname: this.route.hostname };
      if (this.stopped) return;
      const kind = classifyClose(close);
      this.lastClose = { ...close, kind, at: this.o.clock.now() };
      const stable = openedFor !== null && openedFor >= this.o.backoff.resetAfterMs;
      if (stable) this.failures = 0;
      if (this.manual) continue; // reconnectNow() closed it on purpose
      if (isHalt(kind)) {
        this.emit({ type: "halt", kind, close });
        await this.wait(kind, null);
        continue;
      }
      if (kind === "replaced") {
        await this.onReplaced(close);
        continue;
      }
      if (kind === "outdated") {
        // A stale built-in WA Web version: refresh it and try once more; a second 405 in a row
        // is not going to change by retrying, so stop and say so.
        if (!this.versionRefreshed && this.o.refreshVersion) {
          this.versionRefreshed = true;
          await this.o.refreshVersion().catch(() => undefined);
          continue;
        }
        this.emit({ type: "halt", kind: "outdated", close });
        await this.wait("outdated", null);
        continue;
      }
      if (kind === "bad-session") this.countBadSession();
      if (kind === "restart" && this.immediateRestarts < (this.o.maxImmediateRestarts ?? 3)) {
        this.immediateRestarts++;
        continue;
      }
      if (kind === "dns") {
        await this.waitForDns();
        continue;
      }
      if (!stable) this.breaker.recordFailure();
      this.failures++;
      if (this.breaker.state() === "open") continue;
      await this.wait("backoff", this.backoff.delay(this.failures));
    }
  }

  private async attempt(): Promise<{ close: CloseInfo; openedFor: number | null }> {
    this.attempts++;
    this.nextAttemptAt = null;
    this.setState("connecting");
    let openedAt: number | null = null;
    const socket = this.o.connect(this.route, {
      open: () => {
        if (this.current !== socket || this.stopped) return;
        openedAt = this.o.clock.now();
        this.immediateRestarts = 0;
        this.versionRefreshed = false;
        this.breaker.recordSuccess();
        this.setState("open");
        this.emit({ type: "open" });
      },
    });
    this.current = socket;
    let close: CloseInfo;
    try {
      close = await socket.closed;
    } catch (err) {
      // A factory must not reject, but if one does, it is a failure like any other.
      close = { message: err instanceof Error ? err.message : String(err) };
    }
    this.current = undefined;
    return { close, openedFor: openedAt === null ? null : this.o.clock.now() - openedAt };
  }

  /** 440: take the session back after a long jittered wait, unless it keeps being taken. */
  private async onReplaced(close: CloseInfo): Promise<void> {
    const p = this.o.replaced ?? REPLACED_DEFAULTS;
    const now = this.o.clock.now();
    this.replacements = [...this.replacements.filter((t) => now - t < p.withinMs), now];
    if (this.replacements.length >= p.haltAfter) {
      this.emit({ type: "halt", kind: "replaced", close });
      await this.wait("replaced", null);
      this.replacements = [];
      return;
    }
    const delay = p.retryMinMs + Math.floor(this.random() * (p.retryMaxMs - p.retryMinMs));
    this.emit({ type: "replaced", count: this.replacements.length, retryAt: now + delay });
    await this.wait("replaced", delay);
  }

  private countBadSession(): void {
    const p = this.o.badSession ?? BAD_SESSION_DEFAULTS;
    const now = this.o.clock.now();
    this.badSessions = [...this.badSessions.filter((t) => now - t < p.withinMs), now];
    if (this.badSessions.length === p.alertAfter) this.emit({ type: "bad-session", count: this.badSessions.length });
  }

  /**
   * DNS is down: no socket; probe on a fixed beat and connect through whoever answers. Probes
   * start every `probeIntervalMs` counted from the first, however long each one takes: a
   * resolver that drops queries holds a probe for its whole timeout, and waiting for it before
   * counting the interval would stretch the beat to timeout + interval (3 s with the defaults)
   * and DNS-back-to-connected with it. A probe still running at the next beat runs on beside
   * the next one (at most timeout / interval of them); the first answer wins.
   */
  private async waitForDns(): Promise<void> {
    const start = this.o.clock.now();
    const answered = new AbortController();
    let answer: ProbeResult | undefined;
    let done = false;
    const every = this.o.dns.probeIntervalMs;
    for (let beat = 0; ; ) {
      if (this.stopped) return;
      this.nextAttemptAt = null;
      this.setState("dns-wait");
      this.dnsProbes++;
      const probe = this.o
        .probe()
        .catch((): ProbeResult => ({ systemOk: null, failures: [] }))
        .then((p) => {
          // A late probe (after an answer, a manual reconnect or stop) has nothing to say.
          if (done || !p.answer || answer) return;
          answer = p;
          answered.abort();
        });
      this.probing.add(probe);
      void probe.finally(() => this.probing.delete(probe));
      // The next beat still ahead: beats missed while the process stood still are skipped, not caught up in a burst.
      beat = Math.max(beat + 1, Math.floor((this.o.clock.now() - start) / every) + 1);
      const woken = await this.wait("dns-wait", start + beat * every - this.o.clock.now(), answered.signal);
      if (this.stopped) return void (done = true);
      if (answer) {
        done = true;
        const found = answer.answer!;
        // Connect to exactly the address the answer gave: asking the OS again at connect time
        // could take as long as the lookup that just answered (a dead first nameserver costs
        // glibc 5 s each time) and time out. A system answer serves that one socket (run()).
        this.route = { resolver: found.resolver, hostname: this.route.hostname, addresses: found.addresses };
        if (answer.systemStale && found.resolver.kind !== "system") this.confirmSystemLater();
        else this.setSystemDns(answer.systemOk === false);
        return;
      }
      if (woken) return void (done = true); // a manual reconnect tries a socket anyway
    }
  }

  private setSystemDns(broken: boolean): void {
    if (broken === this.systemDnsBroken) return;
    this.systemDnsBroken = broken;
    this.emit({ type: "system-dns", broken, resolver: this.route.resolver.label });
    this.emitState();
    if (broken && this.o.probeSystem) this.recheck = this.recheckSystem(this.o.probeSystem);
  }

  /**
   * Another resolver answered while the OS resolver's lookup was still the one asked during the
   * outage (resolvers that dropped queries): nothing is known of the OS resolver yet. Connect
   * through the answer, ask the OS once more after `recheckIntervalMs`, and only then call it
   * broken, or go back to it quietly: every resolver failing at once is not a broken system
   * resolver, and its incident would be noise after every such outage.
   */
  private confirmSystemLater(): void {
    const probeSystem = this.o.probeSystem;
    if (this.systemDnsBroken || this.confirming || !probeSystem) return;
    this.confirming = true;
    const confirm = async () => {
      try {
        await this.o.clock.sleep(this.o.dns.recheckIntervalMs, this.stopSignal.signal);
      } catch {
        return;
      }
      if (this.stopped || this.systemDnsBroken || this.route.resolver.kind === "system") return;
      const ok = await probeSystem().catch(() => false);
      if (this.stopped || this.systemDnsBroken) return;
      if (ok) this.route = { resolver: { kind: "system", label: "system" }, hostname: this.route.hostname };
      else this.setSystemDns(true);
    };
    this.confirmation = confirm().finally(() => (this.confirming = false));
  }

  /** While connected through another resolver, asks the OS resolver now and then whether it is back. */
  private async recheckSystem(probeSystem: () => Promise<boolean>): Promise<void> {
    while (!this.stopped && this.systemDnsBroken) {
      try {
        await this.o.clock.sleep(this.o.dns.recheckIntervalMs, this.stopSignal.signal);
      } catch {
        return;
      }
      if (this.stopped || !this.systemDnsBroken) return;
      const ok = await probeSystem().catch(() => false);
      if (ok && !this.stopped) {
        this.route = { resolver: { kind: "system", label: "system" }, hostname: this.route.hostname };
        this.setSystemDns(false);
      }
    }
  }

  /**
   * Waits `ms` (or until woken, when null) in `state`; true when woken early. `also` ends the
   * wait too (a probe's answer) without being taken for a wake.
   */
  private async wait(state: ConnectionState, ms: number | null, also?: AbortSignal): Promise<boolean> {
    if (this.stopped) return true;
    this.nextAttemptAt = ms === null ? null : this.o.clock.now() + ms;
    this.setState(state);
    if (this.wake.signal.aborted) {
      // A wake that came while not waiting (e.g. during a probe) is consumed here.
      this.wake = new AbortController();
      this.nextAttemptAt = null;
      return true;
    }
    if (also?.aborted) {
      this.nextAttemptAt = null;
      return true;
    }
    const wake = this.wake.signal;
    const signal = also ? AbortSignal.any([wake, also]) : wake;
    try {
      if (ms === null) {
        await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
        return true;
      }
      await this.o.clock.sleep(ms, signal);
      return false;
    } catch {
      return true;
    } finally {
      if (wake.aborted) this.wake = new AbortController();
      this.nextAttemptAt = null;
    }
  }

  private setState(state: ConnectionState): void {
    if (state === this.state && state !== "backoff" && state !== "dns-wait") return;
    if (state !== this.state) this.since = this.o.clock.now();
    this.state = state;
    this.emitState();
  }

  private emitState(): void {
    this.emit({ type: "state", status: this.status() });
  }

  private emit(e: ReconnectorEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A listener's bug must not stop the reconnector.
      }
    }
  }
}
