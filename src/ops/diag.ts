/**
 * `/diag`: the first minute of an expert on a host, read in one round trip. One constant
 * script runs its sections at once in background subshells — load and memory, CPU/memory/IO
 * pressure, disk space and inodes, TCP connections, the kernel log, `journalctl -p err`,
 * `systemctl --failed`, name resolution (the same {@link dnsProbe} as `/dns check`) and who
 * manages /etc/resolv.conf — each external tool bounded by `timeout` where the host has it,
 * then waits. Beside it, {@link readPorts} (listeners and their holders, IPv4 and IPv6) and
 * the PM2 list, then the last error lines of the apps in trouble, read from their log files.
 *
 * Why one script with sections and not a dozen execs: over SSH each exec is a channel and a
 * login shell, sshd allows 10 channels a connection, and the watchers share that connection.
 *
 * Why every line carries its section's name: the sections write to one pipe at once. Each
 * section collects its output first (at most 60 lines, 3000 bytes) and prints it with one
 * `printf`; dash writes that in one write(2) (atomic below PIPE_BUF), bash line by line (each
 * line atomic). Either way a line is whole and says which section it belongs to. The script
 * writes no file: a full or read-only disk is what it may be asked to find.
 *
 * A tool the host lacks (journalctl, systemctl, dmesg, getent) is a finding in the report; so
 * is a kernel log this login may not read. Output that makes no sense is a clear error, and a
 * section that did not arrive (cut short, timed out) is named in `unread`.
 *
 * @example
 * const d = await readDiag(host, { dnsName: "web.whatsapp.com", paths: ["/"], host: host.name, clock, timeoutMs: 8_000 });
 * if (d.report.kind === "ok") d.report.value.disks[0]; // { mount: "/", usedPercent: 93, inodePercent: 12, sizeBytes: … }
 */
import { systemClock } from "../clock.js";
import { withDeadline } from "../hosts/deadline.js";
import type { Executor } from "../hosts/executor.js";
import { dnsProbe, type DnsCheck } from "./dns.js";
import { groupApps, type Pm2, type Pm2App, type Pm2Process } from "./pm2.js";
import { readPorts, type PortsReport } from "./ports.js";
import { defineProbe, has, runProbe, takeMissing, type Probe, type ProbeOptions, type ProbeOutput, type ProbeResult } from "./probe.js";
import { parseDf } from "./vitals.js";

export const SECTIONS = ["sys", "psi", "disk", "conn", "kernel", "journal", "units", "dns", "resolv"] as const;
export type SectionName = (typeof SECTIONS)[number];

const DONE = "__jaga_diag__ done";
const END = "__end__";

/** Kernel log lines worth a look: OOM kills first, then hardware, filesystem and hang reports. */
const KERNEL_ERRORS =
  "segfault|general protection|i/o error|ext4-fs error|xfs.*(error|corrupt)|btrfs.*error|blocked for more than|soft lockup|hard lockup|kernel panic|hardware error|mce:|nvme.*(timeout|reset)|remounting filesystem read-only|call trace";

/**
 * Each section's body. `$T` is `timeout <s>` when the host has a timeout that works (GNU, new
 * or old BusyBox), empty otherwise. Positional parameters: `$1` the seconds, `$2` the DNS
 * name, `$3…` the paths whose disks matter.
 */
const BODIES: Record<SectionName, string> = {
  sys: [
    "printf 'load '; cat /proc/loadavg",
    "printf 'cores '; nproc 2>/dev/null || grep -c '^processor' /proc/cpuinfo",
    "grep -E '^(MemTotal|MemAvailable|MemFree|Buffers|Cached|SwapTotal|SwapFree):' /proc/meminfo",
    "printf 'uptime '; cat /proc/uptime",
    "printf 'now '; date +%s",
  ].join("; "),
  psi: `for r in cpu memory io; do if [ -r /proc/pressure/$r ]; then sed "s/^/$r /" /proc/pressure/$r; fi; done`,
  disk: `shift 2; echo blocks; $T df -P -k "$@"; r=$?; echo inodes; $T df -P -i "$@"; q=$?; if slow $r || slow $q; then echo slow; fi`,
  // Established connections per listening port (the local side), and the totals of the states
  // that pile up: TIME_WAIT (06) and CLOSE_WAIT (08, a peer hung up and the app never closed).
  conn:
    "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4==\"0A\"{split($2,a,\":\"); l[a[2]]=1} $4==\"01\"{split($2,a,\":\"); e[a[2]]++; n++} " +
    "$4==\"06\"{tw++} $4==\"08\"{cw++} END{print \"est\", n+0; print \"tw\", tw+0; print \"cw\", cw+0; for(p in e) if(p in l) print \"port\", p, e[p]}'",
  kernel: [
    `if ${has("dmesg")}; then o=$($T dmesg 2>&1); r=$?; if slow $r; then echo slow;`,
    `elif [ "$r" -ne 0 ]; then printf 'denied %s\\n' "$(printf '%s\\n' "$o" | head -n 1 | cut -c1-160)";`,
    `else echo read; printf '%s\\n' "$o" | grep -i 'killed process' | tail -n 5 | cut -c1-300 | sed 's/^/oom /';`,
    `printf '%s\\n' "$o" | grep -iE '${KERNEL_ERRORS}' | grep -vi 'killed process' | tail -n 4 | cut -c1-300 | sed 's/^/err /'; fi; fi`,
  ].join(" "),
  // Without -q: journalctl's own notice that this login sees only its own messages is a finding.
  journal:
    `if ${has("journalctl")}; then o=$($T journalctl -p err -b --no-pager -o short-iso -n 500 2>&1); r=$?; if slow $r; then echo slow; else printf '%s\\n' "$o" | cut -c1-240 | ` +
    "awk '/^-- /{next} /^(Hint|Warning):|No journal files|insufficient permissions|not seeing messages|Failed to/{print \"note \" $0; next} " +
    "{n++; l[n%3]=$0} END{print \"count \" n+0; s=n-2; if(s<1)s=1; for(i=s;i<=n;i++) print \"line \" l[i%3]}'; fi; fi",
  units: `if ${has("systemctl")}; then o=$($T systemctl --failed --no-legend --plain --no-pager 2>&1); r=$?; if slow $r; then echo slow; else printf '%s\\n' "$o" | head -n 12 | cut -c1-160; fi; fi`,
  dns: `shift; ${dnsProbe.script}`,
  resolv: [
    "[ -e /etc/resolv.conf ] || echo absent",
    `if [ -L /etc/resolv.conf ]; then echo "link $(readlink /etc/resolv.conf)"; fi`,
    "grep '^#' /etc/resolv.conf 2>/dev/null | head -n 4 | cut -c1-120 | sed 's/^/note /'",
  ].join("; "),
};

/** One section in the background: its output collected, each line named, printed at once. */
function section(name: SectionName): string {
  return `( o=$( { ${BODIES[name]}\n} 2>&1 </dev/null | head -n 60 | head -c 3000 | sed 's/^/${name}|/' ); printf '%s\\n${name}|${END}\\n' "$o" ) &`;
}

const SCRIPT = [
  `T=; if command -v timeout >/dev/null 2>&1; then if timeout "$1" true >/dev/null 2>&1; then T="timeout $1";`,
  `elif timeout -t "$1" true >/dev/null 2>&1; then T="timeout -t $1"; fi; fi`,
  // The DNS section is dnsProbe's own script; its getent gets the same bound (as a function,
  // defined only when getent is there, so its "is getent there?" check still tells the truth).
  `if [ -n "$T" ] && command -v getent >/dev/null 2>&1; then getent() { $T getent "$@"; }; fi`,
  // Did timeout end the tool? GNU's says 124; BusyBox's passes on the signal's status.
  `slow() { [ -n "$T" ] && { [ "$1" -eq 124 ] || [ "$1" -eq 143 ] || [ "$1" -eq 137 ]; }; }`,
  ...SECTIONS.map(section),
  `wait; echo "${DONE}"; exit 0`,
].join("\n");

/** Load, cores, memory and swap, and the host's own clock. */
export interface SystemInfo {
  load: [number, number, number];
  cores: number;
  memTotalBytes: number;
  memAvailableBytes: number;
  swapTotalBytes: number;
  swapFreeBytes: number;
  uptimeSeconds: number;
  /** The host's clock when it was read, epoch ms (kernel times are placed on it). */
  hostNow: number;
}

/** One line of /proc/pressure: the share of time some (or all) tasks waited, in percent. */
export interface PressureLine {
  avg10: number;
  avg60: number;
  avg300: number;
}

export interface Pressure {
  /** False: this kernel has no PSI (before 4.20, or `psi=0`). */
  available: boolean;
  cpu?: { some: PressureLine };
  memory?: { some: PressureLine; full?: PressureLine };
  io?: { some: PressureLine; full?: PressureLine };
}

export interface DiskUse {
  mount: string;
  usedPercent: number;
  sizeBytes: number;
  /** Inodes in use, percent; null where the filesystem has no fixed inode table (btrfs) or df -i failed. */
  inodePercent: number | null;
}

export interface Connections {
  established: number;
  timeWait: number;
  closeWait: number;
  /** Established connections per listening port. */
  byPort: Map<number, number>;
}

export interface KernelLine {
  kind: "oom" | "error";
  /** On the host's clock (epoch ms), when dmesg printed a timestamp. */
  at: number | null;
  /** The line without its timestamp. */
  text: string;
  /** OOM kills: the killed process. */
  pid?: number;
  comm?: string;
}

export interface KernelLog {
  /** `denied`: dmesg ran and was refused (non-root where kernel.dmesg_restrict=1); `slow`: ended by the section's timeout. */
  state: "read" | "denied" | "slow" | "missing" | "unread";
  reason?: string;
  lines: KernelLine[];
}

export interface JournalErrors {
  /** `limited`: journalctl said this login sees only its own messages; `empty`: no journal at all. */
  state: "read" | "limited" | "empty" | "slow" | "missing" | "unread";
  /** Error lines since boot (capped at 500). */
  count: number;
  /** The newest few, `HH:MM unit: message`. */
  last: string[];
  notes: string[];
}

export interface FailedUnits {
  /** `no_systemd`: systemctl is there but systemd is not running (a container, another init). */
  state: "read" | "no_systemd" | "slow" | "missing" | "unread";
  units: string[];
  note?: string;
}

export interface ResolverInfo {
  /** Who writes /etc/resolv.conf: `systemd-resolved`, `resolvconf`, `NetworkManager`, …; `file` when nothing says so. */
  manager: string;
  /** Where the symlink points, when it is one. */
  link: string | null;
  absent: boolean;
}

export interface DiagReport {
  system: SystemInfo | null;
  pressure: Pressure | null;
  disks: DiskUse[];
  connections: Connections | null;
  kernel: KernelLog;
  journal: JournalErrors;
  units: FailedUnits;
  /** What `/dns check` would say; null when the section did not arrive. */
  dns: DnsCheck | null;
  resolver: ResolverInfo | null;
  /** Tools the host lacks. */
  missing: string[];
  /** Tools the section timeout ended (df, dmesg, journalctl, systemctl, getent): their parts say nothing. */
  slow: string[];
  /** Sections that did not arrive whole (cut short, or the host stopped answering). */
  unread: SectionName[];
  /** The script's last line arrived. */
  complete: boolean;
}

/**
 * The sections' output, by name: lines, and whether the section's end marker came.
 *
 * @example
 * splitSections("sys|load 0.1 0.2 0.3 1/2 3\nsys|__end__\n").get("sys"); // { lines: ["load 0.1 0.2 0.3 1/2 3"], complete: true }
 */
export function splitSections(stdout: string): Map<SectionName, { lines: string[]; complete: boolean }> {
  const out = new Map<SectionName, { lines: string[]; complete: boolean }>();
  const known = new Set<string>(SECTIONS);
  for (const raw of stdout.split("\n")) {
    const bar = raw.indexOf("|");
    if (bar <= 0) continue;
    const name = raw.slice(0, bar);
    if (!known.has(name)) continue;
    const s = out.get(name as SectionName) ?? { lines: [], complete: false };
    const line = raw.slice(bar + 1);
    if (line === END) s.complete = true;
    else if (!s.complete) s.lines.push(line);
    out.set(name as SectionName, s);
  }
  return out;
}

/**
 * The whole report from what the script printed. Never throws for a section that is missing
 * or garbled (it is `unread`, its fields empty); throws only when nothing readable came at all.
 *
 * @example
 * parseDiag({ stdout, stderr: "", code: 0, truncated: false, missing: [] }).disks; // [{ mount: "/", usedPercent: 71, … }]
 */
export function parseDiag(o: ProbeOutput): DiagReport {
  const sections = splitSections(o.stdout);
  const complete = o.stdout.includes(DONE);
  if (sections.size === 0) {
    const why = o.stderr.trim().split("\n").at(-1)?.slice(0, 200) || (o.code === 0 ? "no output" : `exit ${o.code}`);
    throw new Error(`the diagnosis printed nothing readable (${why})`);
  }
  const missing = [...o.missing];
  const unread: SectionName[] = [];
  const lines = (name: SectionName): string[] | null => {
    const s = sections.get(name);
    if (!s?.complete) {
      unread.push(name);
      if (!s) return null;
    }
    // A section's own missing-tool markers were captured with the rest of its output.
    return takeMissing(s.lines.join("\n"), missing).text.split("\n").filter((l) => l !== "");
  };
  const sys = lines("sys");
  const psi = lines("psi");
  const disk = lines("disk");
  const conn = lines("conn");
  const kernelLines = lines("kernel");
  const journalLines = lines("journal");
  const unitLines = lines("units");
  const dnsLines = lines("dns");
  const resolvLines = lines("resolv");
  const system = sys ? parseSystem(sys) : null;
  const dns = dnsLines && sections.get("dns")?.complete ? parseDns(dnsLines, missing) : null;
  const kernel = parseKernel(kernelLines, missing.includes("dmesg"), system);
  const journal = parseJournal(journalLines, missing.includes("journalctl"));
  const units = parseUnits(unitLines, missing.includes("systemctl"));
  const slow = [
    ...(disk?.includes("slow") ? ["df"] : []),
    ...(kernel.state === "slow" ? ["dmesg"] : []),
    ...(journal.state === "slow" ? ["journalctl"] : []),
    ...(units.state === "slow" ? ["systemctl"] : []),
    ...(dns?.state === "check_failed" && dns.code !== null && [124, 137, 143].includes(dns.code) ? ["getent"] : []),
  ];
  return {
    system,
    pressure: psi && sections.get("psi")?.complete ? parsePressure(psi) : null,
    disks: disk ? parseDisks(disk) : [],
    connections: conn ? parseConnections(conn) : null,
    kernel,
    journal,
    units,
    dns,
    resolver: resolvLines ? parseResolver(resolvLines) : null,
    missing,
    slow,
    unread,
    complete,
  };
}

const num = (s: string | undefined): number => (s === undefined || s.trim() === "" ? NaN : Number(s));

/**
 * @example
 * parseSystem(["load 0.52 0.40 0.31 1/120 999", "cores 2", "MemTotal: 2048 kB", "uptime 3600.5 100", "now 1700000000"]).cores; // 2
 */
export function parseSystem(lines: string[]): SystemInfo | null {
  const mem = new Map<string, number>();
  let load: number[] = [];
  let cores = NaN;
  let uptime = NaN;
  let now = NaN;
  for (const l of lines) {
    const [key = "", ...rest] = l.trim().split(/\s+/);
    if (key === "load") load = rest.slice(0, 3).map(num);
    else if (key === "cores") cores = num(rest[0]);
    else if (key === "uptime") uptime = num(rest[0]);
    else if (key === "now") now = num(rest[0]);
    else {
      const m = /^(\w+):\s+(\d+)\s*kB/.exec(l);
      if (m) mem.set(m[1]!, Number(m[2]) * 1024);
    }
  }
  if (load.length < 3 || !load.every(Number.isFinite) || !mem.has("MemTotal")) return null;
  const available = mem.get("MemAvailable") ?? (mem.get("MemFree") ?? 0) + (mem.get("Buffers") ?? 0) + (mem.get("Cached") ?? 0);
  return {
    load: [load[0]!, load[1]!, load[2]!],
    cores: Number.isInteger(cores) && cores > 0 ? cores : 1,
    memTotalBytes: mem.get("MemTotal")!,
    memAvailableBytes: available,
    swapTotalBytes: mem.get("SwapTotal") ?? 0,
    swapFreeBytes: mem.get("SwapFree") ?? 0,
    uptimeSeconds: uptime,
    hostNow: Number.isFinite(now) ? now * 1000 : NaN,
  };
}

/**
 * @example
 * parsePressure(["cpu some avg10=2.06 avg60=2.43 avg300=0.73 total=14339008"]).cpu?.some.avg60; // 2.43
 */
export function parsePressure(lines: string[]): Pressure {
  const out: Pressure = { available: false };
  for (const l of lines) {
    const m = /^(cpu|memory|io) (some|full) avg10=([\d.]+) avg60=([\d.]+) avg300=([\d.]+)/.exec(l.trim());
    if (!m) continue;
    out.available = true;
    const line = { avg10: Number(m[3]), avg60: Number(m[4]), avg300: Number(m[5]) };
    const resource = m[1] as "cpu" | "memory" | "io";
    const kind = m[2] as "some" | "full";
    if (resource === "cpu") {
      if (kind === "some") out.cpu = { some: line };
    } else {
      const r = (out[resource] ??= { some: line });
      r[kind] = line;
    }
  }
  return out;
}

/**
 * Space and inodes per mount, from `df -P -k` and `df -P -i` (same shape, so one reader).
 *
 * @example
 * parseDisks(["blocks", "Filesystem 1024-blocks Used Available Capacity Mounted on", "/dev/vda 100 93 7 93% /", "inodes", "Filesystem Inodes IUsed IFree IUse% Mounted on", "/dev/vda 10 1 9 10% /"]);
 * // [{ mount: "/", usedPercent: 93, sizeBytes: 102400, inodePercent: 10 }]
 */
export function parseDisks(lines: string[]): DiskUse[] {
  const at = lines.indexOf("inodes");
  const blocks = lines.slice(lines[0] === "blocks" ? 1 : 0, at < 0 ? undefined : at);
  const inodes = at < 0 ? [] : lines.slice(at + 1);
  // parseDf skips a header line; df prints one first, but an error line may come before it.
  const space = parseDf(["", ...blocks].join("\n"));
  const byMount = new Map(parseDf(["", ...inodes].join("\n")).map((d) => [d.mount, d.usedPercent]));
  return space.map((d) => ({ mount: d.mount, usedPercent: d.usedPercent, sizeBytes: d.sizeBytes, inodePercent: byMount.get(d.mount) ?? null }));
}

/**
 * @example
 * parseConnections(["est 5", "tw 1", "cw 0", "port 0016 3"]).byPort.get(22); // 3
 */
export function parseConnections(lines: string[]): Connections | null {
  const out: Connections = { established: NaN, timeWait: 0, closeWait: 0, byPort: new Map() };
  for (const l of lines) {
    const [key, a, b] = l.trim().split(/\s+/);
    if (key === "est") out.established = num(a);
    else if (key === "tw") out.timeWait = num(a) || 0;
    else if (key === "cw") out.closeWait = num(a) || 0;
    else if (key === "port" && a && /^[0-9A-Fa-f]{1,4}$/.test(a) && Number.isFinite(num(b))) out.byPort.set(parseInt(a, 16), num(b));
  }
  return Number.isFinite(out.established) ? out : null;
}

/**
 * Kernel lines: OOM kills (`oom …`) and other errors (`err …`), their `[seconds]` since boot
 * placed on the host's clock.
 *
 * @example
 * parseKernel(["read", "oom [  12.5] Out of memory: Killed process 2215 (node) total-vm:1kB"], false, sys).lines[0];
 * // { kind: "oom", at: <boot + 12.5 s>, text: "Out of memory: Killed process 2215 (node) total-vm:1kB", pid: 2215, comm: "node" }
 */
export function parseKernel(lines: string[] | null, missing: boolean, sys: SystemInfo | null): KernelLog {
  if (missing) return { state: "missing", lines: [] };
  if (!lines) return { state: "unread", lines: [] };
  if (lines.includes("slow")) return { state: "slow", lines: [] };
  const denied = lines.find((l) => l.startsWith("denied"));
  if (denied) return { state: "denied", reason: denied.slice("denied".length).trim(), lines: [] };
  if (!lines.includes("read")) return { state: "unread", lines: [] };
  const boot = sys && Number.isFinite(sys.hostNow) && Number.isFinite(sys.uptimeSeconds) ? sys.hostNow - sys.uptimeSeconds * 1000 : null;
  const out: KernelLine[] = [];
  for (const l of lines) {
    const m = /^(oom|err) (.*)$/.exec(l);
    if (!m) continue;
    const stamp = /^\[\s*(\d+(?:\.\d+)?)\]\s*(.*)$/.exec(m[2]!);
    const text = (stamp ? stamp[2]! : m[2]!).trim();
    const line: KernelLine = { kind: m[1] === "oom" ? "oom" : "error", at: stamp && boot !== null ? Math.round(boot + Number(stamp[1]) * 1000) : null, text };
    const kill = /Killed process (\d+) \(([^)]*)\)/i.exec(text);
    if (kill) {
      line.pid = Number(kill[1]);
      line.comm = kill[2];
    }
    out.push(line);
  }
  return { state: "read", lines: out };
}

/**
 * @example
 * parseJournal(["count 2", "line 2024-05-02T02:14:03+0700 box nginx[812]: bind() failed"], false);
 * // { state: "read", count: 2, last: ["02:14 nginx[812]: bind() failed"], notes: [] }
 */
export function parseJournal(lines: string[] | null, missing: boolean): JournalErrors {
  if (missing) return { state: "missing", count: 0, last: [], notes: [] };
  if (!lines) return { state: "unread", count: 0, last: [], notes: [] };
  if (lines.includes("slow")) return { state: "slow", count: 0, last: [], notes: [] };
  const notes = lines.filter((l) => l.startsWith("note ")).map((l) => l.slice(5).trim());
  const count = lines.map((l) => /^count (\d+)$/.exec(l)?.[1]).find((c) => c !== undefined);
  if (count === undefined) return { state: "unread", count: 0, last: [], notes };
  const last = lines
    .filter((l) => l.startsWith("line "))
    .map((l) => l.slice(5))
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const m = /^\d{4}-\d\d-\d\dT(\d\d:\d\d):\d\d\S*\s+\S+\s+(.*)$/.exec(l);
      return m ? `${m[1]} ${m[2]}` : l;
    });
  const n = Number(count);
  const limited = notes.some((x) => /not seeing messages|insufficient permissions/i.test(x));
  const empty = n === 0 && notes.some((x) => /No journal files/i.test(x));
  return { state: limited ? "limited" : empty ? "empty" : "read", count: n, last, notes };
}

const UNIT = /^[●*]?\s*(\S+\.(?:service|socket|mount|automount|timer|target|path|scope|slice|swap|device))\s/;

/**
 * @example
 * parseUnits(["nginx.service loaded failed failed A high performance web server"], false); // { state: "read", units: ["nginx.service"] }
 */
export function parseUnits(lines: string[] | null, missing: boolean): FailedUnits {
  if (missing) return { state: "missing", units: [] };
  if (!lines) return { state: "unread", units: [] };
  if (lines.includes("slow")) return { state: "slow", units: [] };
  const units = lines.map((l) => UNIT.exec(l.trim() + " ")?.[1]).filter((u): u is string => u !== undefined);
  const other = lines.find((l) => !UNIT.test(l.trim() + " "));
  if (units.length === 0 && other && /not been booted with systemd|Failed to connect to bus|Host is down|System has not/i.test(lines.join(" "))) {
    return { state: "no_systemd", units: [], note: other.trim() };
  }
  return { state: "read", units, ...(other ? { note: other.trim() } : {}) };
}

function parseDns(lines: string[], missing: string[]): DnsCheck | null {
  try {
    return dnsProbe.parse({ stdout: `${lines.join("\n")}\n`, stderr: "", code: 0, truncated: false, missing });
  } catch {
    return null;
  }
}

/**
 * Who manages /etc/resolv.conf, from where its symlink points and the comments its writer leaves.
 *
 * @example
 * parseResolver(["link ../run/systemd/resolve/stub-resolv.conf"]).manager; // "systemd-resolved"
 * parseResolver(["note # Generated by NetworkManager"]).manager;            // "NetworkManager"
 * parseResolver([]).manager;                                                 // "file"
 */
export function parseResolver(lines: string[]): ResolverInfo {
  const link = lines.find((l) => l.startsWith("link "))?.slice(5).trim() || null;
  const notes = lines.filter((l) => l.startsWith("note ")).join(" ");
  const both = `${link ?? ""} ${notes}`;
  const manager = /systemd[-/]resolve/i.test(both)
    ? "systemd-resolved"
    : /resolvconf/i.test(both)
      ? "resolvconf"
      : /NetworkManager/i.test(both)
        ? "NetworkManager"
        : /netconfig/i.test(both)
          ? "netconfig"
          : /dhcpcd|dhclient|udhcpc/i.test(both)
            ? "DHCP client"
            : /connman/i.test(both)
              ? "connman"
              : /wsl/i.test(both)
                ? "WSL"
                : link
                  ? "link"
                  : "file";
  return { manager, link, absent: lines.includes("absent") };
}

/**
 * The main diagnosis script. Arguments: section timeout in whole seconds, the DNS name, then
 * the paths whose disks matter.
 *
 * @example
 * await runProbe(executor, diagProbe, ["5", "web.whatsapp.com", "/", "/root/.pm2"]);
 */
export const diagProbe: Probe<DiagReport> = defineProbe({
  name: "diag",
  script: SCRIPT,
  timeoutMs: 15_000,
  maxOutputBytes: 64 * 1024,
  parse: parseDiag,
});

/**
 * The last lines of log files (at most 20 each, read from the last 16 KB), each line named by
 * its file's position among the arguments, so a log line cannot pass for another file's.
 *
 * @example
 * await runProbe(executor, tailProbe, ["/root/.pm2/logs/web-error.log"]); // Map { 0 => ["Error: …"] }
 */
export const tailProbe: Probe<Map<number, string[]>> = defineProbe({
  name: "tail",
  timeoutMs: 10_000,
  maxOutputBytes: 256 * 1024,
  script: `i=0; for f in "$@"; do tail -c 16384 -- "$f" 2>/dev/null | tail -n 20 | sed "s/^/$i|/"; i=$((i+1)); done; exit 0`,
  parse({ stdout }) {
    const out = new Map<number, string[]>();
    for (const line of stdout.split("\n")) {
      const m = /^(\d+)\|(.*)$/.exec(line);
      if (!m || m[2]!.trim() === "") continue;
      const i = Number(m[1]);
      out.set(i, [...(out.get(i) ?? []), m[2]!]);
    }
    return out;
  },
});

/** What `/diag` reads of one host. */
export interface HostDiag {
  /** How long the whole read took, on the injected clock. */
  tookMs: number;
  /** Each tool's bound on the host (`timeout`), in seconds. */
  toolSeconds: number;
  report: ProbeResult<DiagReport>;
  pm2: { state: "ok"; processes: Pm2Process[] } | { state: "failed"; error: unknown };
  ports: ProbeResult<PortsReport>;
  /** The last error lines of the apps in trouble, oldest first; an app whose logs could not be read is absent. */
  errors: Map<string, string[]>;
}

export interface DiagHost {
  name: string;
  executor: Executor;
  pm2: Pick<Pm2, "list">;
}

export interface DiagOptions extends ProbeOptions {
  /** The name to resolve (`watch.dns.name`). */
  dnsName: string;
  /** Paths whose disks matter (`/`, the PM2 home, Jaga's data). */
  paths: string[];
  /** Apps to treat as in trouble whatever PM2 says (an open incident names them). */
  flagged?: ReadonlySet<string>;
}

/** Apps whose error logs are read: at most this many. */
const MAX_TROUBLED = 6;

/**
 * Is this app in trouble? Not online (errored, stopped, waiting for its next restart), named by
 * an open incident, or online for less than a minute after restarts (a crash loop caught
 * between two crashes).
 *
 * @example
 * inTrouble({ name: "bot", status: "online", restarts: 9, startedAt: now - 5_000, … }, now, new Set()); // true
 */
export function inTrouble(app: Pm2App, hostNow: number, flagged: ReadonlySet<string>): boolean {
  if (flagged.has(app.name) || app.status !== "online") return true;
  return app.restarts > 0 && app.startedAt !== null && hostNow - app.startedAt < 60_000;
}

/**
 * The script, the ports and the PM2 list of one host at once, then the troubled apps' error
 * lines, all inside `options.timeoutMs`. Never throws: each part is its own result, so a host
 * that answers some parts and not others costs only those.
 *
 * @example
 * const d = await readDiag(host, { dnsName, paths, host: host.name, clock, timeoutMs: 8_000, ...ctx.exec });
 */
export async function readDiag(host: DiagHost, options: DiagOptions): Promise<HostDiag> {
  const { dnsName, paths, flagged = new Set<string>(), ...probe } = options;
  const clock = probe.clock ?? systemClock;
  const started = clock.now();
  const budget = probe.timeoutMs ?? diagProbe.timeoutMs;
  // Sections end themselves a little before the deadline, so a slow tool costs its section,
  // not the whole answer.
  const seconds = Math.max(1, Math.min(5, Math.floor(budget / 1000) - 1));
  const o = { ...probe, host: host.name, clock, timeoutMs: budget };
  const list = withDeadline(host.name, o, clock, (x) => host.pm2.list(x));
  list.catch(() => undefined); // read below; a failure is a result, never an unhandled rejection
  const [report, ports, pm2, errors] = await Promise.all([
    runProbe(host.executor, diagProbe, [String(seconds), dnsName, ...paths], o),
    readPorts({ name: host.name, executor: host.executor, pm2: { list: () => list } }, o),
    list.then(
      (processes) => ({ state: "ok" as const, processes }),
      (error: unknown) => ({ state: "failed" as const, error }),
    ),
    list.then(
      (processes) => readErrors(host, processes, flagged, clock.now(), { ...o, timeoutMs: Math.max(1, budget - (clock.now() - started)) }),
      () => new Map<string, string[]>(),
    ),
  ]);
  return { tookMs: clock.now() - started, toolSeconds: seconds, report, pm2, ports, errors };
}

async function readErrors(host: DiagHost, processes: Pm2Process[], flagged: ReadonlySet<string>, now: number, o: ProbeOptions): Promise<Map<string, string[]>> {
  // PM2 stamps pm_uptime with the host's clock; Jaga's may differ, but not by a minute on a
  // healthy fleet (`/status` reads uptimes the same way).
  const troubled = groupApps(processes)
    .filter((a) => inTrouble(a, now, flagged))
    .slice(0, MAX_TROUBLED)
    .map((a) => a.name);
  const files: { app: string; path: string }[] = [];
  for (const app of troubled) {
    const paths = [...new Set(processes.filter((p) => p.name === app).map((p) => p.errLog))].filter((f): f is string => !!f && f !== "/dev/null");
    for (const path of paths.slice(0, 2)) files.push({ app, path });
  }
  const out = new Map<string, string[]>();
  if (files.length === 0) return out;
  const r = await runProbe(host.executor, tailProbe, files.map((f) => f.path), o);
  if (r.kind !== "ok") return out;
  files.forEach((f, i) => {
    const lines = r.value.get(i);
    if (lines) out.set(f.app, [...(out.get(f.app) ?? []), ...lines]);
  });
  return out;
}
