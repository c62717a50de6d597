/**
 * Wiring: builds the parts from the config, starts them, and stops them within a budget.
 * Each part is tested on its own.
 *
 *   lock ─ store ─ hosts ─ transport (console | WhatsApp) ─ outbox pump ─ watch ─ pipeline ─ http
 *
 * With `standby:` configured (src/standby/), the WhatsApp socket and the outbox pump run only
 * while this instance holds the lease — a fresh transport and pump per term, started after the
 * lease is held and stopped before it is given up — and commands are answered only then; the
 * watchers, the health page and the console run on every instance. The pump sends from the
 * lease's shared outbox (PostgreSQL), fed from the local one, so a new term sends what the old
 * one queued.
 *
 * The stop (see {@link stopSequence}) is bounded by `shutdown.budget` whatever the hosts do:
 * nothing new runs, running commands get most of the budget and are then aborted, every
 * closing step is raced against what is left. After "stopped" nothing runs, replies or writes.
 *
 * @example
 * const jaga = await startJaga({ config, input: process.stdin, output: process.stdout, log });
 * await jaga.stopped; // console end of input, or jaga.stop() from a signal handler
 */
import type { Readable, Writable } from "node:stream";
import { commands as allCommands } from "../commands/index.js";
import type { WhatsAppParts } from "./chat/baileys/build.js";
import { CONSOLE_SENDER, ConsoleTransport } from "./chat/console.js";
import { DirectSend, queueOrSendDirect } from "./chat/direct-send.js";
import { OutboxPump } from "./chat/outbox-pump.js";
import { dayIn, Pacer, pacingHeaders } from "./chat/pacing.js";
import { DEFAULT_ALERT_CHAT, type Transport } from "./chat/transport.js";
import { systemClock, type Clock } from "./clock.js";
import type { Config } from "./config/load.js";
import type { HostConfig } from "./config/schema.js";
import type { Executor } from "./hosts/executor.js";
import { Inventory, type ExecutorFactory } from "./hosts/inventory.js";
import { LocalExecutor } from "./hosts/local.js";
import { SshExecutor } from "./hosts/ssh/index.js";
import { startHttpServer, type HttpServer } from "./http/server.js";
import { translator } from "./i18n/index.js";
import type { Logger } from "./log.js";
import type { Command } from "./pipeline/command.js";
import { Directory } from "./pipeline/people.js";
import { Pipeline } from "./pipeline/pipeline.js";
import { haltText } from "./reconnect/decide.js";
import { DataDirLocked, lockDataDir } from "./store/lock.js";
import { IncidentsWithMemory } from "./store/memory-incidents.js";
import { cannotOpen, embeddedOf, openStore, StoreOpenError, storeHealth, type OpenedStore } from "./store/open.js";
import type { AlertingIncidents, LocalStore, Outbox } from "./store/store.js";
import { redact } from "./text.js";
import { VERSION } from "./version.js";
import { standbySettings } from "./config/standby.js";
import { alertsOnlyWhenActive, incidentsByRole } from "./standby/gate.js";
import type { Standby, Term } from "./standby/index.js";
import type { Holder } from "./standby/lease.js";
import type { SharedWaAuth } from "./standby/shared-auth.js";
import type { CutOffRun } from "./standby/shared-runs.js";
import { SwitchedTransport } from "./standby/switched.js";
import type { WhatsAppControl } from "./reconnect/control.js";
import { formatDuration } from "./duration.js";
import { createWatch, type WatchServices } from "./watch/index.js";
import { followStoreHealth } from "./watch/self.js";

export interface StartOptions {
  config: Config;
  log: Logger;
  input: Readable;
  output: Writable;
  /** Secrets (Supabase keys) come from here; default process.env. */
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  commands?: readonly Command[];
  makeExecutor?: ExecutorFactory;
  /**
   * Aborting it stops Jaga, also while it is still starting: startJaga then starts nothing
   * more, stops what it built and resolves (its `stopped` resolves too). A signal handler
   * installed before start-up aborts this.
   */
  signal?: AbortSignal;
}

export interface Jaga {
  readonly pipeline: Pipeline;
  /** The lease and this instance's role, with `standby:` configured. */
  readonly standby?: Standby;
  readonly store: OpenedStore;
  readonly outbox: OutboxPump;
  readonly watch?: WatchServices;
  readonly hosts: Inventory;
  readonly transport: Transport;
  /** Resolves once Jaga has stopped, whatever stopped it. */
  readonly stopped: Promise<void>;
  /** Queues a message for the alert group (durably) and sends it as soon as possible. */
  alert(text: string, dedupeKey?: string): Promise<boolean>;
  stop(reason?: string): Promise<void>;
}

/** Local hosts spawn here; SSH hosts get one pooled connection each (src/hosts/ssh/). */
export function defaultExecutorFactory(host: HostConfig, log?: Logger): Executor {
  if (host.local) return new LocalExecutor();
  if (host.ssh) return new SshExecutor({ name: host.name, target: host.ssh, ...(log ? { log } : {}) });
  throw new Error(`host ${host.name}: neither local nor ssh`);
}

export async function startJaga(options: StartOptions): Promise<Jaga> {
  const { config, log } = options;
  const clock = options.clock ?? systemClock;
  // First of all: a second instance must not touch the store, nor the WhatsApp session in it.
  const lock = await lockDataDir(config.dataDir).catch((err: unknown) => {
    if (err instanceof DataDirLocked || !(err instanceof Error)) throw err;
    // A data directory that cannot be written fails here first: say what is wrong, as the store would.
    const raw = (err as { code?: unknown }).code;
    const code = typeof raw === "string" ? raw : "EIO";
    throw new StoreOpenError(cannotOpen(Object.assign(new Error(err.message), { code }), config.dataDir), err);
  });
  let store: OpenedStore | undefined;
  try {
    store = openStore({ dataDir: config.dataDir, env: options.env ?? process.env, checkEveryMs: config.watch.interval }, log, clock);
    return await assemble(options, clock, store, () => lock.release());
  } catch (err) {
    await store?.close().catch(() => undefined);
    lock.release();
    throw err;
  }
}

/** Builds and starts the parts on an opened store; `unlock` ends the stop. */
async function assemble(options: StartOptions, clock: Clock, store: OpenedStore, unlock: () => void): Promise<Jaga> {
  const { config, log } = options;
  const local = embeddedOf(store);
  const hosts = Inventory.fromConfig(config.hosts, options.makeExecutor ?? ((host) => defaultExecutorFactory(host, log)), clock);
  const alertChat = config.alerts.group ?? DEFAULT_ALERT_CHAT;
  const t = translator(config.language);
  /** Set when the stop begins: from then on nothing new starts, nothing new is queued. */
  let stopping: Promise<void> | undefined;

  // Standby: the lease decides who runs WhatsApp, the sends and the commands (src/standby/).
  const settings = standbySettings(config, options.env ?? process.env);
  // Loaded only with a standby (pg and the lease code): a single instance never pays for them.
  const standby = settings ? (await import("./standby/index.js")).openStandby(settings, { clock, log }) : undefined;
  const active = () => !standby || standby.isActive();
  const sharedAuth: SharedWaAuth | undefined = standby
    ? new (await import("./standby/shared-auth.js")).SharedWaAuth({
        local: local.waAuth,
        db: standby.db,
        lease: settings!.lease,
        epoch: () => standby.keeper.currentEpoch(),
        onFenced: (detail) => standby.keeper.fenced(detail),
        clock,
        log,
      })
    : undefined;
  // What the pump sends from: with a standby, the lease's shared outbox (PostgreSQL), fed from
  // the local one, so what one term queued the next one sends (src/standby/shared-outbox.ts).
  const shared = standby ? await import("./standby/shared-outbox.js") : undefined;
  const sendFrom: Outbox =
    standby && shared
      ? new shared.ForwardingOutbox(
          local.outbox,
          new shared.SharedOutbox({
            db: standby.db,
            lease: settings!.lease,
            epoch: () => standby.keeper.currentEpoch(),
            onFenced: (detail) => standby.keeper.fenced(detail),
          }),
          settings!.name,
          clock,
        )
      : local.outbox;

  // Transport. With WhatsApp, a reply that cannot go out now waits in the outbox.
  const keepReply = async (chatId: string, text: string, dedupeKey: string) => {
    await local.outbox.enqueue({ chatId, text, dedupeKey, at: clock.now() });
    pump.kick(); // only ever called once the transport runs, after `pump` exists
  };
  // Baileys (~30 MB) loads only with the WhatsApp transport: the console never pays for it.
  const buildWa = async (): Promise<WhatsAppParts> =>
    (await import("./chat/baileys/build.js")).buildWhatsApp({ config, store: local, clock, log, input: options.input, output: options.output, keepReply, kv: sharedAuth });
  // A standby builds WhatsApp's parts for each term it is active (loaded now, so a takeover does
  // not wait for Baileys to load); a single instance builds them once, now.
  if (config.transport === "whatsapp" && standby) await import("./chat/baileys/build.js");
  let wa: WhatsAppParts | undefined = config.transport === "whatsapp" && !standby ? await buildWa() : undefined;
  const switched = config.transport === "whatsapp" && standby ? new SwitchedTransport(log, clock, local.outbox, new URL(config.whatsapp.url).hostname) : undefined;
  const transport: Transport = switched ?? (wa ? wa.transport : new ConsoleTransport(options.input, options.output, alertChat));
  const control: WhatsAppControl | undefined = switched?.control ?? wa?.control;
  // With WhatsApp: a per-chat send budget, and a dead letter (463, 479, …) becomes an incident.
  let deadLetter: (chatId: string, code: string, text: string) => void = () => undefined;
  const pacer =
    config.transport === "whatsapp"
      ? new Pacer(
          { intervalMs: config.whatsapp.pacing.interval, dailyBudget: config.whatsapp.pacing.dailyBudget, dayOf: dayIn(config.timezone) },
          pacingHeaders(t, log, config.timezone),
        )
      : undefined;
  const makePump = () =>
    new OutboxPump(sendFrom, transport, clock, log, undefined, undefined, {
      pacer,
      onDeadLetter: (m, code) => deadLetter(m.chatId, code, m.text),
    });
  let pump = makePump();
  // A standby's pump is replaced by one per term; this first one never sends.
  if (standby) void pump.stop();
  wa?.onOpen(() => pump.kick());

  // Jaga watches itself (store/health.ts, watch/self.ts): when the store cannot be written,
  // alerts go straight to the transport and incidents live in memory until it can again.
  const health = storeHealth(store);
  const direct = new DirectSend(transport, log, clock);
  // A standby records incidents in its own store and queues no alert; the active instance works
  // on the shared desk, so a takeover continues its incidents (src/standby/gate.ts).
  const storeIncidents = standby ? alertsOnlyWhenActive(store.incidents, active) : store.incidents;
  const deskIncidents =
    standby && settings
      ? incidentsByRole(
          store.incidents,
          new (await import("./standby/shared-incidents.js")).SharedIncidents({
            db: standby.db,
            lease: settings.lease,
            epoch: () => standby.keeper.currentEpoch(),
            onFenced: (detail) => standby.keeper.fenced(detail),
          }),
          active,
        )
      : store.incidents;
  const incidents = new IncidentsWithMemory(deskIncidents, (d) => (active() ? direct.send(d.chatId, d.text, d.dedupeKey) : Promise.resolve(false)));
  const queueAlert = async (text: string, dedupeKey?: string) => {
    if (!active()) return false;
    const queued = await local.outbox.enqueue({ chatId: alertChat, text, dedupeKey, at: clock.now() });
    pump.kick();
    return queued;
  };
  const alert = queueOrSendDirect(queueAlert, direct, alertChat);
  // Whatever still wants to alert once the stop began (a watcher's last round) queues nothing:
  // the store is about to close.
  const alertUnlessStopping = (text: string, dedupeKey?: string) => (stopping ? Promise.resolve(false) : alert(text, dedupeKey));

  const watch: WatchServices | undefined = config.watch.enabled
    ? createWatch({
        config,
        hosts,
        incidents,
        state: local.watch,
        alert: alertUnlessStopping,
        alerts: { chatId: alertChat, queued: () => pump.kick() },
        clock,
        log,
        whatsappHealth: control ? () => whatsappLine(control) : undefined,
        scope: standby ? () => (active() ? "shared" : "own") : undefined,
      })
    : undefined;
  const followTerm = (parts: WhatsAppParts) => {
    if (!watch) return;
    followWhatsApp(parts, watch, t, () => stopping !== undefined || !active());
    deadLetter = (_chat, code, text) => {
      if (stopping) return;
      const summary = t("wa.dead_letter", { code, text: redact(text.split("\n")[0]!.slice(0, 60)) });
      void watch.desk.raise({ host: "whatsapp", app: "", kind: "whatsapp_delivery" }, { summary });
    };
  };
  if (wa) followTerm(wa);
  const onWritable = () => direct.requeue((m) => queueAlert(m.text, m.dedupeKey));
  followStoreHealth({ health, incidents, desk: watch?.desk, alert: alertUnlessStopping, onWritable, t, clock, log });

  // With a standby, the commands running are recorded under the term: a takeover names those a
  // kill -9 cut off, and a message WhatsApp delivers again is not run twice.
  const runs =
    standby && settings
      ? new (await import("./standby/shared-runs.js")).SharedRuns({
          db: standby.db,
          lease: settings.lease,
          instance: settings.name,
          epoch: () => standby.keeper.currentEpoch(),
          onFenced: (detail) => standby.keeper.fenced(detail),
          clock,
          log,
        })
      : undefined;
  const directory = new Directory(config);
  const pipeline = new Pipeline({
    commands: options.commands ?? allCommands,
    directory,
    hosts,
    // Commands read the incidents the desk works on (/do, /diag): with a standby, by role.
    store: standby ? withIncidents(store, deskIncidents) : store,
    config,
    clock,
    log,
    services: { watch, whatsapp: control, standby: standby ? () => standby.status() : undefined, runs },
  });

  let http: HttpServer | undefined;
  let markStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (markStopped = resolve));

  const stop = (reason = "stop"): Promise<void> => {
    stopping ??= (async () => {
      try {
        // Hand over first: the socket closes, then the lease is released, so the next instance
        // takes over while this one is still draining its commands.
        if (standby) await settlesWithin(standby.stop(), Math.min(config.shutdown.budget / 2, settings!.ttlMs), clock);
        await stopSequence({ budgetMs: config.shutdown.budget, clock, log, reason, transport, http: () => http, pipeline, watch, pump, hosts, store });
      } finally {
        unlock();
        log.info("stopped");
        markStopped();
      }
    })();
    return stopping;
  };
  const jaga: Jaga = {
    pipeline,
    standby,
    store,
    get outbox() {
      return pump;
    },
    watch,
    hosts,
    transport,
    stopped,
    alert,
    stop,
  };
  // A signal while starting: start nothing more; the stop waits for the step under way.
  const signal = options.signal;
  const onAbort = () => void stop(String(signal?.reason ?? "abort"));
  if (signal?.aborted) onAbort();
  signal?.addEventListener("abort", onAbort, { once: true });
  void stopped.then(() => signal?.removeEventListener("abort", onAbort));
  if (stopping) return jaga;

  if (config.http?.port !== undefined) {
    try {
      http = await startHttpServer({
        port: config.http.port,
        token: config.http.token,
        log,
        t,
        sources: {
          clock,
          startedAt: clock.now(),
          version: VERSION,
          transport: transport.name,
          whatsapp: control,
          backlog: () => local.outbox.backlog(),
          replication: store.replication,
          store: () => health.status(),
          diskCritical: config.watch.disk.critical,
          hosts: () =>
            config.hosts.map((h) => ({ name: h.name, reachable: watch ? !watch.unreachable().includes(h.name) : null })),
          standby: standby ? () => standby.status() : undefined,
        },
      });
    } catch (err) {
      // The bot matters more than its health page: say why clearly and run on without it.
      log.error({ port: config.http.port }, err instanceof Error ? err.message : String(err));
    }
    // Stopped while the port was opening: the stop has closed what it saw; close this too.
    if (stopping) {
      await http?.close();
      return jaga;
    }
  }

  await transport.start(async (message) => {
    // A standby runs no command: it says who does (the console is the only way to reach one).
    if (!active()) {
      const holder = standby!.status().holder;
      await transport.reply(message, t("standby.not_active", { instance: settings!.name, holder: holder ? holder.instance : t("standby.no_holder") }), false);
      return;
    }
    const reply = await pipeline.answer(message);
    // A plan waiting for its /yes, or a cancel, is not a failed command (no ❌).
    if (reply !== null) await transport.reply(message, reply.text, ["ok", "planned", "cancelled"].includes(reply.outcome));
  });
  if (stopping) return jaga;
  if (!standby) pump.start();
  watch?.start();
  if (standby) {
    standby.start({
      activate: async (term, lost) => {
        if (switched && sharedAuth) {
          const pulled = await sharedAuth.pull(term.epoch);
          log.info({ epoch: term.epoch, session: pulled.from, rows: pulled.rows }, "standby: WhatsApp session taken over");
        }
        if (lost.aborted || stopping) return;
        // What the old term was running when it died: said, not re-run (src/standby/shared-runs.ts).
        const cutOff = (await runs?.cutOff().catch((err: unknown) => (log.warn({ err }, "standby: the cut-off commands could not be read"), []))) ?? [];
        // The first thing this term sends: who took over, why, since when the old one was silent.
        await local.outbox.enqueue({ chatId: alertChat, text: await takeoverText(term, cutOff), dedupeKey: `takeover:${settings!.lease}:${term.epoch}`, at: clock.now() });
        // And in each chat a cut-off command came from, an answer where it was asked.
        for (const c of cutOff) {
          if (c.chatId === alertChat || c.chatId === CONSOLE_SENDER) continue;
          const text = t("standby.cut_off_here", { command: c.command, previous: c.instance, at: clockTime(c.startedAt), instance: settings!.name });
          await local.outbox.enqueue({ chatId: c.chatId, text, dedupeKey: `cut-off:${settings!.lease}:${c.msgId}`, at: clock.now() });
        }
        pump = makePump();
        if (switched) {
          const parts = await buildWa();
          if (lost.aborted || stopping) return;
          wa = parts;
          parts.onOpen(() => pump.kick());
          followTerm(parts);
          await switched.activate(parts.transport, parts.control);
        }
        pump.start();
      },
      deactivate: async () => {
        // No more sends, then no socket: only then may the lease go to someone else.
        await pump.stop();
        await switched?.deactivate();
        wa = undefined;
      },
      silent: (holder) => void standbySilent(holder),
      heard: (holder) => void standbyHeard(holder),
    });
  }
  void transport.ended.then(() => stop("end of input"));
  log.info({ transport: transport.name, hosts: config.hosts.map((h) => h.name), config: config.source ?? "defaults", standby: settings?.name ?? null }, "Jaga started");
  return jaga;

  /** The takeover message: who, why, since when the old one was silent, what was queued here. */
  async function takeoverText(term: Term, cutOff: readonly CutOffRun[]): Promise<string> {
    const p = term.previous;
    const at = clockTime;
    const reason = !p
      ? t("standby.reason_first")
      : t(p.end === "released" ? "standby.reason_released" : p.end === "session" ? "standby.reason_session" : "standby.reason_expired", {
          previous: p.instance,
          at: at(p.lastRenewedAt),
          ago: formatDuration(Math.max(0, term.at - p.lastRenewedAt)),
        });
    const queued = await sendFrom.backlog().catch(() => 0);
    const open = (await deskIncidents.listOpen().catch(() => [])).filter((i) => !(i.host === "jaga" && i.kind === "standby"));
    const lines = [t("standby.took_over", { instance: settings!.name, reason, queued: queued > 0 ? t("standby.queued", { n: queued }) : t("standby.queued_none") })];
    if (open.length > 0) lines.push(t("standby.open_incidents", { list: open.map((i) => `#${i.id} ${i.kind} ${i.app ? `${i.app}@` : ""}${i.host}`).join(", ") }));
    if (cutOff.length > 0) {
      const list = cutOff.map((c) => `\`${c.command}\` (${directory.lookup(c.sender)?.name ?? c.sender}, ${at(c.startedAt)})`).join(", ");
      lines.push(t("standby.cut_off", { previous: cutOff[0]!.instance, list }));
    }
    await standbyHeard(null);
    return lines.join("\n");
  }

  /** A time of day in the configured zone, as the takeover messages give it. */
  function clockTime(ms: number): string {
    return new Intl.DateTimeFormat("en-GB", { timeZone: config.timezone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false }).format(ms);
  }

  /** A standby sees the active instance go silent: an incident here (its alert is the takeover message). */
  async function standbySilent(holder: Holder): Promise<void> {
    if (stopping) return;
    const summary = t("standby.silent", { instance: holder.instance, ago: formatDuration(Math.max(0, Date.now() - holder.renewedAt)) });
    log.warn({ instance: holder.instance, renewedAt: holder.renewedAt }, "standby: the active instance went silent");
    await storeIncidents.openOrGet({ host: "jaga", app: "", kind: "standby", summary, at: clock.now() }).catch((err: unknown) => log.warn({ err }, "standby: the incident could not be recorded"));
  }

  /** It is heard again, or this instance took over: the incident resolves (without an alert of its own). */
  async function standbyHeard(_holder: Holder | null): Promise<void> {
    const open = (await store.incidents.listOpen().catch(() => [])).find((i) => i.host === "jaga" && i.kind === "standby");
    if (open) await storeIncidents.resolve(open.id, clock.now()).catch(() => undefined);
  }
}

/** The store with another view of its incidents (the standby's by-role desk). */
function withIncidents(store: LocalStore, incidents: AlertingIncidents): LocalStore {
  return {
    kind: store.kind,
    audit: store.audit,
    blocked: store.blocked,
    outbox: store.outbox,
    replication: store.replication,
    incidents,
    close: () => store.close(),
  };
}

interface StopParts {
  budgetMs: number;
  clock: Clock;
  log: Logger;
  reason: string;
  transport: Transport;
  http: () => HttpServer | undefined;
  pipeline: Pipeline;
  watch: WatchServices | undefined;
  pump: OutboxPump;
  hosts: Inventory;
  store: OpenedStore;
}

/** Of the budget, what closing gets after the commands had theirs: a quarter, at most 2 s. */
const closingShare = (budgetMs: number) => Math.min(2_000, budgetMs / 4);

/**
 * The stop, within `budgetMs` from its first line whatever the hosts do:
 *
 *   1. stop taking messages (transport and pipeline); close the health page
 *   2. running commands finish, until the budget less the closing share
 *   3. the rest are aborted (their processes end, remote process groups too) and answer so,
 *      for at most half of what is left; then the pipeline is sealed (no late reply or write)
 *   4. watchers are told to stop; hosts close (not waiting on a silent peer past the budget)
 *   5. watchers' last rounds end, the outbox flushes, the store closes
 *
 * Each wait is raced against its share of the deadline; what did not finish in time is named
 * in the log. Only a store that will not close may take 100 ms past the budget.
 */
async function stopSequence(p: StopParts): Promise<void> {
  const { clock, log } = p;
  const deadline = clock.now() + p.budgetMs;
  const left = () => Math.max(0, deadline - clock.now());
  const late: string[] = [];
  const within = async (what: string, work: Promise<unknown>, ms = left()): Promise<boolean> => {
    const done = await settlesWithin(work, ms, clock);
    if (!done) late.push(what);
    return done;
  };
  log.info({ reason: p.reason, budgetMs: p.budgetMs }, "stopping");

  p.pipeline.close();
  const failed = (what: string) => (err: unknown) => log.warn({ err }, `${what} failed to stop`);
  // WhatsApp's stop waits for its chats' running commands: joined at the end.
  const transportStopped = p.transport.stop().catch(failed("transport"));
  await within("health page", p.http()?.close() ?? Promise.resolve());

  if (!(await withTimeout(left() - closingShare(p.budgetMs), clock, (until) => p.pipeline.drain(until)))) {
    log.warn("commands still running at shutdown are aborted");
    p.pipeline.abort();
    if (!(await withTimeout(left() / 2, clock, (until) => p.pipeline.drain(until)))) late.push("commands");
  }
  p.pipeline.seal();

  // Hosts and watchers may not take it all: the last part of the budget is the outbox's and
  // the store's, so that what was queued is flushed and the store closes even then.
  const last = closingShare(p.budgetMs) / 2;
  const watchStopped = p.watch?.stop().catch(failed("watch"));
  await within("hosts", p.hosts.close(), left() - last);
  if (watchStopped) await within("watchers", watchStopped, left() - last);
  const flushed = withTimeout(left() - last / 2, clock, (until) => p.pump.stop(until));
  await within("outbox", flushed, left() - last / 2);
  await within("transport", transportStopped, left() - last / 2);
  await within("store", p.store.close(), Math.max(left(), 100));
  if (late.length > 0) log.warn({ unfinished: late }, "stop budget spent; left unfinished");
}

/** True when `work` settles within `ms`; the timer does not outlive the answer. */
async function settlesWithin(work: Promise<unknown>, ms: number, clock: Clock): Promise<boolean> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      clock.sleep(Math.max(0, ms), timer.signal).then(
        () => false,
        () => true,
      ),
    ]);
  } finally {
    timer.abort();
  }
}

/**
 * Runs `work` with a signal that aborts after `ms` on the injected clock (AbortSignal.timeout
 * is wall time), and clears the timer when the work is done: a pending timer would hold the
 * process open after the stop.
 */
async function withTimeout<T>(ms: number, clock: Clock, work: (until: AbortSignal) => Promise<T>): Promise<T> {
  const until = new AbortController();
  const timer = new AbortController();
  clock.sleep(Math.max(0, ms), timer.signal).then(
    () => until.abort(),
    () => undefined,
  );
  try {
    return await work(until.signal);
  } finally {
    timer.abort();
  }
}

/**
 * WhatsApp's own troubles become incidents like any other: logged out, replaced, system DNS.
 * Not once the stop began: the socket closing then is Jaga's doing, and the store is closing.
 */
function followWhatsApp(wa: WhatsAppParts, watch: WatchServices, t: ReturnType<typeof translator>, stopping: () => boolean): void {
  const host = wa.control.host;
  wa.onDecryptStorm((failures) => {
    if (stopping()) return;
    void watch.desk.raise({ host: "whatsapp", app: "", kind: "whatsapp_decrypt" }, { summary: t("wa.decrypt_storm", { failures }) });
  });
  wa.whatsapp.reconnector.onChange((e) => {
    if (stopping()) return;
    if (e.type === "halt") {
      void watch.desk.raise({ host: "whatsapp", app: "", kind: "whatsapp" }, { summary: haltText(e.kind, t, e.close.code) });
    } else if (e.type === "bad-session") {
      void watch.desk.raise({ host: "whatsapp", app: "", kind: "whatsapp" }, { summary: t("wa.bad_session", { count: e.count }) });
    } else if (e.type === "open") {
      void watch.desk.clear({ host: "whatsapp", app: "", kind: "whatsapp" });
    } else if (e.type === "system-dns") {
      const incident = { host: "jaga", app: "", kind: "dns" };
      if (e.broken) void watch.desk.raise(incident, { summary: t("wa.system_dns_broken", { host, resolver: e.resolver }) });
      else void watch.desk.clear(incident);
    }
  });
}

function whatsappLine(control: WhatsAppControl): string {
  const s = control.status();
  return `${s.state} · ${s.attempts} attempts · breaker ${s.breaker.state}`;
}
