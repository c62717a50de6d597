/**
 * The evidence an incident keeps from the moment it opened: what the desk's describe gathered
 * (the likely cause, an app's last error lines, who holds a port, a host's load and memory, its
 * resolvers). Small on purpose — it is a row in SQLite and one block in `/incident` — and masked,
 * because log lines carry NIKs and tokens.
 */
import type { Vitals } from "../ops/vitals.js";
import { formatBytes } from "../duration.js";
import { redact, stripControls } from "../text.js";

export const EVIDENCE_MAX_LINES = 40;
export const EVIDENCE_MAX_BYTES = 4_096;
const MAX_LINE = 300;

/**
 * Masks, cleans and bounds evidence lines: at most {@link EVIDENCE_MAX_LINES} lines and
 * {@link EVIDENCE_MAX_BYTES} bytes (UTF-8), each line at most 300 characters, empty lines dropped.
 * When it is too long the first lines (the cause) and the newest of the rest are kept.
 *
 * @example
 * boundEvidence(["Likely cause: port 3000 …", "token=abcd1234efgh"]); // ["Likely cause: port 3000 …", "token=«secret»"]
 */
export function boundEvidence(lines: readonly string[], head = 0): string[] {
  const clean = lines
    .flatMap((l) => l.split("\n"))
    .map((l) => redact(stripControls(l)).trimEnd())
    .map((l) => (l.length > MAX_LINE ? `${l.slice(0, MAX_LINE - 1)}…` : l))
    .filter((l) => l.trim() !== "");
  const first = clean.slice(0, Math.min(head, clean.length));
  const rest = clean.slice(first.length);
  const kept = [...first];
  let bytes = first.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
  const tail: string[] = [];
  for (let i = rest.length - 1; i >= 0; i--) {
    const size = Buffer.byteLength(rest[i]!) + 1;
    if (kept.length + tail.length >= EVIDENCE_MAX_LINES || bytes + size > EVIDENCE_MAX_BYTES) break;
    tail.unshift(rest[i]!);
    bytes += size;
  }
  return [...kept, ...tail].slice(0, EVIDENCE_MAX_LINES);
}

/**
 * A host's vitals as evidence lines: load against its cores, memory in use, each disk.
 *
 * @example
 * vitalsEvidence(v, "01:02:03Z"); // ["vitals at 01:02:03Z", "load 3.1 2.4 1.9 (2 cores)", "memory 1.8 GB of 2 GB in use (91%)", "disk / 76% of 30 GB"]
 */
export function vitalsEvidence(v: Vitals, when: string): string[] {
  const used = v.memTotalBytes - v.memAvailableBytes;
  const percent = v.memTotalBytes > 0 ? Math.round((used / v.memTotalBytes) * 100) : 0;
  return [
    `vitals at ${when}`,
    `load ${v.load.map((n) => (Number.isFinite(n) ? n.toFixed(2) : "?")).join(" ")} (${v.cores} cores)`,
    `memory ${formatBytes(used)} of ${formatBytes(v.memTotalBytes)} in use (${percent}%)`,
    ...v.disks.map((d) => `disk ${d.mount} ${d.usedPercent}% of ${formatBytes(d.sizeBytes)}`),
  ];
}

/**
 * The resolver lines of a resolv.conf (nameserver, search, domain, options), comments dropped.
 *
 * @example
 * resolverLines("# generated\nnameserver 127.0.0.53\noptions edns0\n"); // ["nameserver 127.0.0.53", "options edns0"]
 */
export function resolverLines(resolvConf: string): string[] {
  return resolvConf
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /^(nameserver|search|domain|options)\s/.test(l))
    .slice(0, 10);
}
