/**
 * Does a name resolve on a host, the way its apps resolve (`getent hosts`: /etc/hosts,
 * nsswitch and /etc/resolv.conf all count), and which nameservers it uses. One probe for the
 * chat (`/dns check`, and `/dns fix`'s verification) and the watcher's DNS detector, so all of
 * them read a result the same way:
 * only getent's "not found" means DNS is broken; a missing getent, or getent failing some
 * other way, means the check could not be made — never "DNS broken" (report 001).
 *
 * @example
 * const r = await runProbe(host.executor, dnsProbe, dnsArgs("web.whatsapp.com", host.config.paths), { host: host.name });
 * if (r.kind === "ok" && r.value.state === "not_found") alert();
 */
import { defineProbe, has, type Probe } from "./probe.js";

/** getent's exit code for "key not found". */
const GETENT_NOT_FOUND = 2;
const SECTION = "__jaga_ns__";

export type DnsState =
  /** The name resolves. */
  | "resolves"
  /** getent asked and the resolver said no: DNS is broken for this name. */
  | "not_found"
  /** The host has no getent: nothing can be said about DNS. */
  | "getent_missing"
  /** getent failed for another reason (exit `code`): nothing can be said about DNS either. */
  | "check_failed";

export interface DnsCheck {
  state: DnsState;
  /** getent's exit code, when it ran. */
  code: number | null;
  /** `nameserver` lines of the host's resolv.conf (`hosts[].paths.resolvConf`). */
  nameservers: string[];
}

/**
 * `$1` is the name, `$2` the resolv.conf whose nameservers are listed (getent itself always
 * reads the one glibc reads). getent's exit code is reported as is; the parser decides what it means.
 *
 * @example
 * await runProbe(executor, dnsProbe, ["localhost"]); // { kind: "ok", value: { state: "resolves", … } }
 */
export const dnsProbe: Probe<DnsCheck> = defineProbe({
  name: "dns",
  // getent waits out the resolver's own timeouts (a slow resolver is what this is for).
  timeoutMs: 15_000,
  script: `if ${has("getent")}; then getent hosts "$1" >/dev/null 2>&1; echo "getent $?"; fi; echo ${SECTION}; grep -E '^nameserver' "\${2:-/etc/resolv.conf}" 2>/dev/null; exit 0`,
  parse({ stdout, missing }) {
    const [result = "", ns = ""] = stdout.split(`${SECTION}\n`);
    const nameservers = ns
      .split("\n")
      .map((l) => l.replace(/^nameserver\s+/, "").trim())
      .filter(Boolean);
    if (missing.includes("getent")) return { state: "getent_missing", code: null, nameservers };
    const m = /^getent (\d+)$/m.exec(result);
    if (!m) throw new Error(`dns probe printed no result: ${result.slice(0, 100)}`);
    const code = Number(m[1]);
    const state: DnsState = code === 0 ? "resolves" : code === GETENT_NOT_FOUND ? "not_found" : "check_failed";
    return { state, code, nameservers };
  },
});

/**
 * The probe's arguments for a host: the name, and the host's resolv.conf path.
 *
 * @example
 * dnsArgs("web.whatsapp.com", { resolvConf: "/etc/resolv.conf" }); // ["web.whatsapp.com", "/etc/resolv.conf"]
 */
export function dnsArgs(name: string, paths: { resolvConf: string }): string[] {
  return [name, paths.resolvConf];
}
