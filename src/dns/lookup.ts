/**
 * A `lookup` for sockets (net/tls, hence the WebSocket's agent) that resolves through a chosen
 * resolver instead of always through the OS. When the probe found an answer, that answer is
 * used as is for its name (no second question); other names go to the same resolver.
 *
 * @example
 * const agent = new https.Agent({ lookup: makeLookup({ resolver: spec, hostname, addresses }) });
 */
import { lookup as systemLookup, type LookupAddress } from "node:dns";
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
    if (route.resolver.kind === "system") {
      // The OS resolver with its own error codes (ENOTFOUND / EAI_AGAIN) untouched.
      systemLookup(hostname, { ...options, all: true } as { all: true }, (err, addresses) =>
        err ? callback(err) : deliver(addresses),
      );
      return;
    }
    void resolveWith(route.resolver, hostname, timeoutMs).then((r) =>
      r.ok ? deliver(r.addresses) : callback(dnsError(r.code, hostname, r.code)),
    );
  };
  return lookup as unknown as LookupFunction;
}
