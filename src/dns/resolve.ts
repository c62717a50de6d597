/**
 * One name, one resolver, one answer or one error code. The error codes are the ones Node's
 * getaddrinfo uses (ENOTFOUND for "no such name", EAI_AGAIN for "could not ask"), whichever
 * resolver was asked, so that Baileys reports a failure through a DNS server exactly as it
 * reports a failure of the OS resolver: 408 with `error.data.code` ENOTFOUND or EAI_AGAIN.
 *
 * @example
 * const r = await resolveWith({ kind: "server", label: "127.0.0.1:5353", server: "127.0.0.1:5353" }, "web.whatsapp.com", 2000);
 * if (r.ok) console.log(r.addresses[0].address);
 */
import { promises as dnsp, type LookupAddress } from "node:dns";
import { isIP } from "node:net";
import type { ResolverSpec } from "./resolvers.js";

export type ResolveResult = { ok: true; addresses: LookupAddress[] } | { ok: false; code: string };

/** c-ares codes that mean "the name does not exist"; everything else means "ask again later". */
const NOT_FOUND = new Set(["ENOTFOUND", "ENODATA", "ENONAME"]);

/** A DNS error as getaddrinfo would have reported it. */
export function dnsError(code: string, hostname: string, detail?: string): NodeJS.ErrnoException {
  const mapped = NOT_FOUND.has(code) ? "ENOTFOUND" : code === "EAI_AGAIN" ? code : "EAI_AGAIN";
  const err: NodeJS.ErrnoException & { hostname?: string } = new Error(
    `getaddrinfo ${mapped} ${hostname}${detail && detail !== mapped ? ` (${detail})` : ""}`,
  );
  err.code = mapped;
  err.syscall = "getaddrinfo";
  err.hostname = hostname;
  return err;
}

/** Resolves `hostname` through one resolver, giving up after `timeoutMs`. Never throws. */
export async function resolveWith(spec: ResolverSpec, hostname: string, timeoutMs: number): Promise<ResolveResult> {
  const family = isIP(hostname);
  if (family !== 0) return { ok: true, addresses: [{ address: hostname, family }] };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<ResolveResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, code: "EAI_AGAIN" }), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([ask(spec, hostname, timeoutMs), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * OS lookups in flight, by name. getaddrinfo cannot be cancelled: it holds one of libuv's four
 * threadpool threads until the OS resolver gives up, which is 28 s with three nameservers that
 * drop queries (glibc: 5 s each, two rounds). A probe every second that started its own lookup
 * would queue them behind each other without end, and with them every fs and crypto call of the
 * process; so a probe joins the lookup already running for its name, and there is at most one.
 */
const osLookups = new Map<string, Promise<ResolveResult>>();

/** Whether an OS lookup of `hostname` is running now (a new one would join it). */
export function osLookupRunning(hostname: string): boolean {
  return osLookups.has(hostname);
}

/** The OS resolver's answer for `hostname`, shared with any lookup of it still running. */
export function osLookup(hostname: string): Promise<ResolveResult> {
  const running = osLookups.get(hostname);
  if (running) return running;
  const lookup = dnsp
    .lookup(hostname, { all: true })
    .then(
      (addresses): ResolveResult => (addresses.length ? { ok: true, addresses } : { ok: false, code: "ENOTFOUND" }),
      (err: NodeJS.ErrnoException): ResolveResult => ({ ok: false, code: err.code ?? "EAI_AGAIN" }),
    )
    .finally(() => osLookups.delete(hostname));
  osLookups.set(hostname, lookup);
  return lookup;
}

async function ask(spec: ResolverSpec, hostname: string, timeoutMs: number): Promise<ResolveResult> {
  try {
    if (spec.kind === "system") return await osLookup(hostname);
    // One Resolver per question: cheap, and no shared state between resolvers or probes.
    const resolver = new dnsp.Resolver({ timeout: Math.max(100, Math.min(timeoutMs, 5_000)), tries: 1 });
    resolver.setServers([spec.server]);
    const [v4, v6] = await Promise.allSettled([resolver.resolve4(hostname), resolver.resolve6(hostname)]);
    const addresses: LookupAddress[] = [
      ...(v4.status === "fulfilled" ? v4.value.map((address) => ({ address, family: 4 })) : []),
      ...(v6.status === "fulfilled" ? v6.value.map((address) => ({ address, family: 6 })) : []),
    ];
    if (addresses.length) return { ok: true, addresses };
    const reason = v4.status === "rejected" ? (v4.reason as NodeJS.ErrnoException) : undefined;
    return { ok: false, code: reason?.code ?? "ENOTFOUND" };
  } catch (err) {
    return { ok: false, code: (err as NodeJS.ErrnoException).code ?? "EAI_AGAIN" };
  }
}
