/**
 * Errors as values: a stable code (an i18n key), the parameters for the user's message,
 * and a log-only detail. A `JagaError` is an expected failure and is shown to the user as is;
 * anything else is a bug and is shown only as an error id.
 *
 * @example
 * throw new JagaError("host.unknown", { host: "stb", hosts: "local" });
 */
import type { MessageKey, Params } from "./i18n/index.js";

export class JagaError extends Error {
  constructor(
    readonly code: MessageKey,
    readonly params: Params = {},
    /** Detail for the log only; never shown in chat. */
    readonly detail?: string,
  ) {
    super(detail ? `${code}: ${detail}` : code);
    this.name = "JagaError";
  }
}

export function isJagaError(err: unknown): err is JagaError {
  return err instanceof JagaError;
}

/** A short random id that links a chat reply to its log line. */
export function errorId(): string {
  return Math.random().toString(36).slice(2, 8).toUpperCase();
}
