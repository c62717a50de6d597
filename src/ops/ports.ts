/**
 * Who listens where on a host, IPv4 and IPv6 alike (incident report 003: an app bound only to
 * `[::]:3002` was invisible to a check that read IPv4 alone), and who each holder is: the PM2
 * app when the pid or one of its parents is a PM2 process, else the process's full command
 * line from /proc/<pid>/cmdline (the kernel's `comm` stops at 15 characters).
 *
 * Two probes, because the second needs the first's pids as arguments: `ss -Hltnp` (or, where
 * ss is missing — a finding — /proc/net/tcp{,6} and the sockets in /proc/<pid>/fd), then each
 * holder's command line and parent chain.
 *
 * @example
 * const r = await readPorts(host, { host: host.name, clock, timeoutMs: 8_000 });
 * if (r.kind === "ok") r.value.ports[0]; // { port: 22, addresses: ["0.0.0.0", "[::]"], holders: [{ pid: 812, name: "/usr/sbin/sshd -D", app: null }] }
 */
import { systemClock } from "../clock.js";
import { isJagaError } from "../errors.js";
import { withDeadline } from "../hosts/deadline.js";
import type { Executor } from "../hosts/executor.js";
import type { Pm2, Pm2Process } from "./pm2.js";
import { defineProbe, has, runProbe, type Probe, type ProbeOptions, type ProbeResult } from "./probe.js";

/** One listening socket. */
export interface Listener {
  /** As people write it: `0.0.0.0`, `127.0.0.1`, `[::]`, `[::1]`, `*`. */
  address: string;
  port: number;
  family: 4 | 6;
  /** The processes holding it, as far as this login may see them (empty: not visible). */
  pids: number[];
  /** The kernel's short name per pid, when the source gave it (ss does). */
  comms: Record<number, string>;
}

export interface Listeners {
  listeners: Listener[];
  /** Where the list came from: `ss`, or /proc when ss is missing. */
  source: "ss" | "proc";
  /** Tools the host lacks (`ss`): findings to show, not failures. */
  missing: string[];
}

const SRC = "__jaga_src__";
const TCP = "__jaga_tcp__";
const FD = "__jaga_fd__";

/**
 * Every TCP listener on the host. Without ss: the LISTEN rows of /proc/net/tcp and tcp6, and
 * the socket inodes each process holds (`ls -l` of every /proc/<pid>/fd: one process, not one
 * readlink per descriptor).
 *
 * @example
 * const r = await runProbe(executor, listenersProbe, []);
 */
export const listenersProbe: Probe<Listeners> = defineProbe({
  name: "listeners",
  timeoutMs: 10_000,
  script: [
    `if ${has("ss")}; then echo "${SRC} ss"; ss -Hltnp 2>/dev/null || ss -ltnp;`,
    `else echo "${SRC} proc"; echo ${TCP}; cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; echo ${FD};`,
    `ls -l /proc/[0-9]*/fd 2>/dev/null | grep -e '^/proc/' -e 'socket:'; fi; exit 0`,
  ].join(" "),
  parse({ stdout, stderr, missing }) {
    const src = new RegExp(`^${SRC} (ss|proc)$`, "m").exec(stdout)?.[1];
    if (!src) throw new Error(`listeners probe printed nothing: ${stderr.trim().slice(0, 200)}`);
    const body = stdout.slice(stdout.indexOf("\n", stdout.indexOf(SRC)) + 1);
    if (src === "ss") return { listeners: parseSs(body), source: "ss", missing };
    const [tcp = "", fds = ""] = body.split(`${FD}\n`);
    return { listeners: parseProcNet(tcp.replace(`${TCP}\n`, ""), parseFdSockets(fds)), source: "proc", missing };
  },
});

/**
 * `ss -Hltnp` lines (a header line, from an ss too old for -H, is skipped).
 *
 * @example
 * parseSs('LISTEN 0 511 [::]:3002 [::]:* users:(("node",pid=2215,fd=21))\n');
 * // [{ address: "[::]", port: 3002, family: 6, pids: [2215], comms: { 2215: "node" } }]
 */
export function parseSs(text: string): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5 || fields[0] === "State") continue;
    const local = splitAddress(fields[3]!);
    if (!local) continue;
    const comms: Record<number, string> = {};
    const pids: number[] = [];
    for (const m of line.matchAll(/\("((?:[^"\\]|\\.)*)",pid=(\d+)/g)) {
      const pid = Number(m[2]);
      if (!pids.includes(pid)) pids.push(pid);
      comms[pid] = m[1]!;
    }
    out.push({ ...local, pids, comms });
  }
  return out;
}

/** `127.0.0.1:80`, `[::]:3002`, `*:22`, `:::22` (old ss), `127.0.0.53%lo:53`. */
function splitAddress(text: string): { address: string; port: number; family: 4 | 6 } | null {
  const at = text.lastIndexOf(":");
  if (at <= 0) return null;
  const port = Number(text.slice(at + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return null;
  let host = text.slice(0, at).replace(/%[^\]]*$/, "");
  if (host.startsWith("[")) host = host.slice(1, host.indexOf("]") > 0 ? host.indexOf("]") : undefined).replace(/%.*$/, "");
  const family = host.includes(":") ? 6 : 4;
  return { address: family === 6 ? `[${host}]` : host, port, family };
}

/**
 * Socket inode → pids, from `ls -l /proc/<pid>/fd` output (headers `/proc/123/fd:`).
 *
 * @example
 * parseFdSockets("/proc/7/fd:\nlrwx------ 1 u u 64 Jan 1 00:00 3 -> socket:[991]\n"); // Map { 991 => [7] }
 */
export function parseFdSockets(text: string): Map<number, number[]> {
  const byInode = new Map<number, number[]>();
  let pid = 0;
  for (const line of text.split("\n")) {
    const head = /^\/proc\/(\d+)\/fd:$/.exec(line.trim());
    if (head) {
      pid = Number(head[1]);
      continue;
    }
    const sock = /socket:\[(\d+)\]/.exec(line);
    if (!sock || !pid) continue;
    const inode = Number(sock[1]);
    const pids = byInode.get(inode) ?? [];
    if (!pids.includes(pid)) pids.push(pid);
    byInode.set(inode, pids);
  }
  return byInode;
}

/**
 * The LISTEN rows (state 0A) of /proc/net/tcp and /proc/net/tcp6, addresses decoded (the
 * kernel prints each 32-bit word in host byte order: little-endian on every box Jaga meets).
 *
 * @example
 * parseProcNet("0: 0100007F:0BB8 00000000:0000 0A 0:0 0:0 0 0 0 991 1\n", new Map([[991, [7]]]));
 * // [{ address: "127.0.0.1", port: 3000, family: 4, pids: [7], comms: {} }]
 */
export function parseProcNet(text: string, sockets: Map<number, number[]>): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== "0A") continue;
    const [hex = "", portHex = ""] = f[1]!.split(":");
    const port = parseInt(portHex, 16);
    const inode = Number(f[9]);
    if (!Number.isInteger(port) || port <= 0) continue;
    const words = (hex.match(/.{8}/g) ?? []).map((w) => (w.match(/../g) ?? []).reverse().join(""));
    let address: string;
    let family: 4 | 6;
    if (words.length === 1) {
      family = 4;
      address = (words[0]!.match(/../g) ?? []).map((b) => parseInt(b, 16)).join(".");
    } else if (words.length === 4) {
      family = 6;
      const groups = words.join("").match(/.{4}/g)!.map((g) => parseInt(g, 16).toString(16));
      address = `[${compressV6(groups)}]`;
    } else continue;
    out.push({ address, port, family, pids: sockets.get(inode) ?? [], comms: {} });
  }
  return out;
}

/** The longest run of zero groups as `::`. */
function compressV6(groups: string[]): string {
  let best = { at: -1, len: 0 };
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === "0") j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j;
  }
  if (best.len < 2) return groups.join(":");
  return `${groups.slice(0, best.at).join(":")}::${groups.slice(best.at + best.len).join(":")}`;
}

/** One process, as /proc tells it. */
export interface ProcInfo {
  pid: number;
  /** The full command line, arguments joined by spaces; empty for a kernel thread. */
  cmdline: string;
  /** The kernel's short name (15 characters at most). */
  comm: string;
}

export interface Processes {
  procs: Map<number, ProcInfo>;
  /** pid → parent pid, for the holders and their ancestors. */
  parents: Map<number, number>;
}

/**
 * Each pid's command line and name, then its parent chain up to init (bounded, each pid once).
 * Pids are positional parameters; only numbers are ever passed (see {@link readPorts}).
 *
 * @example
 * const r = await runProbe(executor, processesProbe, ["2215"]);
 */
export const processesProbe: Probe<Processes> = defineProbe({
  name: "processes",
  timeoutMs: 10_000,
  script: [
    `for p in "$@"; do [ -r "/proc/$p/status" ] || continue;`,
    `printf 'P %s ' "$p"; tr '\\0\\n' '  ' < "/proc/$p/cmdline" 2>/dev/null; echo;`,
    `printf 'C %s ' "$p"; cat "/proc/$p/comm" 2>/dev/null || echo; done;`,
    `seen=' '; for p in "$@"; do n=0;`,
    `while [ "$p" -gt 1 ] 2>/dev/null && [ $n -lt 32 ]; do`,
    `case "$seen" in *" $p "*) break ;; esac; seen="$seen$p "; [ -r "/proc/$p/status" ] || break;`,
    `pp=0; while read -r k v; do [ "$k" = PPid: ] && pp=$v; done < "/proc/$p/status";`,
    `echo "A $p $pp"; p=$pp; n=$((n+1)); done; done; exit 0`,
  ].join(" "),
  parse({ stdout }) {
    const procs = new Map<number, ProcInfo>();
    const parents = new Map<number, number>();
    for (const line of stdout.split("\n")) {
      const m = /^([PCA]) (\d+) ?(.*)$/.exec(line);
      if (!m) continue;
      const pid = Number(m[2]);
      const rest = m[3]!.trim();
      if (m[1] === "A") {
        parents.set(pid, Number(rest) || 0);
        continue;
      }
      const p = procs.get(pid) ?? { pid, cmdline: "", comm: "" };
      if (m[1] === "P") p.cmdline = rest;
      else p.comm = rest;
      procs.set(pid, p);
    }
    return { procs, parents };
  },
});

/** Who holds a port. */
export interface PortHolder {
  pid: number;
  /** Full command line, else the kernel's name, else `?`. */
  name: string;
  /** The kernel's short name (for "is this sshd"). */
  comm: string;
  /** The PM2 app when the pid or a parent of it is a PM2 process. */
  app: string | null;
  /** The pid and its parents, nearest first. */
  chain: number[];
}

/** One port and everything listening on it. */
export interface PortEntry {
  port: number;
  /** Bound addresses, IPv4 first. */
  addresses: string[];
  holders: PortHolder[];
}

export interface PortsReport {
  ports: PortEntry[];
  source: "ss" | "proc";
  missing: string[];
  /** Whether PM2 answered: `none` when no PM2 runs there (no app can hold a port then). */
  pm2: "ok" | "none" | "failed";
}

export interface PortsHost {
  name: string;
  executor: Executor;
  pm2: Pick<Pm2, "list">;
}

/**
 * Listeners, their holders' command lines and parents, and the host's PM2 list, within one
 * deadline (`options.timeoutMs` for the whole read). A silent host is `timed_out`; a failed
 * process read or PM2 list only costs the names.
 *
 * @example
 * const r = await readPorts(host, { host: host.name, ...hostCall(ctx), clock: ctx.clock });
 */
export async function readPorts(host: PortsHost, options: ProbeOptions = {}): Promise<ProbeResult<PortsReport>> {
  const clock = options.clock ?? systemClock;
  const started = clock.now();
  const first = await runProbe(host.executor, listenersProbe, [], { ...options, host: host.name });
  if (first.kind !== "ok") return first;
  const { listeners, source, missing } = first.value;
  const left = Math.max(1, (options.timeoutMs ?? listenersProbe.timeoutMs) - (clock.now() - started));
  const rest = { ...options, host: host.name, clock, timeoutMs: left };
  const pids = [...new Set(listeners.flatMap((l) => l.pids))].filter((p) => Number.isInteger(p) && p > 0);
  const [procs, pm2] = await Promise.all([
    pids.length ? runProbe(host.executor, processesProbe, pids.map(String), rest) : Promise.resolve(null),
    withDeadline(host.name, rest, clock, (o) => host.pm2.list(o)).then(
      (list): { state: "ok"; list: Pm2Process[] } => ({ state: "ok", list }),
      (err: unknown) => ({ state: isJagaError(err) && err.code === "pm2.not_running" ? ("none" as const) : ("failed" as const), list: [] }),
    ),
  ]);
  const info: Processes = procs?.kind === "ok" ? procs.value : { procs: new Map(), parents: new Map() };
  return { kind: "ok", value: { ports: groupPorts(listeners, info, pm2.list), source, missing, pm2: pm2.state } };
}

/**
 * Listeners folded by port, each holder named (PM2 app, full command line, kernel name).
 *
 * @example
 * groupPorts(listeners, { procs, parents }, pm2List)[0]; // { port: 22, addresses: ["0.0.0.0", "[::]"], holders: [...] }
 */
export function groupPorts(listeners: Listener[], info: Processes, pm2List: Pm2Process[]): PortEntry[] {
  const apps = new Map<number, string>();
  for (const p of pm2List) if (p.pid) apps.set(p.pid, p.name);
  const byPort = new Map<number, PortEntry>();
  for (const l of [...listeners].sort((a, b) => a.port - b.port || a.family - b.family)) {
    const entry = byPort.get(l.port) ?? { port: l.port, addresses: [], holders: [] };
    if (!entry.addresses.includes(l.address)) entry.addresses.push(l.address);
    for (const pid of l.pids) {
      if (entry.holders.some((h) => h.pid === pid)) continue;
      const chain = chainOf(pid, info.parents);
      const proc = info.procs.get(pid);
      const comm = proc?.comm || l.comms[pid] || "";
      entry.holders.push({
        pid,
        name: proc?.cmdline || comm || "?",
        comm,
        app: chain.map((p) => apps.get(p)).find((a) => a !== undefined) ?? null,
        chain,
      });
    }
    byPort.set(l.port, entry);
  }
  return [...byPort.values()];
}

function chainOf(pid: number, parents: Map<number, number>): number[] {
  const chain = [pid];
  for (let p = parents.get(pid); p && p > 1 && !chain.includes(p) && chain.length < 32; p = parents.get(p)) chain.push(p);
  return chain;
}
