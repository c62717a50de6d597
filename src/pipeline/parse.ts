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
import { stripControls } from "../text.js";

export const MAX_MESSAGE_LENGTH = 1_000;

export type Parsed =
  | { kind: "command"; name: string; tokens: string[]; rest: string }
  /** Not addressed to Jaga (ordinary chat in a group): ignore. */
  | { kind: "chat" }
  | { kind: "invalid"; key: MessageKey; params?: Params };

/**
 * Zero-width space/joiners, word joiner and invisible operators, BOM, soft hyphen, combining
 * grapheme joiner, Mongolian vowel separator, and every bidi control: LRM/RLM, the Arabic letter
 * mark, the embeddings and overrides U+202A–U+202E and the isolates U+2066–U+2069.
 */
// The combining grapheme joiner sits outside the class: inside, it would read as combining.
const INVISIBLE = /[\u200B-\u200F\u2060-\u2069\uFEFF\u00AD\u061C\u180E\u202A-\u202E]|\u034F/g;
/** WhatsApp's formatting marks, stripped where they wrap a token (not inside: `bot_kjp`). */
const WRAP = /^[*_~`]+|[*_~`]+$/g;
const PREFIX = /^[/!]/;
/** A second command in the message: `/word`, not a path such as `/etc/passwd` (validation refuses that). */
const LOOKS_LIKE_COMMAND = /^[/!][A-Za-z][\w-]*$/;

/**
 * NFKC (full-width `／` becomes `/`, NBSP a space), no terminal escapes or control characters,
 * no invisible characters.
 *
 * @example
 * normalize("/sta\u2066tus\u2069"); // "/status"
 */
export function normalize(text: string): string {
  return stripControls(text.normalize("NFKC")).replace(INVISIBLE, "");
}

/** One token folded: invisible characters gone, formatting marks around it stripped. */
function fold(token: string): string {
  return token.replace(INVISIBLE, "").replace(WRAP, "");
}

export function parseMessage(text: string, maxLength = MAX_MESSAGE_LENGTH): Parsed {
  const clean = normalize(text).trim();
  // Split before folding: an argument made only of formatting marks or invisible characters
  // (`/flush *`) must not vanish and leave a command that reads "no argument" as "all".
  const raw = stripControls(text.normalize("NFKC")).split(/\s+/);
  const folded = raw.map((t) => ({ t, f: fold(t) }));
  while (folded.length > 0 && folded[0]!.f === "") folded.shift();
  const head = folded[0]?.f ?? "";
  if (!PREFIX.test(head)) return { kind: "chat" };
  if (clean.length > maxLength) return { kind: "invalid", key: "parse.too_long", params: { length: clean.length, max: maxLength } };
  const name = head.slice(1).toLowerCase();
  if (name === "") return { kind: "invalid", key: "parse.empty" };
  const rest = folded.slice(1).filter((x) => x.t !== "");
  if (rest.some((x) => x.f === "")) return { kind: "invalid", key: "parse.folded" };
  const args = rest.map((x) => x.f);
  if (args.some((t) => LOOKS_LIKE_COMMAND.test(t))) return { kind: "invalid", key: "parse.several" };
  return { kind: "command", name, tokens: args, rest: args.join(" ") };
}
