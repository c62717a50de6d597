/**
 * The console transport: one command per line on stdin, from the console operator (an admin:
 * whoever holds the terminal holds the machine). Replies go to stdout; messages for the alert
 * group print as lines starting with `[alert]`. End of input ends the transport, and Jaga with it.
 *
 * @example
 * echo /status | JAGA_TRANSPORT=console npm start
 */
import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { stripControls } from "../text.js";
import type { IncomingMessage, MessageHandler, Thread, Transport } from "./transport.js";

export const CONSOLE_SENDER = "console";

export class ConsoleTransport implements Transport {
  readonly name = "console";
  readonly ended: Promise<void>;
  private endTransport!: () => void;
  private stopped = false;
  private seq = 0;
  /** This process's own prefix for message ids. */
  private readonly run = randomUUID().slice(0, 8);
  private rl?: ReturnType<typeof createInterface>;

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    private readonly alertChat: string,
  ) {
    this.ended = new Promise((resolve) => (this.endTransport = resolve));
  }

  start(handler: MessageHandler): Promise<void> {
    const rl = createInterface({ input: this.input, crlfDelay: Infinity, terminal: false });
    this.rl = rl;
    // Lines are handled strictly in order, as typed; end of input waits for the last answer.
    let queue = Promise.resolve();
    rl.on("line", (line) => {
      if (this.stopped) return;
      const message: IncomingMessage = {
        // Unique beyond this process: a standby's run ledger keys commands by message id.
        id: `console-${this.run}-${++this.seq}`,
        chatId: CONSOLE_SENDER,
        isGroup: false,
        senderId: CONSOLE_SENDER,
        text: line,
        at: Date.now(),
      };
      // A line still waiting its turn when Jaga is told to stop is not run.
      queue = queue.then(() => (this.stopped ? undefined : handler(message))).catch(() => undefined);
    });
    rl.on("close", () => {
      void queue.then(() => this.endTransport());
    });
    return Promise.resolve();
  }

  reply(_to: IncomingMessage, text: string): Promise<void> {
    return this.write(`${text}\n`);
  }

  send(chatId: string, text: string): Promise<void> {
    return this.sendOnce(chatId, text, "");
  }

  /**
   * As {@link send}, showing how a message continues its thread: an edit of an alert prints the
   * alert as it now reads, marked `[alert ✏️]`; a reply prints the line it quotes first.
   */
  sendOnce(chatId: string, text: string, _key: string, thread?: Thread): Promise<void> {
    if (chatId !== this.alertChat) return this.write(`[to ${chatId}] ${text}\n`);
    const mark = thread?.mode === "edit" ? "[alert ✏️]" : "[alert]";
    const quote = thread?.mode === "quote" ? `[alert] ↩ ${thread.text.split("\n")[0]}\n` : "";
    return this.write(quote + text.split("\n").map((l) => `${mark} ${l}\n`).join(""));
  }

  /** Stops reading at once (stdin is let go of, so it holds the process no longer). */
  stop(): Promise<void> {
    this.stopped = true;
    this.rl?.close();
    return Promise.resolve();
  }

  /** Everything printed loses its terminal escapes and control characters (an app's log line or a stored reason must not retitle or clear the terminal). */
  private write(text: string): Promise<void> {
    text = stripControls(text);
    return new Promise((resolve) => {
      if (this.output.write(text)) resolve();
      else this.output.once("drain", resolve);
    });
  }
}
