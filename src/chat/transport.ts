/**
 * A transport carries messages between people and Jaga: WhatsApp, the console, and whatever
 * comes next. The pipeline never knows which one it serves.
 *
 * @example
 * await transport.start(async (msg) => {
 *   const reply = await pipeline.handle(msg);
 *   if (reply) await transport.reply(msg, reply);
 * });
 */

export interface IncomingMessage {
  /** Transport-unique id of the message. */
  id: string;
  /** Where a reply goes: a direct chat or a group. */
  chatId: string;
  isGroup: boolean;
  /** Who sent it: a phone number in international form, or `console`. */
  senderId: string;
  text: string;
  /** Epoch ms. */
  at: number;
  /** The id of the message this one answers (a quoted reply, or the target of a reaction). */
  replyTo?: string;
  /** True when this is a reaction (`text` is its emoji) to `replyTo`. */
  reaction?: boolean;
}

export type MessageHandler = (message: IncomingMessage) => Promise<void>;

export interface Transport {
  readonly name: string;
  /** Starts delivering messages to `handler`, one chat's messages in order. */
  start(handler: MessageHandler): Promise<void>;
  /** Answers a message in its own chat; `ok` says whether the command succeeded (✅/❌). */
  reply(to: IncomingMessage, text: string, ok?: boolean): Promise<void>;
  /** Sends to a chat by id; the alert group's id is the config's `alerts.group`. */
  send(chatId: string, text: string): Promise<void>;
  /** Resolves when the transport ends on its own (the console at end of input). */
  readonly ended: Promise<void>;
  /** Stops taking messages; messages already handed over are still answered. */
  stop(): Promise<void>;
}

/** The alert group's chat id when the config names none (the console shows it as `[alert]`). */
export const DEFAULT_ALERT_CHAT = "alerts";

/**
 * Why a send failed, as far as the outbox pump needs to know: `transport` — nothing can go out
 * now (disconnected): pause every send; `message` — this message failed (a bad chat id, an error
 * from the server for it): the others go on, this one is retried or given up on by its `code`.
 *
 * @example
 * throw new SendError("WhatsApp not connected", "transport");
 * throw new SendError("not a WhatsApp chat: foo", "message", "not-whatsapp");
 */
export class SendError extends Error {
  constructor(
    message: string,
    readonly scope: "transport" | "message",
    readonly code?: string,
    /** Sending it again cannot help (e.g. WhatsApp 463): give it up at once. */
    readonly permanent = false,
  ) {
    super(message);
    this.name = "SendError";
  }
}

/** What happened to a message after it was written (WhatsApp: server ack, receipts, error acks). */
export interface DeliveryReport {
  msgId: string;
  state: "written" | "acked" | "delivered" | "read" | "failed";
  /** The server's error code for `failed` (e.g. "463"). */
  code?: string;
  /** For `failed`: re-sending cannot fix it. */
  permanent?: boolean;
}

/**
 * How a message continues an earlier one (an incident's opening alert): as a quoted reply to
 * it, or as an edit that replaces its text. `ids` are the ids the earlier message went out
 * under (one per recipient when alerts go to each admin), `text` what it said.
 *
 * @example
 * const thread: Thread = { mode: "edit", ids: ["3EB0…"], text: "✅ resolved after 4 min\n\n🔁 *Restart storm* …" };
 */
export interface Thread {
  mode: "edit" | "quote";
  ids: readonly string[];
  /** `quote`: the earlier message's text (shown in the quote). `edit`: unused, the new text is the message. */
  text: string;
}

/**
 * What the outbox pump sends through. `sendOnce` carries the outbox row's key so a re-send is
 * recognisably the same message (WhatsApp: the same message id) and resolves with the ids it
 * used; a transport that `confirmsDelivery` reports acks and errors for them via `onDelivery`.
 * A transport that can thread (WhatsApp, the console) takes `thread`; one that cannot ignores it.
 */
export type PumpTransport = Pick<Transport, "send"> & {
  sendOnce?(chatId: string, text: string, key: string, thread?: Thread): Promise<string[] | void>;
  readonly confirmsDelivery?: boolean;
  onDelivery?(listener: (e: DeliveryReport) => void): void;
  /** The last time the transport was away and came back (for "while I was offline"); null if never. */
  lastOutage?(): { from: number; to: number } | null;
};
