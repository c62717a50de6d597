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
import { osLookupRunning, resolveWith, type ResolveResult } from "./resolve.js";
import type { ResolverSpec } from "./resolvers.js";

export interface DnsAnswer {
  resolver: ResolverSpec;
  addresses: LookupAddress[];
}

export interface ProbeResult {
  /** The answer to connect through: the system's when it answered, else the first in list order. */
  answer?: DnsAnswer;
  /**
   * Whether the OS resolver answered; null when `system` is not in the list, or when it only
   * joined a lookup started before this probe that did not answer (`systemStale`).
   */
  systemOk: boolean | null;
  /**
   * The OS lookup this probe joined was asked before it and has not answered: it says how DNS
   * was then, not now (glibc retries a dropped query only after 5 s). A broken system resolver
   * is not concluded from it.
   */
  systemStale?: boolean;
  /** Who had failed, and how, by the time the probe answered (for the log and /health). */
  failures: { resolver: string; code: string }[];
}

/**
 * Probes all resolvers in parallel, each once however often it is listed; never throws. It
 * answers as soon as the outcome is known rather than when the slowest resolver gives up: at
 * the system's answer; at another's once the system's is known (or, when the system only joined
 * a lookup from before, at once); else when all are done. A resolver that drops queries holds
 * a probe for its whole timeout, and would hold the connect back as long.
 */
export function probeName(listed: readonly ResolverSpec[], hostname: string, timeoutMs: number): Promise<ProbeResult> {
  const specs = listed.filter((s, i) => listed.findIndex((o) => o.label === s.label) === i);
  const system = specs.findIndex((s) => s.kind === "system");
  const joined = system >= 0 && osLookupRunning(hostname);
  const results: (ResolveResult | undefined)[] = specs.map(() => undefined);
  return new Promise((resolve) => {
    let done = false;
    const settle = () => {
      if (done) return;
      const sys = system >= 0 ? results[system] : undefined;
      const other = results.some((r, i) => i !== system && r?.ok);
      const ready = results.every((r) => r !== undefined) || sys?.ok === true || (other && (system < 0 || sys !== undefined || joined));
      if (!ready) return;
      done = true;
      resolve(outcome(specs, results, system, joined));
    };
    specs.forEach((s, i) => {
      void resolveWith(s, hostname, timeoutMs).then((r) => {
        results[i] = r;
        settle();
      });
    });
  });
}

/** What the results so far say: the system's answer first, else the first in list order. */
function outcome(specs: ResolverSpec[], results: (ResolveResult | undefined)[], system: number, joined: boolean): ProbeResult {
  let answer: DnsAnswer | undefined;
  const failures: ProbeResult["failures"] = [];
  results.forEach((r, i) => {
    if (!r) return;
    if (r.ok) {
      if (!answer || i === system) answer = { resolver: specs[i]!, addresses: r.addresses };
    } else {
      failures.push({ resolver: specs[i]!.label, code: r.code });
    }
  });
  const sys = system >= 0 ? results[system] : undefined;
  const systemStale = joined && sys?.ok !== true;
  const systemOk = system < 0 || systemStale ? null : sys!.ok;
  return { answer, systemOk, failures, ...(systemStale ? { systemStale } : {}) };
}
