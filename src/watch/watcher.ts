/**
 * Watches one host: PM2 restarts as they happen (the event bus, see pm2-bus.ts), a jlist
 * reconcile now and then, and host vitals every `watch.interval`. Feeds the detectors and
 * hands what they find to the incident desk.
 *
 * Cost on the watched host, per interval: `cat` of three /proc files, `nproc`, `df` (and
 * `getent` when the DNS check is on) — a few milliseconds of CPU; `pm2 jlist` (a Node process)
 * only every `reconcileEvery` intervals while the bus is up, every interval when it is not.
 *
 * @example
 * const w = new HostWatcher({ host, desk, state, clock, config, log });
 * w.start();           // or, in tests: await w.tick();
 */
import type { Clock } from "../clock.js";
import type { Config } from "../config/load.js";
import { formatBytes, formatDuration } from "../duration.js";
import { isJagaError } from "../errors.js";
import { isNoAnswer, withDeadline } from "../hosts/deadline.js";
import type { ExecOptions } from "../hosts/executor.js";
import type { Host } from "../hosts/inventory.js";
import { translator, type Translate } from "../i18n/index.js";
import { LogLimit } from "../log-limit.js";
import type { Logger } from "../log.js";
import { readVitals, vitalsPaths, type Vitals } from "../ops/vitals.js";
import type { WatchState } from "../store/sqlite/watch.js";
import { echo } from "../text.js";
import { classify, databaseName, parsePortHolder } from "./classify.js";
import type { Described, IncidentDesk } from "./desk.js";
import { resolverLines, vitalsEvidence } from "./evidence.js";
import { cpuPercent, diskLevel, memoryPercent, restartStorm, Sustained } from "./detectors.js";
import { Pm2Bus, type Pm2BusEvent } from "./pm2-bus.js";
import { RestartTracker, type RestartDelta } from "./restarts.js";

/** getent's exit code for "key not found". */
const GETENT_NOT_FOUND = 2;

export interface HostWatcherOptions {
  host: Host;
  desk: IncidentDesk;
  state: WatchState;
  clock: Clock;
  config: Config;
  log: Logger;
  /** jlist every this many intervals while the bus is connected. Default 10 (5 min at 30 s). */
  reconcileEvery?: number;
}

export class HostWatcher {
  readonly tracker: RestartTracker;
  readonly bus: Pm2Bus | null;
  private readonly t: Translate;
  private readonly limit: LogLimit;
  private readonly hot: Sustained;
  private lastCpu: Vitals["cpu"] = null;
  private failures = 0;
  private ticks = 0;
  private lastExceptions = new Map<string, string>();
  private loop?: Promise<void>;
  private readonly stopSignal = new AbortController();
  private reconcileWanted = true;
  /** Serializes restart handling: bus events and reconciles must not interleave. */
  private chain: Promise<unknown> = Promise.resolve();
  /** The latest vitals and when they were read: /status serves them while fresh. */
  lastVitals: Vitals | null = null;
  lastVitalsAt = 0;

  constructor(private readonly o: HostWatcherOptions) {
    const { host, state, config, clock, log } = o;
    this.limit = new LogLimit(log, clock);
    this.tracker = new RestartTracker(host.name, state, (err) => this.limit.error("watch.state", err, "restart history not saved", { host: host.name }));
    this.t = translator(config.language);
    this.hot = new Sustained(config.watch.cpu.for);
    const pm2Home = host.config.pm2Home;
    this.bus = pm2Home
      ? new Pm2Bus({
          host: host.name,
          executor: host.executor,
          pm2Home,
          clock,
          log,
          // serial() already logs a failure; catch here so it is not an unhandled rejection too.
          onEvent: (e) => void this.serial(() => this.onBusEvent(e)).catch(() => undefined),
          onConnect: () => (this.reconcileWanted = true),
        })
      : null;
  }

  get name(): string {
    return this.o.host.name;
  }

  /** True while the host's checks fail. */
  get failing(): boolean {
    return this.failures > 0;
  }

  start(): void {
    this.bus?.start();
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopSignal.abort();
    await this.bus?.stop();
    await this.loop;
    await this.chain;
  }

  /** One round: vitals and their detectors, a reconcile when due, the quiet sweep. */
  async tick(): Promise<void> {
    this.ticks++;
    const answered = await this.checkVitals();
    const every = this.o.reconcileEvery ?? 10;
    // A host that just did not answer would only make the reconcile wait out its deadline too.
    if (answered && (this.reconcileWanted || !this.bus?.connected || this.ticks % every === 0)) {
      this.reconcileWanted = false;
      await this.serial(() => this.reconcile());
    }
    await this.o.desk.sweep((i) => i.host === this.name && i.kind !== "unreachable" && i.kind !== "dns");
  }

  private async run(): Promise<void> {
    const { clock, config } = this.o;
    while (!this.stopSignal.signal.aborted) {
      const started = clock.now();
      try {
        await this.tick();
      } catch (err) {
        this.limit.error("watch.round", err, "watch round failed", { host: this.name });
      }
      // Rounds start every interval, however long this one waited on a silent host: a frozen
      // host then fails its checks as fast as one that refuses.
      const wait = Math.max(0, config.watch.interval - (clock.now() - started));
      await clock.sleep(wait, this.stopSignal.signal).catch(() => undefined);
    }
  }

  /**
   * One read from the host, bounded by the per-call deadline min(`watch.interval`,
   * `hostTimeout`) on the injected clock, and ended when the watcher stops. A silent host fails
   * it with `host.no_answer`, so `unreachableAfter` rounds in a row fail within about
   * `unreachableAfter` intervals, frozen or refusing.
   *
   * @example
   * const v = await this.read((o) => readVitals(host.executor, paths, o));
   */
  private read<T>(call: (options: ExecOptions) => Promise<T>): Promise<T> {
    const { config, clock, host } = this.o;
    const timeoutMs = Math.min(config.watch.interval, config.hostTimeout);
    return withDeadline(host.name, { timeoutMs, signal: this.stopSignal.signal }, clock, call);
  }

  private async onBusEvent(e: Pm2BusEvent): Promise<void> {
    if (e.type === "exception") {
      this.lastExceptions.set(e.name, e.message);
      return;
    }
    // restart_time is already incremented on the 'online' that follows a crash; other events
    // carry it too, so any of them may advance the counter.
    const deltas = this.tracker.observe([{ name: e.name, pmId: e.pmId, restarts: e.restarts }], e.at, { complete: false });
    await this.afterRestarts(deltas);
  }

  /** Full jlist: exact counters, forgets deleted processes, checks every app for a storm. */
  private async reconcile(): Promise<void> {
    let processes;
    try {
      processes = await this.read((o) => this.o.host.pm2.list(o));
    } catch (err) {
      this.o.log.debug({ err, host: this.name }, "reconcile: pm2 list failed");
      return;
    }
    const deltas = this.tracker.observe(processes, this.o.clock.now(), { complete: true });
    await this.afterRestarts(deltas);
  }

  private async afterRestarts(deltas: RestartDelta[]): Promise<void> {
    const { config, state, clock, desk } = this.o;
    const rule = config.watch.restartStorm;
    for (const { app } of deltas) {
      const key = { host: this.name, app, kind: "restart_storm" };
      await desk.touch(key);
      const now = clock.now();
      const records = state.restarts(this.name, app, now - Math.max(rule.within, rule.fast.within));
      const storm = restartStorm(records, now, rule);
      if (!storm) continue;
      await desk.raise(key, {
        summary: this.t("storm.summary", { restarts: storm.restarts, span: formatDuration(Math.max(storm.spanMs, 1000)) }),
        describe: () => this.describeApp(app),
      });
    }
  }

  /** Likely cause from the last error lines, and the command to try; the evidence adds the lines themselves. */
  private async describeApp(app: string): Promise<Described> {
    const host = this.name;
    let lines: string[] = [];
    try {
      lines = await this.read((o) => this.o.host.pm2.errorLines(app, 30, o));
    } catch {
      // the alert goes out anyway
    }
    const exception = this.lastExceptions.get(app);
    if (exception) lines.push(...exception.split("\n").slice(0, 3));
    const cause = classify(lines);
    const out: string[] = [];
    let holder: string | null = null;
    switch (cause.cause) {
      case "port_in_use": {
        holder = cause.port ? await this.portHolder(cause.port) : null;
        out.push(this.t("cause.port_in_use", { port: cause.port ?? "?", holder: holder ? this.t("cause.held_by", { holder }) : "" }));
        out.push(this.t("cause.try", { commands: `\`/logs ${app} ${host}\` · \`/restart ${app} ${host}\`` }));
        break;
      }
      case "dns":
        out.push(this.t("cause.dns", { name: cause.name ?? "?" }));
        out.push(this.t("cause.try", { commands: `\`/dns check ${host}\`` }));
        break;
      case "db_refused":
        out.push(this.t("cause.db_refused", { db: databaseName(cause.port), port: cause.port }));
        out.push(this.t("cause.try", { commands: `\`/status ${host}\` · \`/logs ${app} ${host}\`` }));
        break;
      case "heap":
        out.push(this.t("cause.heap"));
        out.push(this.t("cause.try", { commands: `\`/logs ${app} ${host}\`` }));
        break;
      case "unhandled_rejection":
        out.push(this.t("cause.unhandled"));
        out.push(this.t("cause.try", { commands: `\`/logs ${app} ${host}\`` }));
        break;
      default:
        out.push(this.t("cause.unknown", { line: cause.line ? echo(cause.line, 160) : "-" }));
        out.push(this.t("cause.try", { commands: `\`/logs ${app} ${host}\` · \`/restart ${app} ${host}\`` }));
    }
    // The cause line first (the desk keeps it however long the rest), then what it was read from.
    const evidence = [out[0]!, ...(cause.cause === "port_in_use" && cause.port ? [`port ${cause.port}: ${holder ?? "holder unknown"}`] : []), ...lines];
    return { lines: out, evidence };
  }

  /** The last vitals this watcher read, as evidence for a host-level incident. */
  private vitalsNow(): string[] {
    if (!this.lastVitals) return [];
    return vitalsEvidence(this.lastVitals, new Date(this.lastVitalsAt).toISOString());
  }

  /** The host's resolvers, as its apps see them (DNS evidence). */
  private async resolvers(): Promise<string[]> {
    const r = await this.read((o) => this.o.host.executor.run(["cat", "/etc/resolv.conf"], o)).catch(() => null);
    const lines = r?.code === 0 ? resolverLines(r.stdout) : [];
    return lines.length ? lines : ["/etc/resolv.conf: no nameserver lines read"];
  }

  private async portHolder(port: number): Promise<string | null> {
    const r = await this.read((o) => this.o.host.executor.run(["ss", "-Hltnp", `sport = :${port}`], o)).catch(() => null);
    return r && r.code === 0 ? parsePortHolder(r.stdout) : null;
  }

  /** False when the host could not be reached or did not answer (or the watcher is stopping). */
  /** Set by the first check that got an answer since this watcher started. */
  private answeredOnce = false;

  private async checkVitals(): Promise<boolean> {
    const { host, config, desk, clock } = this.o;
    const paths = vitalsPaths(host.config, config.dataDir);
    let v: Vitals;
    try {
      v = await this.read((o) => readVitals(host.executor, paths, o));
    } catch (err) {
      if (this.stopSignal.signal.aborted) return false; // stopping, not a failed check
      this.failures++;
      if (this.failures >= config.watch.unreachableAfter) {
        const reason = isJagaError(err) ? this.t(err.code, err.params) : err instanceof Error ? err.message : String(err);
        await desk.raise(
          { host: this.name, app: "", kind: "unreachable" },
          {
            summary: this.t("unreachable.summary", { count: this.failures, reason: echo(reason, 120) }),
            describe: () => Promise.resolve({ lines: [], evidence: [`last error: ${reason}`, ...this.vitalsNow()] }),
          },
        );
      }
      return !(isNoAnswer(err) || (isJagaError(err) && err.code.startsWith("ssh.")));
    }
    // The first answer after start clears too: an "unreachable" opened before a restart must
    // not stay open because this process never counted the failures itself.
    if (this.failures >= config.watch.unreachableAfter || !this.answeredOnce) await desk.clear({ host: this.name, app: "", kind: "unreachable" });
    this.answeredOnce = true;
    this.failures = 0;
    const now = clock.now();
    this.lastVitals = v;
    this.lastVitalsAt = now;

    const cpu = cpuPercent(this.lastCpu, v.cpu);
    this.lastCpu = v.cpu;
    if (cpu !== null && this.hot.update(cpu >= config.watch.cpu.percent, now)) {
      await desk.raise(
        { host: this.name, app: "", kind: "cpu" },
        {
          summary: this.t("cpu.summary", { percent: cpu, duration: formatDuration(now - (this.hot.startedAt ?? now)) }),
          describe: async () => {
            const lines = await this.describeCpu();
            return { lines, evidence: [...lines.slice(0, 1), ...this.vitalsNow()] };
          },
        },
      );
    }

    for (const d of v.disks) {
      const level = diskLevel(d.usedPercent, config.watch.disk);
      if (!level) continue;
      await desk.raise(
        { host: this.name, app: d.mount, kind: level === "critical" ? "disk_critical" : "disk" },
        {
          summary: this.t("disk.summary", { mount: d.mount, percent: d.usedPercent, free: formatBytes(d.sizeBytes - d.usedBytes) }),
          describe: () => Promise.resolve({ lines: [this.t("cause.try", { commands: `\`/flush ${this.name}\`` })], evidence: this.vitalsNow() }),
        },
      );
    }

    if (config.watch.dns.enabled) await this.checkDns();

    const mem = memoryPercent(v);
    if (mem >= config.watch.memory.percent) {
      await desk.raise(
        { host: this.name, app: "", kind: "memory" },
        { summary: this.t("memory.summary", { percent: mem }), describe: () => Promise.resolve({ lines: [], evidence: this.vitalsNow() }) },
      );
    }
    return true;
  }

  /** `getent hosts` asks the host's own resolver, exactly as its apps do (report 001). */
  private async checkDns(): Promise<void> {
    const name = this.o.config.watch.dns.name;
    const r = await this.read((o) => this.o.host.executor.run(["getent", "hosts", name], o)).catch(() => null);
    const key = { host: this.name, app: "", kind: "dns" };
    if (r?.code === 0) return this.o.desk.clear(key);
    // Only getent's "not found" (2) means the name does not resolve; a check that timed out, a
    // missing getent (127) or a dropped connection says nothing about DNS.
    if (r?.code !== GETENT_NOT_FOUND) return;
    await this.o.desk.raise(key, {
      summary: this.t("dns.summary", { name }),
      describe: async () => ({
        lines: [this.t("cause.try", { commands: `\`/dns check ${this.name}\`` })],
        evidence: [`getent hosts ${name}: not found`, ...(await this.resolvers()), ...this.vitalsNow()],
      }),
    });
  }

  private async describeCpu(): Promise<string[]> {
    try {
      const top = (await this.read((o) => this.o.host.pm2.list(o))).sort((a, b) => b.cpu - a.cpu)[0];
      if (!top) return [];
      return [
        this.t("cpu.top", { app: top.name, cpu: Math.round(top.cpu) }),
        this.t("cause.try", { commands: `\`/logs ${top.name} ${this.name}\` · \`/restart ${top.name} ${this.name}\`` }),
      ];
    } catch {
      return [];
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch((err: unknown) => this.limit.error("watch.step", err, "watch step failed", { host: this.name }));
    return next;
  }
}
