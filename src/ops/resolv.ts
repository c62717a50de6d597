/**
 * Who manages a host's resolv.conf, read by one probe: whether the path is a symlink and to
 * what, the file's own header comments, which resolver tools and network daemons are there,
 * systemd-resolved's per-link servers (`resolvectl dns`) and the default route's link, Jaga's
 * own resolved drop-in, and the snapshots earlier `/dns fix` calls left next to the file.
 *
 * The mode is read the way systemd itself tells its modes apart (resolved.conf(5),
 * systemd-resolved(8) "/etc/resolv.conf"): a link to `…/run/systemd/resolve/stub-resolv.conf`
 * is the stub (apps ask 127.0.0.53), to `…/run/systemd/resolve/resolv.conf` the uplink file
 * (apps ask the link's servers directly, resolved writes them), to `…/lib/systemd/resolv.conf`
 * the static stub file; anything else while resolved runs — or a link into resolved's run
 * directory to some other file — is "foreign": resolved is there, but the file is not its own.
 * Without resolved, a link elsewhere belongs to whoever it points into (NetworkManager,
 * resolvconf, netconfig), and a regular file is a plain file, perhaps written by a DHCP client or
 * NetworkManager — their header comments, or their running processes, say so.
 *
 * @example
 * const r = await runProbe(host.executor, setupProbe, [host.config.paths.resolvConf, host.config.paths.resolvedDropIn]);
 * if (r.kind === "ok") r.value.resolved; // "stub" | "uplink" | "static" | "foreign" | null
 */
import { isIP } from "node:net";
import { defineProbe, type Probe } from "./probe.js";

/** How systemd-resolved relates to the file, in systemd's own words; null when it plays no part. */
export type ResolvedMode = "stub" | "uplink" | "static" | "foreign";

/** Who else writes the file (and will write it again): named in `/dns check` and in a fix's plan. */
export type Writer = "networkmanager" | "resolvconf" | "netconfig" | "connman" | "dhclient" | "dhcpcd" | "udhcpc" | "docker" | "wsl" | "resolved";

export interface ResolvedLink {
  /** The interface index resolved reports, e.g. 2. */
  index: number;
  /** The interface name, e.g. `eth0`. */
  name: string;
  servers: string[];
}

export interface ResolvSetup {
  /** The configured path (`hosts[].paths.resolvConf`). */
  path: string;
  /** What the path is: a symlink (never overwritten), a regular file, something else, or nothing. */
  shape: "link" | "file" | "other" | "missing";
  /** The symlink's own target as readlink prints it (relative or absolute), when a link. */
  link: string | null;
  resolved: ResolvedMode | null;
  writer: Writer | null;
  /** How the writer was recognised: its header comment, the link's target, or a process of it running. */
  writerFrom: "header" | "link" | "process" | null;
  /** The text apps read (through the link, when one); null when it cannot be read. */
  content: string | null;
  /** `nameserver` lines, in order. */
  nameservers: string[];
  tools: { resolvectl: boolean; nmcli: boolean; resolvconf: boolean };
  /** Network daemons found running (by their process name). */
  running: string[];
  /** systemd-resolved's view, when resolvectl is there. */
  links: ResolvedLink[];
  global: string[];
  /** What resolvectl said when it could not give the servers (resolved not running, D-Bus down); null when it answered or is absent. */
  resolvectlError: string | null;
  /** The default route's interface (`ip route`), to pick the uplink; null when unknown. */
  defaultLink: string | null;
  /** Jaga's drop-in (`<resolvedDropIn>/jaga-dns.conf`) and its text, null when absent. */
  dropIn: { path: string; content: string | null };
  /** Snapshots of earlier fixes next to the file, oldest first (`<path>.jaga-<stamp>[.resolved]`). */
  snapshots: string[];
}

/** Jaga's own file in resolved's drop-in directory. */
export const DROP_IN_NAME = "jaga-dns.conf";

/** `<path>.jaga-20250101T060000Z` (a byte copy) or `…Z.resolved` (resolved's settings, as text). */
export const SNAPSHOT_RE = /\.jaga-(\d{8}T\d{6}Z)(\.resolved)?$/;

const MARK = "__jaga_setup__";
const DAEMONS = ["NetworkManager", "dhclient", "dhcpcd", "udhcpc", "systemd-resolve", "systemd-network", "connmand", "netconfig"];

/**
 * `$1` the resolv.conf path, `$2` resolved's drop-in directory. Every part is read-only; a part
 * whose tool is missing prints nothing for itself. resolvectl asks D-Bus, which can hang on a
 * sick box: it gets 5 s of its own where `timeout` exists, and the probe's deadline regardless.
 *
 * @example
 * await runProbe(executor, setupProbe, ["/etc/resolv.conf", "/etc/systemd/resolved.conf.d"]);
 */
export const setupProbe: Probe<ResolvSetup> = defineProbe({
  name: "resolv-setup",
  timeoutMs: 10_000,
  maxOutputBytes: 256 * 1024,
  script: [
    `p=$1`,
    `if [ -L "$p" ]; then printf 'link %s\\n' "$(readlink -- "$p")"; fi`,
    `if [ -f "$p" ]; then echo shape file; elif [ -e "$p" ]; then echo shape other; else echo shape missing; fi`,
    `for t in resolvectl nmcli resolvconf; do command -v "$t" >/dev/null 2>&1 && echo "tool $t"; done`,
    `for f in /proc/[0-9]*/comm; do c=; { read -r c < "$f"; } 2>/dev/null; case "$c" in ${DAEMONS.join("|")}) echo "proc $c";; esac; done`,
    `echo ${MARK}resolvectl`,
    `if command -v resolvectl >/dev/null 2>&1; then if command -v timeout >/dev/null 2>&1; then timeout 5 resolvectl --no-pager dns 2>&1; else resolvectl --no-pager dns 2>&1; fi | head -n 40; fi`,
    `echo ${MARK}route`,
    `ip -o route show default 2>/dev/null | head -n 3`,
    `echo ${MARK}snapshots`,
    `for b in "$p".jaga-*; do [ -e "$b" ] && printf '%s\\n' "$b"; done`,
    `echo ${MARK}dropin`,
    `cat -- "$2/${DROP_IN_NAME}" 2>/dev/null || echo ${MARK}absent`,
    `echo ${MARK}content`,
    `cat -- "$p" 2>/dev/null || echo ${MARK}unreadable`,
    `exit 0`,
  ].join("\n"),
  parse({ stdout }) {
    const at = (name: string) => stdout.indexOf(`${MARK}${name}\n`);
    const order = ["resolvectl", "route", "snapshots", "dropin", "content"];
    if (order.some((n) => at(n) < 0)) throw new Error(`resolv setup probe printed no sections: ${stdout.slice(0, 100)}`);
    const section = (name: string) => {
      const start = at(name) + MARK.length + name.length + 1;
      const next = order[order.indexOf(name) + 1];
      return stdout.slice(start, next ? at(next) : undefined);
    };
    const head = stdout.slice(0, at("resolvectl"));
    const dropRaw = section("dropin");
    const contentRaw = section("content");
    // The path and drop-in directory are not in the output; the caller's args are (see readSetup).
    return readSetup({
      head,
      resolvectl: section("resolvectl"),
      route: section("route"),
      snapshots: section("snapshots"),
      dropIn: dropRaw === `${MARK}absent\n` ? null : dropRaw,
      content: contentRaw === `${MARK}unreadable\n` ? null : contentRaw,
    });
  },
});

/** What the probe printed, in parts, for {@link readSetup}. */
export interface SetupText {
  /** `link …`, `shape …`, `tool …`, `proc …` lines. */
  head: string;
  resolvectl: string;
  route: string;
  snapshots: string;
  dropIn: string | null;
  content: string | null;
}

/**
 * The setup from what the probe printed. `path` and `dropInDir` are filled in by
 * {@link describeSetup}, which knows the arguments; here they stay empty.
 *
 * @example
 * readSetup({ head: "link ../run/systemd/resolve/stub-resolv.conf\nshape file\n", resolvectl: "", route: "", snapshots: "", dropIn: null, content: "nameserver 127.0.0.53\n" }).resolved; // "stub"
 */
export function readSetup(t: SetupText): ResolvSetup {
  const head = t.head.split("\n");
  const link = head.find((l) => l.startsWith("link "))?.slice(5) ?? null;
  const shapeLine = head.find((l) => l.startsWith("shape "))?.slice(6);
  const shape: ResolvSetup["shape"] = link !== null ? "link" : shapeLine === "file" ? "file" : shapeLine === "other" ? "other" : "missing";
  const tool = (name: string) => head.includes(`tool ${name}`);
  const running = [...new Set(head.filter((l) => l.startsWith("proc ")).map((l) => l.slice(5)))];
  const { links, global, error } = parseResolvectlDns(t.resolvectl);
  const resolvedRuns = running.includes("systemd-resolve") || links.length > 0;
  const resolved = resolvedModeOf(link, resolvedRuns);
  const fromLink = link === null ? null : writerOfLink(link);
  const fromHeader = t.content === null ? null : writerOfHeader(t.content);
  const fromProcess = writerOfProcesses(running);
  const [writer, writerFrom] =
    fromLink && fromLink !== "resolved" ? [fromLink, "link" as const]
    : fromHeader && fromHeader !== "resolved" ? [fromHeader, "header" as const]
    : resolved === null && fromProcess ? [fromProcess, "process" as const]
    : [null, null];
  return {
    path: "",
    shape,
    link,
    resolved,
    writer,
    writerFrom,
    content: t.content,
    nameservers: t.content === null ? [] : nameserversOf(t.content),
    tools: { resolvectl: tool("resolvectl"), nmcli: tool("nmcli"), resolvconf: tool("resolvconf") },
    running,
    links,
    global,
    resolvectlError: tool("resolvectl") ? error : null,
    defaultLink: /\bdev\s+(\S+)/.exec(t.route)?.[1] ?? null,
    dropIn: { path: "", content: t.dropIn },
    snapshots: t.snapshots
      .split("\n")
      .filter((l) => SNAPSHOT_RE.test(l))
      .sort((a, b) => SNAPSHOT_RE.exec(a)![1]!.localeCompare(SNAPSHOT_RE.exec(b)![1]!) || a.localeCompare(b)),
  };
}

/**
 * The setup probe's result with the paths it was run for filled in.
 *
 * @example
 * const setup = describeSetup(r.value, host.config.paths);
 */
export function describeSetup(s: ResolvSetup, paths: { resolvConf: string; resolvedDropIn: string }): ResolvSetup {
  return { ...s, path: paths.resolvConf, dropIn: { ...s.dropIn, path: `${paths.resolvedDropIn.replace(/\/+$/, "")}/${DROP_IN_NAME}` } };
}

/**
 * systemd-resolved's mode from the link's target (see the module comment).
 *
 * @example
 * resolvedModeOf("../run/systemd/resolve/stub-resolv.conf", true); // "stub"
 * resolvedModeOf("/run/NetworkManager/resolv.conf", false);        // null
 */
export function resolvedModeOf(link: string | null, resolvedRuns: boolean): ResolvedMode | null {
  if (link !== null) {
    if (link.endsWith("/run/systemd/resolve/stub-resolv.conf") || link === "run/systemd/resolve/stub-resolv.conf") return "stub";
    if (link.endsWith("/run/systemd/resolve/resolv.conf") || link === "run/systemd/resolve/resolv.conf") return "uplink";
    if (link.endsWith("/lib/systemd/resolv.conf")) return "static";
    if (link.includes("/run/systemd/resolve/")) return "foreign";
  }
  return resolvedRuns ? "foreign" : null;
}

/**
 * Who owns a link's target directory.
 *
 * @example
 * writerOfLink("/run/resolvconf/resolv.conf"); // "resolvconf"
 */
export function writerOfLink(link: string): Writer | null {
  if (link.includes("/run/systemd/resolve/") || link.endsWith("/lib/systemd/resolv.conf")) return "resolved";
  if (/NetworkManager/.test(link)) return "networkmanager";
  if (/resolvconf/.test(link)) return "resolvconf";
  if (/netconfig/.test(link)) return "netconfig";
  if (/connman/.test(link)) return "connman";
  return null;
}

/**
 * Who wrote the file, from its comment lines (those tools all sign what they write).
 *
 * @example
 * writerOfHeader("# Generated by NetworkManager\nnameserver 192.168.1.1\n"); // "networkmanager"
 */
export function writerOfHeader(content: string): Writer | null {
  const comments = content
    .split("\n")
    .slice(0, 20)
    .filter((l) => /^\s*[#;]/.test(l))
    .join("\n");
  if (!comments) return null;
  const signs: [RegExp, Writer][] = [
    [/NetworkManager/i, "networkmanager"],
    [/systemd-resolved/i, "resolved"],
    [/resolvconf/i, "resolvconf"],
    [/netconfig/i, "netconfig"],
    [/connman/i, "connman"],
    [/dhclient/i, "dhclient"],
    [/dhcpcd/i, "dhcpcd"],
    [/udhcpc/i, "udhcpc"],
    [/Docker/i, "docker"],
    [/\bWSL\b/, "wsl"],
  ];
  return signs.find(([re]) => re.test(comments))?.[1] ?? null;
}

/** A daemon that rewrites resolv.conf when it runs (DHCP clients on a lease, NetworkManager on a change). */
function writerOfProcesses(running: string[]): Writer | null {
  const map: [string, Writer][] = [
    ["NetworkManager", "networkmanager"],
    ["connmand", "connman"],
    ["dhclient", "dhclient"],
    ["dhcpcd", "dhcpcd"],
    ["udhcpc", "udhcpc"],
  ];
  return map.find(([p]) => running.includes(p))?.[1] ?? null;
}

/**
 * The `nameserver` addresses of a resolv.conf, in order.
 *
 * @example
 * nameserversOf("# x\nnameserver 127.0.0.53\nsearch lan\n"); // ["127.0.0.53"]
 */
export function nameserversOf(content: string): string[] {
  return content
    .split("\n")
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((s): s is string => s !== undefined);
}

/**
 * `resolvectl dns` as systemd prints it: `Global: …` and `Link 2 (eth0): 192.168.1.1 …`. A
 * server may carry `:port`, `%ifname` or `#tls-name` (systemd ≥ 246); they are kept as written.
 * Text that is neither (resolved not running, D-Bus refusing) is the error.
 *
 * @example
 * parseResolvectlDns("Global:\nLink 2 (eth0): 192.168.1.1\n"); // { links: [{ index: 2, name: "eth0", servers: ["192.168.1.1"] }], global: [], error: null }
 */
export function parseResolvectlDns(text: string): { links: ResolvedLink[]; global: string[]; error: string | null } {
  const links: ResolvedLink[] = [];
  let global: string[] = [];
  const other: string[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const g = /^Global:\s*(.*)$/.exec(line);
    const l = /^Link (\d+) \(([^)]+)\):\s*(.*)$/.exec(line);
    if (g) global = g[1]!.split(/\s+/).filter(Boolean);
    else if (l) links.push({ index: Number(l[1]), name: l[2]!, servers: l[3]!.split(/\s+/).filter(Boolean) });
    else other.push(line.trim());
  }
  const answered = links.length > 0 || /^Global:/m.test(text);
  return { links, global, error: answered || other.length === 0 ? null : other.join(" ").slice(0, 200) };
}

/**
 * The link whose servers a fix changes: the default route's, when resolved has servers for it;
 * else the only link that has servers; else none (then only a drop-in can change anything).
 *
 * @example
 * uplinkOf(setup)?.name; // "eth0"
 */
export function uplinkOf(s: Pick<ResolvSetup, "links" | "defaultLink">): ResolvedLink | null {
  const byRoute = s.links.find((l) => l.name === s.defaultLink);
  if (byRoute) return byRoute;
  const withServers = s.links.filter((l) => l.servers.length > 0);
  return withServers.length === 1 ? withServers[0]! : null;
}

/**
 * The servers apps reach now: resolv.conf's nameservers, then the uplink's (resolved writes
 * those into the uplink file, and forwards the stub's queries to them). Plain addresses only:
 * a `#name` or `%if` suffix is dropped, a port too (they cannot be asked on another port here).
 *
 * @example
 * currentServers(setup); // ["127.0.0.53", "192.168.1.1"]
 */
export function currentServers(s: Pick<ResolvSetup, "nameservers" | "links" | "defaultLink" | "resolved">): string[] {
  const uplink = s.resolved && s.resolved !== "foreign" ? (uplinkOf(s)?.servers ?? []) : [];
  const plain = [...s.nameservers, ...uplink].map((x) => x.replace(/#.*$/, "").replace(/%.*$/, "")).filter((x) => isIP(x) !== 0);
  return [...new Set(plain)];
}
