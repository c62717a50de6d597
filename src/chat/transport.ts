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
