/**
 * PM2's event bus — the `pub.sock` Unix socket in PM2_HOME — and the axon wire format PM2 speaks
 * on all its sockets. Locally a plain socket, over SSH an OpenSSH `direct-streamlocal` channel on
 * the pooled connection.
 *
 * The watcher does not listen to the bus (watcher.ts says why): axon's pub socket sends every
 * subscriber everything, every log line of every app included, so what a listener costs grows
 * with what the apps log. `bench/watch.ts` measures {@link Pm2Bus} against polling the list; the
 * codec ({@link AmpDecoder}, {@link ampEncode}) is what pm2-rpc.ts asks the daemon with.
 *
 * The wire format is axon's AMP: one byte `version << 4 | argc`, then per argument a 32-bit
 * big-endian length and the bytes; `j:` marks JSON, `s:` a string.
 *
 * @example
 * const bus = new Pm2Bus({ executor, pm2Home: "/root/.pm2", clock, log, onEvent: (e) => tracker.observe(e) });
 * bus.start();
 */
import type { Duplex } from "node:stream";
import { z } from "zod";
import type { Clock } from "../clock.js";
import type { Executor } from "../hosts/executor.js";
import type { Logger } from "../log.js";
import { exponentialBackoff } from "../policy/backoff.js";

export interface Pm2ProcessEvent {
  type: "process";
  /** PM2's event name: online, exit, restart, stop, delete, start, restart overlimit, … */
  event: string;
  name: string;
  pmId: number;
  restarts: number;
  status: string;
  at: number;
}

export interface Pm2ExceptionEvent {
  type: "exception";
  name: string;
  pmId: number;
  /** The uncaught error's message and stack (masked before it goes anywhere). */
  message: string;
  at: number;
}

export type Pm2BusEvent = Pm2ProcessEvent | Pm2ExceptionEvent;

/** Splits a byte stream into AMP messages; keeps a partial message for the next chunk. */
export class AmpDecoder {
  private buf: Buffer = Buffer.alloc(0);
  /** Bigger than any sane PM2 message; a corrupt length must not make us buffer forever. */
  static readonly MAX_MESSAGE = 16 * 1024 * 1024;

  push(chunk: Buffer): unknown[][] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: unknown[][] = [];
    for (;;) {
      if (this.buf.length < 1) break;
      const argc = this.buf[0]! & 0x0f;
      let off = 1;
      const args: unknown[] = [];
      let complete = true;
      for (let i = 0; i < argc; i++) {
        if (this.buf.length < off + 4) {
          complete = false;
          break;
        }
        const len = this.buf.readUInt32BE(off);
        if (len > AmpDecoder.MAX_MESSAGE) throw new Error(`AMP argument of ${len} bytes: stream is corrupt`);
        off += 4;
        if (this.buf.length < off + len) {
          complete = false;
          break;
        }
        args.push(unpack(this.buf.subarray(off, off + len)));
        off += len;
      }
      if (!complete) break;
      this.buf = this.buf.subarray(off);
      out.push(args);
    }
    return out;
  }
}

/** Encodes one AMP message: strings as `s:`, everything else as `j:` JSON. */
export function ampEncode(args: unknown[]): Buffer {
  const parts = args.map((a) => Buffer.from(typeof a === "string" ? `s:${a}` : `j:${JSON.stringify(a ?? null)}`));
  const head = Buffer.alloc(1 + parts.reduce((n, p) => n + 4 + p.length, 0));
  head[0] = (1 << 4) | parts.length;
  let off = 1;
  for (const p of parts) {
    head.writeUInt32BE(p.length, off);
    off += 4;
    p.copy(head, off);
    off += p.length;
  }
  return head;
}

function unpack(arg: Buffer): unknown {
  const tag = arg.subarray(0, 2).toString();
  if (tag === "j:") {
    try {
      return JSON.parse(arg.subarray(2).toString()) as unknown;
    } catch {
      return null;
    }
  }
  if (tag === "s:") return arg.subarray(2).toString();
  return arg;
}

// Only what the watcher needs; the process object also carries the app's whole env (secrets).
const processEvent = z.object({
  event: z.string(),
  at: z.number().optional(),
  process: z.object({
    name: z.string(),
    pm_id: z.number(),
    restart_time: z.number().catch(0),
    status: z.string().catch("unknown"),
  }),
});
const exceptionEvent = z.object({
  at: z.number().optional(),
  process: z.object({ name: z.string(), pm_id: z.number() }),
  data: z.union([z.object({ message: z.string().optional(), stack: z.string().optional() }), z.string()]).optional(),
});

/** Turns one AMP message from the bus into an event Jaga cares about, or null. */
export function toBusEvent(args: unknown[], now: number): Pm2BusEvent | null {
  const [name, data] = args;
  if (name === "process:event") {
    const p = processEvent.safeParse(data);
    if (!p.success) return null;
    const { process: proc } = p.data;
    return { type: "process", event: p.data.event, name: proc.name, pmId: proc.pm_id, restarts: proc.restart_time, status: proc.status, at: now };
  }
  if (name === "process:exception") {
    const p = exceptionEvent.safeParse(data);
    if (!p.success) return null;
    const d = p.data.data;
    const message = typeof d === "string" ? d : (d?.stack ?? d?.message ?? "");
    return { type: "exception", name: p.data.process.name, pmId: p.data.process.pm_id, message: message.slice(0, 2000), at: now };
  }
  return null;
}

export interface Pm2BusOptions {
  host: string;
  executor: Executor;
  pm2Home: string;
  clock: Clock;
  log: Logger;
  onEvent(event: Pm2BusEvent): void;
  /** Called on every (re)connect: events may have been missed, so reconcile. */
  onConnect?(): void;
  /** Reconnect pause bounds. */
  minRetryMs?: number;
  maxRetryMs?: number;
}

export class Pm2Bus {
  private socket?: Duplex;
  private stopped = false;
  private readonly stopSignal = new AbortController();
  private loop?: Promise<void>;
  /** True while the socket is open. */
  connected = false;

  constructor(private readonly o: Pm2BusOptions) {}

  /** False when the executor cannot open Unix sockets (then the watcher polls instead). */
  get supported(): boolean {
    return typeof this.o.executor.openUnixSocket === "function";
  }

  start(): void {
    if (!this.supported || this.loop) return;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopSignal.abort();
    this.socket?.destroy();
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    const backoff = exponentialBackoff({ baseMs: this.o.minRetryMs ?? 1_000, capMs: this.o.maxRetryMs ?? 60_000 });
    while (!this.stopped) {
      try {
        const socket = await this.o.executor.openUnixSocket!(`${this.o.pm2Home}/pub.sock`);
        if (this.stopped) {
          socket.destroy();
          break;
        }
        failures = 0;
        await this.listen(socket);
      } catch (err) {
        failures++;
        if (failures === 1 || failures % 20 === 0) this.o.log.debug({ host: this.o.host, err }, "pm2 bus unavailable");
      }
      if (this.stopped) break;
      const pause = backoff.delay(failures + 1);
      await this.o.clock.sleep(pause, this.stopSignal.signal).catch(() => undefined);
    }
  }

  private listen(socket: Duplex): Promise<void> {
    this.socket = socket;
    this.connected = true;
    this.o.onConnect?.();
    const decoder = new AmpDecoder();
    return new Promise((resolve) => {
      const done = () => {
        this.connected = false;
        socket.removeAllListeners();
        socket.on("error", () => undefined);
        socket.destroy();
        resolve();
      };
      socket.on("data", (chunk: Buffer) => {
        try {
          for (const args of decoder.push(chunk)) {
            const event = toBusEvent(args, this.o.clock.now());
            if (event) this.o.onEvent(event);
          }
        } catch (err) {
          this.o.log.warn({ host: this.o.host, err }, "pm2 bus sent something unreadable; reconnecting");
          done();
        }
      });
      socket.once("close", done);
      socket.once("end", done);
      socket.once("error", done);
    });
  }
}
