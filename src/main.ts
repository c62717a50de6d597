/**
 * Wiring only: builds the parts from the config, starts them, and stops them in reverse order.
 * No logic lives here; each part is tested on its own.
 *
 *   store ─ hosts ─ transport (console | WhatsApp) ─ outbox pump ─ watch ─ pipeline ─ http
 *
 * @example
 * const jaga = await startJaga({ config, input: process.stdin, output: process.stdout, log });
 * await jaga.stopped; // console end of input, or jaga.stop() from a signal handler
 */
import type { Readable, Writable } from "node:stream";
import { commands as allCommands } from "../commands/index.js";
import { buildWhatsApp, type WhatsAppParts } from "./chat/baileys/build.js";
import { haltText } from "./chat/baileys/transport.js";
import { ConsoleTransport } from "./chat/console.js";
import { DirectSend, queueOrSendDirect } from "./chat/direct-send.js";
import { OutboxPump } from "./chat/outbox-pump.js";
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
import { IncidentsWithMemory } from "./store/memory-incidents.js";
import { embeddedOf, openStore, storeHealth, type OpenedStore } from "./store/open.js";
import { VERSION } from "./version.js";
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
  /** How long shutdown waits for running commands before closing anyway. */
  drainTimeoutMs?: number;
}

export interface Jaga {
  readonly pipeline: Pipeline;
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
  const store = openStore({ dataDir: config.dataDir, env: options.env ?? process.env, checkEveryMs: config.watch.interval }, log, clock);
  const local = embeddedOf(store);
  const hosts = Inventory.fromConfig(config.hosts, options.makeExecutor ?? ((host) => defaultExecutorFactory(host, log)), clock);
  const alertChat = config.alerts.group ?? DEFAULT_ALERT_CHAT;

  // Transport. With WhatsApp, a reply that cannot go out now waits in the outbox.
  const keepReply = async (chatId: string, text: string, dedupeKey: string) => {
    await local.outbox.enqueue({ chatId, text, dedupeKey, at: clock.now() });
    pump.kick(); // only ever called once the transport runs, after `pump` exists
  };
  const wa: WhatsAppParts | undefined =
    config.transport === "whatsapp"
      ? buildWhatsApp({ config, store: local, clock, log, input: options.input, output: options.output, keepReply })
      : undefined;
  const transport: Transport = wa ? wa.transport : new ConsoleTransport(options.input, options.output, alertChat);
  const pump = new OutboxPump(local.outbox, transport, clock, log);
  wa?.onOpen(() => pump.kick());

  // Jaga watches itself (store/health.ts, watch/self.ts): when the store cannot be written,
  // alerts go straight to the transport and incidents live in memory until it can again.
  const health = storeHealth(store);
  const direct = new DirectSend(transport, log, clock);
  const incidents = new IncidentsWithMemory(store.incidents, (d) => direct.send(d.chatId, d.text, d.dedupeKey));
  const queueAlert = async (text: string, dedupeKey?: string) => {
    const queued = await local.outbox.enqueue({ chatId: alertChat, text, dedupeKey, at: clock.now() });
    pump.kick();
    return queued;
  };
  const alert = queueOrSendDirect(queueAlert, direct, alertChat);

  const t = translator(config.language);
  const watch: WatchServices | undefined = config.watch.enabled
    ? createWatch({
        config,
        hosts,
        incidents,
        state: local.watch,
        alert,
        alerts: { chatId: alertChat, queued: () => pump.kick() },
        clock,
        log,
        whatsappHealth: wa ? () => whatsappLine(wa) : undefined,
      })
    : undefined;
  if (wa && watch) followWhatsApp(wa, watch, t);
  const onWritable = () => direct.requeue((m) => queueAlert(m.text, m.dedupeKey));
  followStoreHealth({ health, incidents, desk: watch?.desk, alert, onWritable, t, clock, log });

  const pipeline = new Pipeline({
    commands: options.commands ?? allCommands,
    directory: new Directory(config),
    hosts,
    store,
    config,
    clock,
    log,
    services: { watch, whatsapp: wa?.control },
  });

  let http: HttpServer | undefined;
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
          whatsapp: wa?.control,
          backlog: () => local.outbox.backlog(),
          replication: store.replication,
          store: () => health.status(),
          diskCritical: config.watch.disk.critical,
          hosts: () =>
            config.hosts.map((h) => ({ name: h.name, reachable: watch ? !watch.unreachable().includes(h.name) : null })),
        },
      });
    } catch (err) {
      // The bot matters more than its health page: say why clearly and run on without it.
      log.error({ port: config.http.port }, err instanceof Error ? err.message : String(err));
    }
  }

  let stopping: Promise<void> | undefined;
  let markStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (markStopped = resolve));

  const stop = (reason = "stop"): Promise<void> => {
    stopping ??= (async () => {
      log.info({ reason }, "stopping");
      await transport.stop();
      await http?.close();
      const patience = new AbortController();
      const drained = await Promise.race([
        pipeline.drain().then(() => true),
        clock.sleep(options.drainTimeoutMs ?? 10_000, patience.signal).then(() => false, () => true),
      ]);
      patience.abort(); // a pending timer would keep the process alive after shutdown
      if (!drained) log.warn("commands still running at shutdown were abandoned");
      await watch?.stop();
      await pump.stop();
      await hosts.close();
      await store.close();
      log.info("stopped");
      markStopped();
    })();
    return stopping;
  };

  await transport.start(async (message) => {
    const reply = await pipeline.answer(message);
    if (reply !== null) await transport.reply(message, reply.text, reply.outcome === "ok");
  });
  pump.start();
  watch?.start();
  void transport.ended.then(() => stop("end of input"));
  log.info({ transport: transport.name, hosts: config.hosts.map((h) => h.name), config: config.source ?? "defaults" }, "Jaga started");
  return { pipeline, store, outbox: pump, watch, hosts, transport, stopped, alert, stop };
}

/** WhatsApp's own troubles become incidents like any other: logged out, replaced, system DNS. */
function followWhatsApp(wa: WhatsAppParts, watch: WatchServices, t: ReturnType<typeof translator>): void {
  const host = wa.control.host;
  wa.onDecryptStorm((failures) => {
    void watch.desk.raise({ host: "whatsapp", app: "", kind: "whatsapp_decrypt" }, { summary: t("wa.decrypt_storm", { failures }) });
  });
  wa.whatsapp.reconnector.onChange((e) => {
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

function whatsappLine(wa: WhatsAppParts): string {
  const s = wa.control.status();
  return `${s.state} · ${s.attempts} attempts · breaker ${s.breaker.state}`;
}
