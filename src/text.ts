/**
 * Small text helpers for chat: "did you mean", trimming to one message, masking.
 */

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
 * Masks what must never reach a chat or a log: NIK numbers (16 digits: province code and
 * the last four stay visible; 15 and 17 too, since a mistyped NIK is still someone's NIK —
 * phone numbers are shorter), bearer tokens, JWTs and `key=value` secrets.
 *
 * @example
 * redact("blocked 3174015501900001"); // "blocked 3174••••••••0001"
 */
export function redact(text: string): string {
  return text
    .replace(/(?<!\d)(\d{4})\d{7,9}(\d{4})(?!\d)/g, (_, head: string, tail: string) => `${head}••••••••${tail}`)
    .replace(/\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}/g, "«jwt»")
    .replace(/\b(bearer)\s+[\w.~+/=-]{8,}/gi, "$1 «secret»")
    .replace(/\b([\w-]*(?:password|passwd|secret|token|api[_-]?key|apikey)[\w-]*)(\s*[=:]\s*)("?)[^\s"',;]{4,}\3/gi, "$1$2«secret»");
}
