/**
 * Watches one host: PM2's process list every `watch.pm2Interval` (2 s), asked of the daemon over
 * its `rpc.sock` (pm2-rpc.ts: locally a socket, over SSH a streamlocal channel), and host vitals
 * every `watch.interval`. The list feeds the restart counter (restarts.ts) and the apps' statuses
 * (app-down.ts), judged after every list, so a grace ends on time; the vitals feed the host
 * detectors. What they find goes to the incident desk.
 *
 * Why a poll and not PM2's event bus (pm2-bus.ts): the bus is axon pub/sub, which sends each
 * subscriber everything — every log line of every app included — and leaves the filtering to the
 * subscriber, so listening costs Jaga (and sshd, and the SSH link) in proportion to what the apps
 * log; `bench/watch.ts` measures it past 0.5 % of a core with one app logging 20 lines a
 * second. The list costs the same whatever the apps log: one answer of a few KB per app. Restarts
 * are PM2's counters (`restart_time`), so a poll misses none, and a storm is found within one
 * `pm2Interval`. Nothing is lost by not listening: uncaught exceptions are in the app's error
 * log, which is what the evidence reads (PM2 in fork mode never sends them on the bus at all).
 *
 * Cost on the watched host: per `pm2Interval`, the daemon's answer to one `getMonitorData` (and
 * sshd relaying it); per `interval`, `cat` of three /proc files, `nproc`, `df` (and `getent` when
 * the DNS check is on) — a few milliseconds of CPU. Where the list cannot come from the socket
 * (no `pm2Home`, a server that forbids streamlocal) every list is a `pm2 jlist` process: then it
 * is read every `interval` only. While the host does not answer, the list is not asked for:
 * the vitals round tells when it is back.
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
import { dnsArgs, dnsProbe } from "../ops/dns.js";
import { runProbe } from "../ops/probe.js";
import { readVitals, vitalsPaths, type Vitals } from "../ops/vitals.js";
import type { WatchState } from "../store/sqlite/watch.js";
import { echo } from "../text.js";
import { appDownStep, appStatus, observeApp, requiredApps, restartedApp, stoppedKey, type AppTrack, type StopMark } from "./app-down.js";
import { classify, databaseName, parsePortHolder } from "./classify.js";
import type { Described, IncidentDesk } from "./desk.js";
import { resolverLines, vitalsEvidence } from "./evidence.js";
import { cpuPercent, diskLevel, memoryPercent, restartStorm, Sustained } from "./detectors.js";
import { RestartTracker, type RestartDelta, type ProcessCount } from "./restarts.js";

export interface HostWatcherOptions {
  host: Host;
  desk: IncidentDesk;
  state: WatchState;
  clock: Clock;
  config: Config;
  log: Logger;
}

export class HostWatcher {
  readonly tracker: RestartTracker;
  private readonly t: Translate;
  private readonly limit: LogLimit;
  private readonly hot: Sustained;
  private lastCpu: Vitals["cpu"] = null;
  private failures = 0;
  /** False while the host does not answer at all (no answer in time, SSH down): no list is asked for. */
  private answering = true;
  private loops: Promise<void>[] = [];
  private readonly stopSignal = new AbortController();
  /** Serializes the PM2 side: a list and the judgement of the apps must not interleave. */
  private chain: Promise<unknown> = Promise.resolve();
  /** Per app, its instances' PM2 statuses by pm_id, as last listed. */
  private readonly instances = new Map<string, Map<number, string>>();
  /** Per app, its up/down run (app-down.ts). */
  private readonly tracks = new Map<string, AppTrack>();
  /** Apps seen online, kept in the watch state so a Jaga restart still knows them. */
  private readonly wasOnline: Set<string>;
  private readonly required: Set<string>;
  /** Apps stopped on purpose that were seen down since: the next "online" ends the mark. */
  private readonly downWhileMarked = new Set<string>();
  /** The latest vitals and when they were read: /status serves them while fresh. */
  lastVitals: Vitals | null = null;
  lastVitalsAt = 0;

  constructor(private readonly o: HostWatcherOptions) {
    const { host, state, config, clock, log } = o;
    this.limit = new LogLimit(log, clock);
    this.tracker = new RestartTracker(host.name, state, (err) => this.limit.error("watch.state", err, "restart history not saved", { host: host.name }));
    this.t = translator(config.language);
    this.hot = new Sustained(config.watch.cpu.for);
    this.wasOnline = new Set(state.get<string[]>(this.onlineKey) ?? []);
    this.required = requiredApps(config.watch.apps, host.name);
  }

  get name(): string {
    return this.o.host.name;
  }

  private get onlineKey(): string {
    return `online:${this.o.host.name}`;
  }

  /** True while the host's checks fail. */
  get failing(): boolean {
    return this.failures > 0;
  }

  /** Two loops on the injected clock: vitals every `watch.interval`, PM2's list every {@link pm2Period}. */
  start(): void {
    if (this.loops.length) return;
    const { config } = this.o;
    this.loops = [
      this.every(() => config.watch.interval, () => this.vitalsRound()),
      this.every(() => this.pm2Period, async () => {
        // A host that does not answer would only make the list wait out its deadline too.
        if (this.answering) await this.pm2Round();
      }),
    ];
  }

  async stop(): Promise<void> {
    this.stopSignal.abort();
    await Promise.all(this.loops);
    await this.chain;
  }

  /**
   * How often the list is read: `watch.pm2Interval` while it comes from the daemon's socket,
   * `watch.interval` while every read is a `pm2 jlist` process (a Node process: polled every
   * 2 s it would cost the host more than all the rest of watching).
   */
  get pm2Period(): number {
    const { config, host } = this.o;
    return host.pm2.readsFromSocket ? config.watch.pm2Interval : config.watch.interval;
  }

  /** One round of both loops, in order: vitals, PM2's list and the apps' judgement, the quiet sweep. */
  async tick(): Promise<void> {
    await this.checkVitals();
    if (this.answering) await this.pm2Round();
    await this.sweep();
  }

  private async vitalsRound(): Promise<void> {
    await this.checkVitals();
    await this.sweep();
  }

  /** The list, then every app's track against the grace and the up time. */
  private async pm2Round(): Promise<void> {
    const answered = await this.serial(() => this.poll());
    // Statuses a silent host last had are no news: judge apps only when the host answered.
    if (answered) await this.serial(() => this.judgeApps());
  }

  /** Resolves incidents quiet for `watch.resolveAfter`; these kinds resolve only when their condition is seen to end. */
  private async sweep(): Promise<void> {
    const byCondition = new Set(["unreachable", "dns", "app_down"]);
    await this.o.desk.sweep((i) => i.host === this.name && !byCondition.has(i.kind));
  }

  private async every(period: () => number, round: () => Promise<void>): Promise<void> {
    const { clock } = this.o;
    while (!this.stopSignal.signal.aborted) {
      const started = clock.now();
      try {
        await round();
      } catch (err) {
        this.limit.error("watch.round", err, "watch round failed", { host: this.name });
      }
      // Rounds start every period, however long this one waited on a silent host: a frozen
      // host then fails its checks as fast as one that refuses.
      const wait = Math.max(0, period() - (clock.now() - started));
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
   * const v = await this.read((o) => readVitals(host.executor, paths, { ...o, host: this.name, clock }));
   */
  private read<T>(call: (options: ExecOptions) => Promise<T>): Promise<T> {
    const { config, clock, host } = this.o;
    const timeoutMs = Math.min(config.watch.interval, config.hostTimeout);
    return withDeadline(host.name, { timeoutMs, signal: this.stopSignal.signal }, clock, call);
  }

  /**
   * PM2's full list: exact counters (a restart is never missed, they are counters), forgets
   * deleted processes, every app's status. False when the host did not answer (or SSH is down);
   * true when it answered, even with an error (then the statuses stay as last listed).
   */
  private async poll(): Promise<boolean> {
    let processes;
    try {
      processes = await this.read((o) => this.o.host.pm2.list(o));
    } catch (err) {
      this.o.log.debug({ err, host: this.name }, "watch: pm2 list failed");
      // Silent: ask again once a vitals round has heard from the host (this one waited out its deadline).
      if (silent(err)) this.answering = false;
      return !silent(err);
    }
    const now = this.o.clock.now();
    const deltas = this.tracker.observe(processes, now, { complete: true });
    await this.afterRestarts(deltas);
    this.instances.clear();
    for (const p of processes as (ProcessCount & { status: string })[]) {
      const mine = this.instances.get(p.name) ?? new Map<number, string>();
      mine.set(p.pmId, p.status);
      this.instances.set(p.name, mine);
    }
    for (const app of new Set([...this.instances.keys(), ...this.tracks.keys(), ...this.required])) await this.observeStatus(app, now);
    return true;
  }

  /** Folds an app's current status into its track; forgets an app deleted from PM2 that nobody requires. */
  private async observeStatus(app: string, at: number): Promise<void> {
    const status = appStatus([...(this.instances.get(app)?.values() ?? [])]);
    if (status === null) this.instances.delete(app);
    if (status === null && !this.required.has(app)) {
      // Deleting an app takes it out of the fleet: not an outage, and no longer one.
      const had = this.tracks.delete(app);
      this.downWhileMarked.delete(app);
      this.rememberOnline(app, false);
      if (had) await this.o.desk.clear({ host: this.name, app, kind: "app_down" });
      return;
    }
    const track = observeApp(this.tracks.get(app), status, at);
    this.tracks.set(app, track);
    if (track.health === "up") this.rememberOnline(app, true);
  }

  private rememberOnline(app: string, online: boolean): void {
    if (this.wasOnline.has(app) === online) return;
    if (online) this.wasOnline.add(app);
    else this.wasOnline.delete(app);
    try {
      this.o.state.set(this.onlineKey, [...this.wasOnline].sort());
    } catch (err) {
      this.limit.error("watch.state", err, "online apps not saved", { host: this.name });
    }
  }

  /** Every app's track against the grace and the up time: raise, clear, or nothing. */
  private async judgeApps(): Promise<void> {
    const { clock, config, desk, state } = this.o;
    const now = clock.now();
    for (const [app, track] of [...this.tracks]) {
      const mark = state.get<StopMark>(stoppedKey(this.name, app));
      if (mark && track.health !== "up") this.downWhileMarked.add(app);
      if (mark && track.health === "up" && this.downWhileMarked.has(app)) {
        // Started again (by anyone) after the stop on purpose: the next stop is news again.
        state.delete(stoppedKey(this.name, app));
        this.downWhileMarked.delete(app);
      }
      const eligible = this.wasOnline.has(app) || this.required.has(app);
      const { next, action } = appDownStep(track, now, config.watch.appDown, { eligible, deliberate: mark !== undefined });
      this.tracks.set(app, next);
      const key = { host: this.name, app, kind: "app_down" };
      if (action === "clear") await desk.clear(key);
      if (action !== "raise") continue;
      const duration = formatDuration(Math.max(now - next.since, 1000));
      const summary =
        next.health === "absent"
          ? this.t("appdown.absent", { duration })
          : next.status === "errored" || next.status === "stopped"
            ? this.t(next.status === "errored" ? "appdown.errored" : "appdown.stopped", { duration })
            : this.t("appdown.other", { status: next.status, duration });
      await desk.raise(key, { summary, describe: () => this.describeDown(app, next) });
    }
  }

  private async afterRestarts(deltas: RestartDelta[]): Promise<void> {
    const { config, state, clock, desk } = this.o;
    const rule = config.watch.restartStorm;
    for (const { app } of deltas) {
      const track = this.tracks.get(app);
      if (track) this.tracks.set(app, restartedApp(track, clock.now()));
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

  /** The app's last error lines, oldest first (an uncaught exception's stack among them: PM2 logs it there). */
  private async errorLines(app: string): Promise<string[]> {
    try {
      return await this.read((o) => this.o.host.pm2.errorLines(app, 30, o));
    } catch {
      return []; // the alert goes out anyway
    }
  }

  /** Why the app is down: stopped or missing says so; errored gets the storm's cause classifier; then the last error lines. */
  private async describeDown(app: string, track: AppTrack): Promise<string[] | Described> {
    if (track.health === "absent") return [this.t("cause.absent")];
    const lines = await this.errorLines(app);
    const tail = lines.slice(-5).map((l) => echo(l, 160));
    const shown = tail.length ? [this.t("appdown.lines"), "```", ...tail, "```"] : [];
    if (track.status === "stopped") {
      return [this.t("cause.stopped"), ...shown];
    }
    const described = await this.describeApp(app, lines);
    const [cause, ...rest] = described.lines;
    return { lines: [cause!, ...shown, ...rest], evidence: described.evidence };
  }

  /** Likely cause from the last error lines (what to do is the alert's numbered actions); the evidence adds the lines themselves. */
  private async describeApp(app: string, known?: string[]): Promise<Described> {
    const lines = known ?? (await this.errorLines(app));
    const cause = classify(lines);
    const out: string[] = [];
    let holder: string | null = null;
    switch (cause.cause) {
      case "port_in_use": {
        holder = cause.port ? await this.portHolder(cause.port) : null;
        out.push(this.t("cause.port_in_use", { port: cause.port ?? "?", holder: holder ? this.t("cause.held_by", { holder }) : "" }));
        break;
      }
      case "dns":
        out.push(this.t("cause.dns", { name: cause.name ?? "?" }));
        break;
      case "db_refused":
        out.push(this.t("cause.db_refused", { db: databaseName(cause.port), port: cause.port }));
        break;
      case "heap":
        out.push(this.t("cause.heap"));
        break;
      case "unhandled_rejection":
        out.push(this.t("cause.unhandled"));
        break;
      default:
        out.push(this.t("cause.unknown", { line: cause.line ? echo(cause.line, 160) : "-" }));
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
    const path = this.o.host.config.paths.resolvConf;
    const r = await this.read((o) => this.o.host.executor.run(["cat", "--", path], o)).catch(() => null);
    const lines = r?.code === 0 ? resolverLines(r.stdout) : [];
    return lines.length ? lines : [`${path}: no nameserver lines read`];
  }

  private async portHolder(port: number): Promise<string | null> {
    const r = await this.read((o) => this.o.host.executor.run(["ss", "-Hltnp", `sport = :${port}`], o)).catch(() => null);
    return r && r.code === 0 ? parsePortHolder(r.stdout) : null;
  }

  /** Set by the first check that got an answer since this watcher started. */
  private answeredOnce = false;

  /** Vitals and their detectors; a failure counts towards "unreachable" and tells whether the host answers at all. */
  private async checkVitals(): Promise<void> {
    const { host, config, desk, clock } = this.o;
    const paths = vitalsPaths(host.config, config.dataDir);
    let v: Vitals;
    try {
      v = await this.read((o) => readVitals(host.executor, paths, { ...o, host: this.name, clock }));
    } catch (err) {
      if (this.stopSignal.signal.aborted) return; // stopping, not a failed check
      this.answering = !silent(err);
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
      return;
    }
    this.answering = true;
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
          describe: () => Promise.resolve({ lines: [], evidence: this.vitalsNow() }),
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
  }

  /**
   * The host's own resolver, asked exactly as its apps ask it (report 001), through the same
   * probe `/dns check` uses: only "not found" opens an incident; a timed-out check, a missing
   * getent, a getent failing otherwise or a dropped connection says nothing about DNS.
   */
  private async checkDns(): Promise<void> {
    const { config, clock, host } = this.o;
    const name = config.watch.dns.name;
    const r = await runProbe(host.executor, dnsProbe, dnsArgs(name, host.config.paths), {
      host: this.name,
      clock,
      timeoutMs: Math.min(config.watch.interval, config.hostTimeout),
      signal: this.stopSignal.signal,
    });
    const key = { host: this.name, app: "", kind: "dns" };
    if (r.kind !== "ok") return;
    if (r.value.state === "resolves") return this.o.desk.clear(key);
    if (r.value.state !== "not_found") return;
    await this.o.desk.raise(key, {
      summary: this.t("dns.summary", { name }),
      describe: async () => ({
        lines: [],
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

/** The host did not answer in time, or the SSH link is down: it said nothing, not "no". */
function silent(err: unknown): boolean {
  return isNoAnswer(err) || (isJagaError(err) && err.code.startsWith("ssh."));
}
