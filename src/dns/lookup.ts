/**
 * A `lookup` for sockets (net/tls, hence the WebSocket's agent) that resolves through a chosen
 * resolver instead of always through the OS, within a timeout. When the probe found an answer,
 * that answer is used as is for its name (no second question); other names go to the same
 * resolver.
 *
 * @example
 * const agent = new https.Agent({ lookup: makeLookup({ resolver: spec, hostname, addresses }) });
 */
import type { LookupAddress } from "node:dns";
import type { LookupFunction } from "node:net";
import { dnsError, resolveWith } from "./resolve.js";
import type { ResolverSpec } from "./resolvers.js";

export interface Route {
  resolver: ResolverSpec;
  /** A probe's answer for `hostname`, used without asking again. */
  hostname?: string;
  addresses?: LookupAddress[];
}

interface LookupOpts {
  all?: boolean;
  family?: number | string;
}

/** Builds a net-compatible lookup for `route`. */
export function makeLookup(route: Route, timeoutMs = 5_000): LookupFunction {
  const lookup = (hostname: string, options: LookupOpts, callback: (...args: unknown[]) => void): void => {
    const deliver = (addresses: LookupAddress[]) => {
      const wanted = options.family === 4 || options.family === 6 ? addresses.filter((a) => a.family === options.family) : addresses;
      if (wanted.length === 0) return callback(dnsError("ENOTFOUND", hostname));
      if (options.all) return callback(null, wanted);
      return callback(null, wanted[0]!.address, wanted[0]!.family);
    };
    if (route.addresses?.length && route.hostname === hostname) return deliver(route.addresses);
    // The OS resolver too gives up after `timeoutMs` with EAI_AGAIN: left to itself, glibc waits
    // 5 s per nameserver that drops queries, twice (28 s for three), past the WebSocket's own
    // handshake timeout, and that close would not read as a DNS failure. The lookup itself runs
    // on and is shared with the next one asking for the name (resolve.ts osLookup).
    void resolveWith(route.resolver, hostname, timeoutMs).then((r) =>
      r.ok ? deliver(r.addresses) : callback(dnsError(r.code, hostname, r.code)),
    );
  };
  return lookup as unknown as LookupFunction;
}
