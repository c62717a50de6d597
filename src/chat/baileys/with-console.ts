/**
 * WhatsApp and the console at once, for the first start on a terminal: while the admin scans
 * the QR, the console already takes commands. Replies go back where the command came from;
 * everything sent (alerts) goes to WhatsApp. End of console input does not stop Jaga here:
 * WhatsApp is the transport that matters.
 *
 * @example
 * const t = new WithConsole(whatsapp, new ConsoleTransport(stdin, stdout, alertChat));
 */
import { CONSOLE_SENDER } from "../console.js";
import type { DeliveryReport, IncomingMessage, MessageHandler, PumpTransport, Thread, Transport } from "../transport.js";

export class WithConsole implements Transport {
  readonly name: string;
  readonly ended: Promise<void>;

  constructor(
    readonly primary: Transport & PumpTransport,
    private readonly console: Transport,
  ) {
    this.name = `${primary.name}+console`;
    this.ended = primary.ended;
    if (primary.sendOnce) this.sendOnce = (c, t, k, th) => primary.sendOnce!(c, t, k, th);
    this.confirmsDelivery = primary.confirmsDelivery;
    if (primary.onDelivery) this.onDelivery = (l) => primary.onDelivery!(l);
    if (primary.lastOutage) this.lastOutage = () => primary.lastOutage!();
  }

  sendOnce?: (chatId: string, text: string, key: string, thread?: Thread) => Promise<string[] | void>;
  readonly confirmsDelivery?: boolean;
  onDelivery?: (listener: (e: DeliveryReport) => void) => void;
  lastOutage?: () => { from: number; to: number } | null;

  async start(handler: MessageHandler): Promise<void> {
    await this.primary.start(handler);
    await this.console.start(handler);
  }

  reply(to: IncomingMessage, text: string, ok?: boolean): Promise<void> {
    return to.senderId === CONSOLE_SENDER ? this.console.reply(to, text) : this.primary.reply(to, text, ok);
  }

  send(chatId: string, text: string): Promise<void> {
    return this.primary.send(chatId, text);
  }

  async stop(): Promise<void> {
    await this.console.stop();
    await this.primary.stop();
  }
}
