/**
 * The WhatsApp transport of an instance that may be a standby: one fresh WhatsApp transport per
 * term, started after the lease is held and stopped (its socket closed and awaited) before the
 * lease is given up. Between terms there is no socket at all: a send fails as "not connected"
 * (the outbox keeps the message), and the control reports a standby.
 *
 * The pump, the pipeline and the health page hold this one object for the life of the process;
 * what changes underneath is the term's transport.
 *
 * @example
 * const wa = new SwitchedTransport(log);
 * await wa.start(handler);              // nothing connects yet
 * await wa.activate(buildWhatsApp(…));  // the lease is held: the socket opens
 * await wa.deactivate();                // before the lease is released: the socket is closed
 */
import type { GroupReport } from "../chat/baileys/group.js";
import { SendError, type DeliveryReport, type IncomingMessage, type MessageHandler, type PumpTransport, type Thread, type Transport } from "../chat/transport.js";
import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import type { WhatsAppControl } from "../reconnect/control.js";
import type { ReconnectorStatus } from "../reconnect/reconnector.js";

/** What a term's transport must be: the WhatsApp transport, or a stand-in in tests. */
export type TermTransport = Transport & PumpTransport;

export class SwitchedTransport implements Transport, PumpTransport {
  readonly name = "whatsapp";
  readonly ended: Promise<void> = new Promise(() => undefined);
  readonly confirmsDelivery = true;
  private current?: TermTransport;
  private currentControl?: WhatsAppControl;
  private handler?: MessageHandler;
  private readonly deliveryListeners: ((e: DeliveryReport) => void)[] = [];
  private standbySince: number;

  constructor(
    private readonly log: Logger,
    private readonly clock: Clock,
    /** Outbox backlog and delivery counts for the control while no term runs. */
    private readonly outbox: { backlog(): Promise<number> },
    private readonly host: string,
  ) {
    this.standbySince = clock.now();
    this.control = this.makeControl();
  }

  /** True while a term's transport is in place. */
  get active(): boolean {
    return this.current !== undefined;
  }

  start(handler: MessageHandler): Promise<void> {
    this.handler = handler;
    return Promise.resolve();
  }

  /** The term begins: its transport takes over (and connects). */
  async activate(transport: TermTransport, control?: WhatsAppControl): Promise<void> {
    if (this.current) await this.deactivate();
    this.current = transport;
    this.currentControl = control;
    transport.onDelivery?.((e) => {
      if (this.current !== transport) return;
      for (const l of this.deliveryListeners) l(e);
    });
    await transport.start(this.handler ?? (() => Promise.resolve()));
  }

  /** The term ends: its transport stops, its socket is closed when this resolves. */
  async deactivate(): Promise<void> {
    const t = this.current;
    this.current = undefined;
    this.currentControl = undefined;
    this.standbySince = this.clock.now();
    await t?.stop();
  }

  reply(to: IncomingMessage, text: string, ok?: boolean): Promise<void> {
    if (this.current) return this.current.reply(to, text, ok);
    this.log.warn({ chat: to.chatId }, "standby: a reply after the term ended was not sent");
    return Promise.resolve();
  }

  send(chatId: string, text: string): Promise<void> {
    if (!this.current) return Promise.reject(new SendError("standby: this instance is not the active one", "transport"));
    return this.current.send(chatId, text);
  }

  async sendOnce(chatId: string, text: string, key: string, thread?: Thread): Promise<string[] | void> {
    const t = this.current;
    if (!t) throw new SendError("standby: this instance is not the active one", "transport");
    return t.sendOnce ? t.sendOnce(chatId, text, key, thread) : t.send(chatId, text);
  }

  onDelivery(listener: (e: DeliveryReport) => void): void {
    this.deliveryListeners.push(listener);
  }

  lastOutage(): { from: number; to: number } | null {
    return this.current?.lastOutage?.() ?? null;
  }

  stop(): Promise<void> {
    return this.deactivate();
  }

  /** The control /wa and /health see: the term's, or a standby's (no socket, nothing to do). */
  readonly control: WhatsAppControl;

  private makeControl(): WhatsAppControl {
    return {
      status: () => this.currentControl?.status() ?? this.standbyStatus(),
      reconnectNow: () => this.currentControl?.reconnectNow(),
      resetBreaker: () => this.currentControl?.resetBreaker(),
      backlog: () => this.currentControl?.backlog() ?? this.outbox.backlog(),
      delivery: () => this.currentControl?.delivery?.() ?? Promise.reject(new Error("standby")),
      ignored: () => this.currentControl?.ignored() ?? {},
      alertGroup: (): GroupReport | null => this.currentControl?.alertGroup?.() ?? null,
      host: this.host,
    };
  }

  private standbyStatus(): ReconnectorStatus {
    return {
      state: "idle",
      since: this.standbySince,
      attempts: 0,
      consecutiveFailures: 0,
      lastClose: null,
      breaker: { state: "closed", recentFailures: 0, reopensAt: null, opened: 0 },
      nextAttemptAt: null,
      systemDnsBroken: false,
      resolver: "system",
      dnsProbes: 0,
    };
  }
}
