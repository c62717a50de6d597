/**
 * Asks named DNS servers for a name *from the host*, each on its own, timed: what `/dns check`
 * shows for every current nameserver and every candidate, and what `/dns fix` plans with.
 *
 * The tool is the host's own `node` (node:dns `Resolver`, one per server, `setServers`, one try,
 * timed with hrtime). Why node and not dig/nslookup/host: these hosts run Node apps under PM2,
 * and pm2 is itself a node program, so wherever Jaga can run pm2 there is a node — on PATH, or
 * beside `pm2Bin` for an nvm install, which is looked at too. dig and nslookup are often not
 * installed on the small boxes this is for (BusyBox's nslookup prints yet another format and
 * cannot time), so a fallback to them would be the least-tested code in the project. A host
 * without node gets the finding "node missing", and getent's own verdict still stands.
 *
 * The JavaScript is constant text handed to node as an argument (`node -e "$js" -- name …`),
 * like every argument here: nothing is spliced into the shell script.
 *
 * @example
 * const r = await runProbe(host.executor, askProbe, askArgs({ pm2Bin: "pm2", name: "web.whatsapp.com", timeoutMs: 2_000, servers: ["1.1.1.1"] }));
 * if (r.kind === "ok") r.value.results[0]; // { server: "1.1.1.1", outcome: "answers", addresses: ["157.240.…"], ms: 23, code: null }
 */
import { isIP } from "node:net";
import { defineProbe, missing, type Probe } from "./probe.js";

export type AskOutcome =
  /** The server gave addresses for the name. */
  | "answers"
  /** The server says the name does not exist, or has no address (NXDOMAIN, NODATA). */
  | "not_found"
  /** The server refused to answer (REFUSED). */
  | "refused"
  /** SERVFAIL: the server could not resolve it (its own upstream failed). */
  | "servfail"
  /** No answer within the timeout. */
  | "timeout"
  /** Nothing listens there (ICMP port unreachable: ECONNREFUSED). */
  | "unreachable"
  /** Anything else; `code` says what. */
  | "failed";

export interface Asked {
  server: string;
  outcome: AskOutcome;
  addresses: string[];
  /** Milliseconds until the answer (or until given up). */
  ms: number;
  /** c-ares's code for a failure, e.g. `EREFUSED`. */
  code: string | null;
}

export interface AskReport {
  /** False when the host has no node to ask with. */
  asked: boolean;
  results: Asked[];
}

/** Asks each server in argv[4…] for argv[2] (A records), all at once, one JSON line each. */
const ASK_JS = `
const dns = require("dns");
const [name, ms, ...servers] = process.argv.slice(1);
const timeout = Number(ms);
let left = servers.length;
if (left === 0) process.exit(0);
for (const server of servers) {
  const started = process.hrtime();
  let done = false;
  const out = (o) => {
    if (done) return;
    done = true;
    const [s, ns] = process.hrtime(started);
    console.log(JSON.stringify(Object.assign({ server, ms: Math.round(s * 1e3 + ns / 1e6) }, o)));
    if (--left === 0) process.exit(0);
  };
  let r;
  try {
    r = new dns.Resolver({ timeout, tries: 1 });
    r.setServers([server]);
  } catch (e) {
    out({ code: "EBADSERVER" });
    continue;
  }
  const guard = setTimeout(() => { r.cancel(); out({ code: "ETIMEOUT" }); }, timeout);
  r.resolve4(name, (err, addresses) => {
    clearTimeout(guard);
    out(err ? { code: err.code || "EFAIL" } : { addresses });
  });
}
`;

/**
 * `$1` pm2Bin (to find an nvm node beside it), `$2` the JavaScript, then node's arguments.
 *
 * @example
 * await runProbe(executor, askProbe, askArgs({ pm2Bin, name, timeoutMs: 2_000, servers }));
 */
export const askProbe: Probe<AskReport> = defineProbe({
  name: "dns-ask",
  timeoutMs: 15_000,
  script: [
    `n=`,
    `if command -v node >/dev/null 2>&1; then n=node; else case "$1" in */*) [ -x "\${1%/*}/node" ] && n="\${1%/*}/node";; esac; fi`,
    `if [ -z "$n" ]; then ${missing("node")}; exit 0; fi`,
    `js=$2; shift 2`,
    `exec "$n" -e "$js" -- "$@"`,
  ].join("\n"),
  parse({ stdout, missing: lacking }) {
    if (lacking.includes("node")) return { asked: false, results: [] };
    const results: Asked[] = [];
    for (const line of stdout.split("\n")) {
      if (!line.startsWith("{")) continue;
      const o = JSON.parse(line) as { server?: unknown; ms?: unknown; code?: unknown; addresses?: unknown };
      if (typeof o.server !== "string") continue;
      const addresses = Array.isArray(o.addresses) ? o.addresses.filter((a): a is string => typeof a === "string") : [];
      const code = typeof o.code === "string" ? o.code : null;
      results.push({ server: o.server, ms: typeof o.ms === "number" ? o.ms : 0, addresses, code, outcome: outcomeOf(code, addresses) });
    }
    return { asked: true, results };
  },
});

/**
 * What a c-ares code means here.
 *
 * @example
 * outcomeOf("EREFUSED", []); // "refused"
 */
export function outcomeOf(code: string | null, addresses: string[]): AskOutcome {
  if (code === null) return addresses.length ? "answers" : "not_found";
  switch (code) {
    case "ENOTFOUND":
    case "ENODATA":
      return "not_found";
    case "EREFUSED":
      return "refused";
    case "ESERVFAIL":
      return "servfail";
    case "ETIMEOUT":
    case "ECANCELLED":
      return "timeout";
    case "ECONNREFUSED":
      return "unreachable";
    default:
      return "failed";
  }
}

/**
 * The probe's arguments. Only plain IP addresses are asked (a nameserver line can hold
 * anything); the name must already be valid (`watch.dns.name`).
 *
 * @example
 * askArgs({ pm2Bin: "pm2", name: "wa.test", timeoutMs: 500, servers: ["127.53.0.1", "junk"] }); // ["pm2", ASK_JS, "wa.test", "500", "127.53.0.1"]
 */
export function askArgs(o: { pm2Bin: string; name: string; timeoutMs: number; servers: readonly string[] }): string[] {
  return [o.pm2Bin, ASK_JS, o.name, String(Math.max(1, Math.round(o.timeoutMs))), ...o.servers.filter((s) => isIP(s) !== 0)];
}

/**
 * Every asked server, in the order given; one node never reported (it died) counts as a timeout.
 *
 * @example
 * inOrder(report, ["127.53.0.1"]); // [{ server: "127.53.0.1", … }]
 */
export function inOrder(report: AskReport, servers: readonly string[], timeoutMs: number): Asked[] {
  return servers
    .filter((s) => isIP(s) !== 0)
    .map((s) => report.results.find((r) => r.server === s) ?? { server: s, outcome: "timeout" as const, addresses: [], ms: timeoutMs, code: null });
}
