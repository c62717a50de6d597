/**
 * Asks every configured resolver for one name at once and says who answered. The reconnector
 * calls this every few seconds while DNS is down instead of opening sockets that would only
 * fail again (the tight loop of report 001).
 *
 * @example
 * const p = await probeName(specs, "web.whatsapp.com", 2000);
 * if (p.answer) connectThrough(p.answer);
 * if (!p.systemOk && p.answer) raiseSystemDnsBroken();
 */
import type { LookupAddress } from "node:dns";
import { resolveWith } from "./resolve.js";
import type { ResolverSpec } from "./resolvers.js";

export interface DnsAnswer {
  resolver: ResolverSpec;
  addresses: LookupAddress[];
}

export interface ProbeResult {
  /** The answer to connect through: the system's when it answered, else the first in list order. */
  answer?: DnsAnswer;
  /** Whether the OS resolver answered; null when `system` is not in the list. */
  systemOk: boolean | null;
  /** Who failed, and how (for the log and /health). */
  failures: { resolver: string; code: string }[];
}

/** Probes all resolvers in parallel; never throws. */
export async function probeName(specs: readonly ResolverSpec[], hostname: string, timeoutMs: number): Promise<ProbeResult> {
  const results = await Promise.all(specs.map((s) => resolveWith(s, hostname, timeoutMs)));
  let answer: DnsAnswer | undefined;
  let systemOk: boolean | null = null;
  const failures: ProbeResult["failures"] = [];
  results.forEach((r, i) => {
    const spec = specs[i]!;
    if (spec.kind === "system") systemOk = r.ok;
    if (r.ok) {
      if (!answer || (spec.kind === "system" && answer.resolver.kind !== "system")) answer = { resolver: spec, addresses: r.addresses };
    } else {
      failures.push({ resolver: spec.label, code: r.code });
    }
  });
  return { answer, systemOk, failures };
}
