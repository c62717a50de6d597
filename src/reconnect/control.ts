/**
 * What the health endpoint and the `/wa` command may see and do with the WhatsApp connection.
 * Commands only receive the pipeline's Context, which knows nothing of transports; so the
 * running transport registers itself here once, and `/wa` reads it. One process, one
 * WhatsApp connection: a module-level slot is the simplest honest shape.
 *
 * @example
 * setWhatsAppControl(transport.control);
 * getWhatsAppControl()?.reconnectNow();
 */
import type { ReconnectorStatus } from "./reconnector.js";

export interface WhatsAppControl {
  status(): ReconnectorStatus;
  /** Connect now (skips waits, lets one trial through an open breaker, resumes after a halt). */
  reconnectNow(): void;
  resetBreaker(): void;
  /** Outgoing messages waiting in the outbox. */
  backlog(): Promise<number>;
  /** Messages ignored by the transport, by reason. */
  ignored(): Record<string, number>;
  /** The WhatsApp host, for messages and /health. */
  readonly host: string;
}

let active: WhatsAppControl | undefined;

/** Registers (or, with undefined, forgets) the running WhatsApp connection. */
export function setWhatsAppControl(control: WhatsAppControl | undefined): void {
  active = control;
}

/** The running WhatsApp connection, or undefined when the transport is the console. */
export function getWhatsAppControl(): WhatsAppControl | undefined {
  return active;
}
