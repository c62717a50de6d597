/**
 * Turns chat text into a command name and its tokens — and nothing more. What people type on a
 * phone arrives decorated: bold or italic marks around words, full-width slashes, zero-width spaces from copy and paste,
 * non-breaking spaces. All of it is folded here so the rest of the pipeline sees plain tokens.
 *
 * @example
 * parseMessage("  /Restart  _bot-kjp_ ");
 * // { kind: "command", name: "restart", tokens: ["bot-kjp"], rest: "bot-kjp" }
 */
import type { MessageKey, Params } from "../i18n/index.js";

export const MAX_MESSAGE_LENGTH = 1_000;

export type Parsed =
  | { kind: "command"; name: string; tokens: string[]; rest: string }
  /** Not addressed to Jaga (ordinary chat in a group): ignore. */
  | { kind: "chat" }
  | { kind: "invalid"; key: MessageKey; params?: Params };

// Zero-width space/joiners, word joiner, BOM, soft hyphen, bidi marks.
const INVISIBLE = /[\u200B-\u200F\u2060-\u2064\uFEFF\u00AD\u202A-\u202E]/g;
/** WhatsApp's formatting marks, stripped where they wrap a token (not inside: `bot_kjp`). */
const WRAP = /^[*_~`]+|[*_~`]+$/g;
const PREFIX = /^[/!]/;
const LOOKS_LIKE_COMMAND = /^[/!][A-Za-z]/;

/** NFKC (full-width `／` becomes `/`, NBSP a space) and no invisible characters. */
export function normalize(text: string): string {
  return text.normalize("NFKC").replace(INVISIBLE, "");
}

export function parseMessage(text: string, maxLength = MAX_MESSAGE_LENGTH): Parsed {
  const clean = normalize(text).trim();
  const tokens = clean
    .split(/\s+/)
    .map((t) => t.replace(WRAP, ""))
    .filter((t) => t !== "");
  const head = tokens[0] ?? "";
  if (!PREFIX.test(head)) return { kind: "chat" };
  if (clean.length > maxLength) return { kind: "invalid", key: "parse.too_long", params: { length: clean.length, max: maxLength } };
  const name = head.slice(1).toLowerCase();
  if (name === "") return { kind: "invalid", key: "parse.empty" };
  const args = tokens.slice(1);
  if (args.some((t) => LOOKS_LIKE_COMMAND.test(t))) return { kind: "invalid", key: "parse.several" };
  return { kind: "command", name, tokens: args, rest: args.join(" ") };
}
