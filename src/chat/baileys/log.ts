/**
 * The logger Baileys gets: a child of Jaga's at its own level, that (1) never prints key
 * material — any field named like a key, session or credential, and any raw bytes, at any
 * depth, is replaced before the line is written — and (2) turns the errors of routine
 * connection failures into one short line (message and code) instead of a stack trace.
 *
 * @example
 * const logger = baileysLogger(log); // pass as makeWASocket({ logger })
 */
import type { Logger } from "../../log.js";

const SECRET_FIELD = /^(priv(ate)?(key)?|pub(lic)?(key)?|noisekey|signedidentitykey|signedprekey|advsecretkey|rootkey|chainkey|chainkeys|basekey|identitykey|ephemeralkeypair|registrationid|keys?|keypair|creds|credentials|session|sessions|sessionentry|secret|messagesecret|mackey|enckey|mediakey|pairingcode|token)$/i;
const MAX_DEPTH = 6;

/** Replaces secrets and bytes at any depth; errors become `{ type, message, code }`. */
export function scrubForLog(value: unknown, depth = 0): unknown {
  if (value instanceof Error) return shortError(value);
  if (value instanceof Uint8Array) return `«${value.length} bytes»`;
  if (value === null || typeof value !== "object") return value;
  if (depth >= MAX_DEPTH) return "«…»";
  if (Array.isArray(value)) return value.slice(0, 20).map((v) => scrubForLog(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (SECRET_FIELD.test(k)) out[k] = "«redacted»";
    else if (k === "trace" || k === "stack") out[k] = typeof v === "string" ? v.split("\n")[0] : "«trace»";
    else out[k] = scrubForLog(v, depth + 1);
  }
  return out;
}

/** One line for a routine failure: what and its code, no stack. */
export function shortError(err: Error): { type: string; message: string; code?: unknown } {
  const e = err as Error & { code?: unknown; output?: { statusCode?: unknown } };
  const code = e.output?.statusCode ?? e.code;
  return { type: e.name, message: e.message.split("\n")[0]!.slice(0, 200), ...(code !== undefined ? { code } : {}) };
}

export function baileysLogger(log: Logger): Logger {
  // Baileys is chatty at info; keep it at warn unless Jaga itself logs at debug (or is quieter).
  const lv = log.levelVal;
  return log.child(
    { module: "baileys" },
    {
      level: lv <= 20 || lv > 40 ? log.level : "warn",
      formatters: { log: (o) => scrubForLog(o) as Record<string, unknown> },
      serializers: { err: (e: Error) => shortError(e), error: (e: unknown) => (e instanceof Error ? shortError(e) : scrubForLog(e)) },
    },
  );
}
