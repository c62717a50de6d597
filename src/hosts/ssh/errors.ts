/**
 * Turns whatever a failed SSH connection throws (socket errno, ssh2 error levels, our own host
 * key refusal) into one {@link JagaError} whose code says why: timeout, refused, auth failed,
 * host key mismatch or unknown, name not resolved. Pure: easy to test without a network.
 *
 * @example
 * throw connectError(err, { host: "stb", address: "stb.lan:22", user: "root", timeoutMs: 10_000 });
 */
import { JagaError } from "../../errors.js";

export interface ConnectAttempt {
  /** Host name in the inventory (what the admin calls it). */
  host: string;
  /** `name:port` as configured. */
  address: string;
  user: string;
  timeoutMs: number;
  /** The pinned fingerprint, if any. */
  expected?: string;
  /** The fingerprint the server showed, once the handshake got that far. */
  actual?: string;
  /** Set when our host key check is what refused the server. */
  hostKeyRefused?: boolean;
}

const NOT_RESOLVED = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "EAI_NODATA", "EAI_FAIL"]);
const UNREACHABLE = new Set(["EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENETDOWN", "EADDRNOTAVAIL"]);

/**
 * Maps a connection failure to a JagaError; the original message goes to the log detail only.
 *
 * @example
 * connectError(Object.assign(new Error("x"), { code: "ECONNREFUSED" }), attempt).code; // "ssh.refused"
 */
export function connectError(err: unknown, a: ConnectAttempt): JagaError {
  if (err instanceof JagaError) return err;
  const e = (err ?? {}) as { code?: unknown; level?: unknown; message?: unknown };
  const code = typeof e.code === "string" ? e.code : "";
  const level = typeof e.level === "string" ? e.level : "";
  const message = typeof e.message === "string" ? e.message : String(err);
  const base = { host: a.host, address: a.address };
  const detail = `${code || level || "error"}: ${message}`;

  if (a.hostKeyRefused && a.actual) {
    return a.expected
      ? new JagaError("ssh.hostkey_mismatch", { ...base, expected: a.expected, actual: a.actual }, detail)
      : new JagaError("ssh.hostkey_unknown", { ...base, actual: a.actual }, detail);
  }
  if (NOT_RESOLVED.has(code) || level === "client-dns") return new JagaError("ssh.not_resolved", base, detail);
  if (code === "ECONNREFUSED") return new JagaError("ssh.refused", base, detail);
  if (code === "ETIMEDOUT" || level === "client-timeout" || /timed out/i.test(message)) {
    return new JagaError("ssh.timeout", { ...base, seconds: Math.round(a.timeoutMs / 1000) }, detail);
  }
  if (level === "client-authentication" || /authentication methods failed/i.test(message)) {
    return new JagaError("ssh.auth_failed", { ...base, user: a.user }, detail);
  }
  if (UNREACHABLE.has(code)) return new JagaError("ssh.unreachable", { ...base, detail: code }, detail);
  if (code === "ECONNRESET" || code === "EPIPE" || /closed|reset|disconnect/i.test(message)) {
    return new JagaError("ssh.lost", { ...base, detail: code || "closed" }, detail);
  }
  return new JagaError("ssh.failed", { ...base, detail: message.slice(0, 120) }, detail);
}
