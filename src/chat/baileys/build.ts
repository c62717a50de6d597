/**
 * Builds the WhatsApp transport from the config (JAGA_TRANSPORT=whatsapp): resolvers, backoff,
 * breaker and DNS numbers from `whatsapp` / `dns`, auth from the embedded store, alerts to the
 * alert group or, without one, to the admins. With no session yet and a terminal on stdin, the
 * console runs beside it so the admin can work while pairing.
 *
 * @example
 * const wa = buildWhatsApp({ config, store, clock, log, input, output, keepReply });
 * wa.transport.start(handler); wa.onOpen(() => pump.kick());
 */
import type { Readable, Writable } from "node:stream";
import type { Clock } from "../../clock.js";
import type { Config } from "../../config/load.js";
import { parseResolvers } from "../../dns/resolvers.js";
import { translator } from "../../i18n/index.js";
import type { Logger } from "../../log.js";
import { Directory } from "../../pipeline/people.js";
import type { WhatsAppControl } from "../../reconnect/control.js";
import type { SqliteStore } from "../../store/sqlite/index.js";
import type { WaAuthKv } from "../../store/sqlite/wa-auth.js";
import { ConsoleTransport } from "../console.js";
import { DEFAULT_ALERT_CHAT, type PumpTransport, type Transport } from "../transport.js";
import { WhatsAppTransport } from "./transport.js";
import { WithConsole } from "./with-console.js";
import { SignalConsole } from "./signal-console.js";

export interface WhatsAppParts {
  transport: Transport & PumpTransport;
  whatsapp: WhatsAppTransport;
  control: WhatsAppControl;
  /** Calls `f` every time the socket opens (kick the outbox pump here). */
  onOpen(f: () => void): void;
  /** libsignal's console output, counted instead of printed (signal-console.ts). */
  signal: SignalConsole;
  /** Calls `f` with the count when a minute had more decrypt failures than is healthy. */
  onDecryptStorm(f: (failures: number) => void): void;
}

/**
 * Who hears of decrypt storms: the parts built last. libsignal's console is guarded once per
 * process, while a standby builds new parts for every term it is active.
 */
let stormListeners: ((n: number) => void)[] = [];

export function buildWhatsApp(o: {
  config: Config;
  store: SqliteStore;
  clock: Clock;
  log: Logger;
  input: Readable & { isTTY?: boolean };
  output: Writable;
  keepReply: (chatId: string, text: string, dedupeKey: string) => Promise<void>;
  /** Where the session lives; default the embedded store's (a standby: the shared one). */
  kv?: WaAuthKv;
}): WhatsAppParts {
  const { config } = o;
  const directory = new Directory(config);
  // Before the first socket: libsignal prints session keys to the console otherwise.
  const listeners: ((n: number) => void)[] = [];
  stormListeners = listeners;
  const signal = SignalConsole.install({ log: o.log, onStorm: (n) => stormListeners.forEach((f) => f(n)) });
  const kv = o.kv ?? o.store.waAuth;
  const { specs } = parseResolvers(config.dns.resolvers);
  // An abandoned pairing code leaves `creds.me` without an account; logging in with it would
  // end in 401 and a wiped session. Start clean instead, and say why.
  if (kv.pairing() === "unfinished") {
    void Promise.resolve(kv.clear()).catch((err: unknown) => o.log.warn({ err }, "an abandoned pairing could not be discarded"));
    o.log.warn(translator(config.language)("wa.pairing_abandoned"));
  }
  const hasSession = kv.hasSession();
  const whatsapp = new WhatsAppTransport({
    url: config.whatsapp.url,
    connectTimeoutMs: config.whatsapp.connectTimeout,
    resolvers: specs,
    backoff: { baseMs: config.whatsapp.backoff.base, capMs: config.whatsapp.backoff.cap, resetAfterMs: config.whatsapp.backoff.resetAfter },
    breaker: { failures: config.whatsapp.breaker.failures, withinMs: config.whatsapp.breaker.within, openForMs: config.whatsapp.breaker.openFor },
    dns: { probeIntervalMs: config.dns.probeInterval, recheckIntervalMs: config.dns.recheckInterval, timeoutMs: config.dns.timeout },
    kv,
    clock: o.clock,
    log: o.log,
    t: translator(config.language),
    alertGroup: config.alerts.group,
    alertFallback: config.people.filter((p) => p.role === "admin").map((p) => p.phone),
    // The console operator is an admin, but never a WhatsApp sender.
    isKnown: (phone) => phone !== "console" && directory.lookup(phone) !== undefined,
    backlog: () => o.store.outbox.backlog(),
    delivery: () => o.store.outbox.stats(),
    output: o.output,
    pairPhone: config.pairPhone,
    keepReply: o.keepReply,
    inbound: o.store.waInbound,
    sent: o.store.waSent,
    people: config.people.map((p) => p.phone),
    admins: config.people.filter((p) => p.role === "admin").map((p) => ({ name: p.name, phone: p.phone })),
    maxCommandAgeMs: config.whatsapp.maxCommandAge,
    timezone: config.timezone,
  });
  const transport =
    !hasSession && o.input.isTTY ? new WithConsole(whatsapp, new ConsoleTransport(o.input, o.output, config.alerts.group ?? DEFAULT_ALERT_CHAT)) : whatsapp;
  return {
    transport,
    whatsapp,
    control: whatsapp.control,
    signal,
    onDecryptStorm: (f) => void listeners.push(f),
    onOpen: (f) => {
      whatsapp.reconnector.onChange((e) => {
        if (e.type === "open") f();
      });
    },
  };
}
