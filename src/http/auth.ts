/**
 * Bearer-token check for the POST routes, in constant time: the comparison takes as long for a
 * token that is wrong in its first character as for one wrong in its last, so timing reveals
 * nothing. Both sides are hashed first so their lengths are equal (timingSafeEqual needs that).
 *
 * @example
 * bearerOk(req.headers.authorization, process.env.JAGA_HTTP_TOKEN); // false when no token is set
 */
import { createHash, timingSafeEqual } from "node:crypto";

export function bearerOk(header: string | undefined, token: string | undefined): boolean {
  if (!token || !header) return false;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  if (!m) return false;
  const a = createHash("sha256").update(m[1]!).digest();
  const b = createHash("sha256").update(token).digest();
  return timingSafeEqual(a, b);
}
