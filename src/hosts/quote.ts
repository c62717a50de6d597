/**
 * Quoting for POSIX sh, in exactly one function. sshd hands the command line to the remote
 * user's login shell as one string, so argv must be turned into a string somewhere; this is the
 * only place, and it quotes every element, always, so no element is ever read as code.
 *
 * Why single quotes: inside '…' a POSIX shell gives no character a meaning except `'` itself,
 * so `$()`, backticks, globs, `;`, newlines and non-ASCII bytes all arrive untouched. A `'` is
 * written as `'\''` (close, escaped quote, reopen).
 *
 * @example
 * shellQuote(["echo", "it's $(id)"]); // "'echo' 'it'\\''s $(id)'"
 */

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Quotes argv into one POSIX sh command line whose words are exactly `argv`, byte for byte.
 * Refuses what no shell word can carry: a NUL byte, and a lone UTF-16 surrogate (it has no
 * UTF-8 form, so it could not arrive byte-identical).
 *
 * @example
 * shellQuote(["pm2", "logs", "my app"]); // "'pm2' 'logs' 'my app'"
 */
export function shellQuote(argv: readonly string[]): string {
  if (argv.length === 0) throw new TypeError("argv is empty");
  return argv
    .map((arg) => {
      if (typeof arg !== "string") throw new TypeError("argv holds a non-string");
      if (arg.includes("\0")) throw new TypeError("argv holds a NUL byte");
      if (LONE_SURROGATE.test(arg)) throw new TypeError("argv holds a lone surrogate");
      return `'${arg.replaceAll("'", "'\\''")}'`;
    })
    .join(" ");
}
