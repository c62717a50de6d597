/**
 * Small text helpers for chat: "did you mean", trimming to one message, masking, and removing
 * terminal escapes.
 */
import { checkNik } from "./nik.js";

/** Levenshtein distance; names are short, so the plain O(n·m) table is plenty. */
export function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/**
 * Up to three candidates close to `input`, best first.
 *
 * @example
 * closest("bot-kpj", ["bot-kjp", "api-blast"]); // ["bot-kjp"]
 */
export function closest(input: string, candidates: readonly string[], max = 3): string[] {
  const needle = input.toLowerCase();
  const limit = Math.max(2, Math.floor(needle.length / 3));
  return candidates
    .map((c) => {
      const hay = c.toLowerCase();
      const d = hay.includes(needle) || needle.includes(hay) ? 1 : distance(needle, hay);
      return { c, d };
    })
    .filter((x) => x.d <= limit)
    .sort((a, b) => a.d - b.d || a.c.localeCompare(b.c))
    .slice(0, max)
    .map((x) => x.c);
}

/** Echoes user input back safely: one line, bounded, no backticks to break out of `code`. */
export function echo(input: string, max = 40): string {
  const flat = input.replace(/[\r\n\t`]+/g, " ");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/**
 * A NIK as people write it: 16 digits, optionally cut by single spaces, dots or dashes
 * (`3201-0112-0388-0008`, `3174.0115.0590.0002`, `31 74 01 150590 0002`). Only a run of at
 * least 15 digits counts, so dates, times, IP addresses and counts are left alone.
 */
const NIK_SHAPED = /(?<!\d)\d(?:[ .-]?\d){14,}(?!\d)/g;

/**
 * Whether a digit run is (or hides) a NIK: 15 to 17 digits always (a mistyped NIK is still
 * someone's), a longer run when any 16 digits in it make a plausible NIK — two NIKs pasted
 * together are masked, an 18-digit WhatsApp group id is not.
 */
function hidesNik(digits: string): boolean {
  if (digits.length <= 17) return true;
  for (let i = 0; i + 16 <= digits.length; i++) if (checkNik(digits.slice(i, i + 16)) === null) return true;
  return false;
}

/**
 * Masks what must never reach a chat, a log, the audit log or a store key: NIK-shaped numbers
 * in every written form (the first and last four digits stay visible; 15 and 17 digits too,
 * since a mistyped NIK is still someone's NIK — phone numbers are shorter), bearer tokens,
 * JWTs and `key=value` secrets. This is the one masker: every exit calls it.
 *
 * @example
 * redact("blocked 3174015501900001");     // "blocked 3174••••••••0001"
 * redact("nik 3201-0112-0388-0008");      // "nik 3201••••••••0008"
 */
export function redact(text: string): string {
  return text
    .replace(NIK_SHAPED, (m) => {
      const digits = m.replace(/\D/g, "");
      if (!hidesNik(digits)) return m;
      return `${digits.slice(0, 4)}••••••••${digits.slice(-4)}`;
    })
    .replace(/\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}/g, "«jwt»")
    .replace(/\b(bearer)\s+[\w.~+/=-]{8,}/gi, "$1 «secret»")
    // A backtick ends the value: a chat code span closes with one, and masking an already
    // masked line (every exit masks) must not eat it.
    .replace(/\b([\w-]*(?:password|passwd|secret|token|api[_-]?key|apikey)[\w-]*)(\s*[=:]\s*)("?)[^\s"',;`]{4,}\3/gi, "$1$2«secret»");
}

/**
 * {@link redact} over every string inside a value (objects and arrays, a few levels deep), for
 * log fields and audit arguments. Errors and other class instances pass through unchanged
 * (pino's serializer handles them; their messages are masked by the log hook).
 *
 * @example
 * redactDeep({ host: "3174015501900001", n: 1 }); // { host: "3174••••••••0001", n: 1 }
 */
export function redactDeep(value: unknown, depth = 4): unknown {
  if (typeof value === "string") return redact(value);
  if (depth <= 0 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth - 1));
  if (value instanceof Error) {
    const masked = Object.create(Object.getPrototypeOf(value) as object) as Error;
    Object.assign(masked, value, { message: redact(value.message), stack: value.stack && redact(value.stack) });
    return masked;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v, depth - 1)]));
}

/**
 * Terminal escape sequences: CSI (`ESC [ … final`, and the 8-bit CSI U+009B), OSC/DCS/APC/PM/SOS
 * strings up to BEL or ST (the window title sequence `ESC ] 0 ; … BEL` among them), and every
 * other two-character ESC sequence.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const ESCAPES = /(?:\u001B\[|\u009B)[0-?]*[ -/]*[@-~]?|(?:\u001B[\]PX^_]|[\u0090\u009D\u009E\u009F\u0098])[^\u0007\u001B\u009C]*(?:\u0007|\u001B\\|\u009C)?|\u001B[ -~]?/g;
/** C0 controls except tab and newline, DEL, and the C1 controls. */
// eslint-disable-next-line no-control-regex -- as above
const CONTROLS = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g;

/**
 * Removes terminal escape sequences and control characters (keeping newlines and tabs), so
 * text from chat or from an app's log cannot retitle, clear or recolour a terminal.
 *
 * @example
 * stripControls("ok\u001B]0;pwned\u0007\u001B[2J done"); // "ok done"
 */
export function stripControls(text: string): string {
  return text.replace(ESCAPES, "").replace(CONTROLS, "");
}
