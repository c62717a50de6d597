/**
 * What a close means, by its code: the one table the reconnector follows. Codes are Baileys'
 * DisconnectReason values; a DNS failure is Baileys' 408 whose `error.data.code` is ENOTFOUND
 * or EAI_AGAIN (getaddrinfo's "no such name" and "could not ask").
 *
 * @example
 * classifyClose({ code: 515 });                          // "restart"
 * classifyClose({ code: 408, errorCode: "ENOTFOUND" });  // "dns"
 * classifyClose({ code: 428 });                          // "retry"
 */
import type { Translate } from "../i18n/index.js";

export interface CloseInfo {
  /** Baileys' status code (DisconnectReason), when there is one. */
  code?: number;
  /** The error's message, for the log and /health (never contains secrets). */
  message?: string;
  /** `error.data.code` from the socket error, e.g. ENOTFOUND, ECONNREFUSED. */
  errorCode?: string;
}

export type CloseKind =
  /** 401: the session was logged out on the phone. Stop and wait for pairing. */
  | "logged-out"
  /** 403: WhatsApp refuses this account. Stop. */
  | "forbidden"
  /** 440: another client took the session. Wait long (never fight it); stop after repeats. */
  | "replaced"
  /** 405: WhatsApp refuses this client version. Refresh the version once, then stop. */
  | "outdated"
  /** 500: the session's keys are bad. Retry with backoff; repeats become an incident. */
  | "bad-session"
  /** 515: restart required (after pairing). Reconnect at once. */
  | "restart"
  /** The name did not resolve: open no socket until DNS answers. */
  | "dns"
  /** Everything else: exponential backoff with full jitter, counted by the breaker. */
  | "retry";

export const DNS_ERROR_CODES: ReadonlySet<string> = new Set(["ENOTFOUND", "EAI_AGAIN"]);

export function classifyClose(info: CloseInfo): CloseKind {
  switch (info.code) {
    case 401:
      return "logged-out";
    case 403:
      return "forbidden";
    case 440:
      return "replaced";
    case 405:
      return "outdated";
    case 500:
      return "bad-session";
    case 515:
      return "restart";
    case 408:
      return info.errorCode && DNS_ERROR_CODES.has(info.errorCode) ? "dns" : "retry";
    default:
      return "retry";
  }
}

/** Whether this kind stops the reconnector at once until someone acts (re-pairing, or a manual reconnect). */
export function isHalt(kind: CloseKind): kind is "logged-out" | "forbidden" {
  return kind === "logged-out" || kind === "forbidden";
}

/** Every way the reconnector can stop and wait for a person. */
export type HaltKind = "logged-out" | "forbidden" | "replaced" | "outdated";

/**
 * What a halt tells people (console, log, incident), one place for every kind.
 *
 * @example
 * haltText("outdated", t); // "⛔ WhatsApp rejected this client version (code 405) …"
 */
export function haltText(kind: HaltKind, t: Translate, code?: number): string {
  if (kind === "logged-out") return t("wa.logged_out", { code: code ?? 401 });
  return t(kind === "forbidden" ? "wa.forbidden" : kind === "outdated" ? "wa.outdated" : "wa.replaced");
}
