/**
 * The resolvers Jaga may ask for a name, from `dns.resolvers` in the config: `system` is the
 * OS resolver (getaddrinfo, /etc/resolv.conf); anything else is a DNS server address that may
 * carry a port (`1.1.1.1`, `127.0.0.1:5353`, `[::1]:53`). Asking a server directly is what
 * keeps Jaga connected when the box's own resolver is broken (report 001).
 *
 * @example
 * parseResolver("127.0.0.1:5353"); // { kind: "server", label: "127.0.0.1:5353", server: "127.0.0.1:5353" }
 * parseResolver("system");         // { kind: "system", label: "system" }
 */
import { isIP } from "node:net";

export type ResolverSpec = { kind: "system"; label: "system" } | { kind: "server"; label: string; server: string };

/** The default list: the OS first, then two public resolvers that answer when the ISP's does not. */
export const DEFAULT_RESOLVERS: readonly string[] = ["system", "1.1.1.1", "8.8.8.8"];

/** Parses one entry; undefined when it is neither `system` nor an IP address with an optional port. */
export function parseResolver(entry: string): ResolverSpec | undefined {
  const s = entry.trim();
  if (s === "system") return { kind: "system", label: "system" };
  // `[v6]:port` and `[v6]`
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(s);
  if (bracketed) {
    if (isIP(bracketed[1]!) !== 6 || !validPort(bracketed[2])) return undefined;
    return { kind: "server", label: s, server: bracketed[2] ? `[${bracketed[1]}]:${bracketed[2]}` : bracketed[1]! };
  }
  if (isIP(s) !== 0) return { kind: "server", label: s, server: s };
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(s);
  if (v4 && isIP(v4[1]!) === 4 && validPort(v4[2])) return { kind: "server", label: s, server: s };
  return undefined;
}

function validPort(p: string | undefined): boolean {
  if (p === undefined) return true;
  const n = Number(p);
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

/** Parses a whole list, dropping nothing silently: bad entries are returned for the config error. */
export function parseResolvers(entries: readonly string[]): { specs: ResolverSpec[]; bad: string[] } {
  const specs: ResolverSpec[] = [];
  const bad: string[] = [];
  for (const e of entries) {
    const spec = parseResolver(e);
    if (spec) specs.push(spec);
    else bad.push(e);
  }
  return { specs, bad };
}
