/**
 * Wiring only: builds the parts from the config, starts them, and stops them in reverse order.
 * No logic lives here; each part is tested on its own.
 *
 * @example
 * const jaga = await startJaga({ config, input: process.stdin, output: process.stdout, log });
 * await jaga.stopped; // console end of input, or jaga.stop() from a signal handler
 */
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { commands as allCommands } from "../commands/index.js";
import { buildWhatsApp } from "./chat/baileys/build.js";
import { ConsoleTransport } from "./chat/console.js";
import { OutboxPump } from "./chat/outbox-pump.js";
import { DEFAULT_ALERT_CHAT, type Transport } from "./chat/transport.js";
import { systemClock, type Clock } from "./clock.js";
import type { Config } from "./config/load.js";
import type { HostConfig } from "./config/schema.js";
import type { Executor } from "./hosts/executor.js";
import { Inventory, type ExecutorFactory } from "./hosts/inventory.js";
import { LocalExecutor } from "./hosts/local.js";
import { SshExecutor } from "./hosts/ssh.js";
import type { Logger } from "./log.js";
import type { Command } from "./pipeline/command.js";
import { Directory } from "./pipeline/people.js";
import { Pipeline } from "./pipeline/pipeline.js";
import { startHttpServer, type HttpServer } from "./http/server.js";
import { translator } from "./i18n/index.js";
import { setWhatsAppControl } from "./reconnect/control.js";
import { VERSION } from "./version.js";
import { openSqliteStore } from "./store/sqlite/index.js";
import { createWatch, type WatchServices } from "./watch/index.js";
import type { LocalStore } from "./store/store.js";

export interface StartOptions {
  config: Config;
  log: Logger;
  input: Readable;
  output: Writable;
  clock?: Clock;
  commands?: readonly Command[];
  makeExecutor?: ExecutorFactory;
  /** How long shutdown waits for running commands before closing anyway. */
  drainTimeoutMs?: number;
}

export interface Jaga {
  readonly pipeline: Pipeline;
  readonly store: LocalStore;
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

/** Local hosts spawn here; SSH hosts get one pooled connection each (src/hosts/ssh.ts). */
export function defaultExecutorFactory(host: HostConfig): Executor {
  if (host.local) return new LocalExecutor();
  if (host.ssh) return new SshExecutor({ name: host.name, target: host.ssh });
  throw new Error(`host ${host.name}: neither local nor ssh`);
}

export async function startJaga(options: StartOptions): Promise<Jaga> {
  const { config, log } = options;
  const clock = options.clock ?? systemClock;
  const store = openSqliteStore(join(config.dataDir, "jaga.db"));
  const hosts = Inventory.fromConfig(config.hosts, options.makeExecutor ?? defaultExecutorFactory);
  const alertChat = config.alerts.group ?? DEFAULT_ALERT_CHAT;
  // JAGA_TRANSPORT=whatsapp: Baileys behind the reconnector; a reply that cannot go out now
  // is kept in the outbox and sent after reconnecting.
  const keepReply = async (chatId: string, text: string, dedupeKey: string) => {
    await store.outbox.enqueue({ chatId, text, dedupeKey, at: clock.now() });
    outbox.kick();
  };
  const wa = config.transport === "whatsapp" ? buildWhatsApp({ config, store, clock, log, input: options.input, output: options.output, keepReply }) : undefined;
  const transport: Transport = wa ? wa.transport : new ConsoleTransport(options.input, options.output, alertChat);
  const outbox: OutboxPump = new OutboxPump(store.outbox, wa ? wa.transport : transport, clock, log);
  wa?.onOpen(() => outbox.kick());
  setWhatsAppControl(wa?.control);
  const startedAt = clock.now();
  let http: HttpServer | undefined;
  if (config.http?.port !== undefined) {
    try {
      http = await startHttpServer({
        port: config.http.port,
        token: config.http.token,
        log,
        t: translator(config.language),
        sources: {
          clock,
          startedAt,
          version: VERSION,
          transport: transport.name,
          whatsapp: wa?.control,
          backlog: () => store.outbox.backlog(),
          hosts: () => config.hosts.map((h) => ({ name: h.name, reachable: null })),
        },
      });
    } catch (err) {
      // The bot matters more than its health page: say why clearly and run on without it.
      log.error({ port: config.http.port }, err instanceof Error ? err.message : String(err));
    }
  }
  const alert = async (text: string, dedupeKey?: string) => {
    const queued = await store.outbox.enqueue({ chatId: alertChat, text, dedupeKey, at: clock.now() });
    outbox.kick();
    return queued;
  };
  const watch: WatchServices | undefined = config.watch.enabled
    ? createWatch({ config, hosts, incidents: store.incidents, state: store.watch, alert, clock, log })
    : undefined;
  const pipeline = new Pipeline({
    commands: options.commands ?? allCommands,
    directory: new Directory(config),
    hosts,
    store,
    config,
    clock,
    log,
    services: { watch },
  });

  let stopping: Promise<void> | undefined;
  let markStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (markStopped = resolve));

  const stop = (reason = "stop"): Promise<void> => {
    stopping ??= (async () => {
      log.info({ reason }, "stopping");
      await transport.stop();
      await http?.close();
      setWhatsAppControl(undefined);
      const patience = new AbortController();
      const drained = await Promise.race([
        pipeline.drain().then(() => true),
        clock.sleep(options.drainTimeoutMs ?? 10_000, patience.signal).then(() => false, () => true),
      ]);
      patience.abort(); // a pending timer would keep the process alive after shutdown
      if (!drained) log.warn("commands still running at shutdown were abandoned");
      await watch?.stop();
      await outbox.stop();
      await hosts.close();
      await store.close();
      log.info("stopped");
      markStopped();
    })();
    return stopping;
  };

  await transport.start(async (message) => {
    const reply = await pipeline.handle(message);
    if (reply !== null) await transport.reply(message, reply);
  });
  outbox.start();
  watch?.start();
  void transport.ended.then(() => stop("end of input"));
  log.info({ transport: transport.name, hosts: config.hosts.map((h) => h.name), config: config.source ?? "defaults" }, "Jaga started");
  return { pipeline, store, outbox, watch, hosts, transport, stopped, alert, stop };
}
