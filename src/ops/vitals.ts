/**
 * Host vitals read from /proc and df, the same on a VPS, a set-top box (BusyBox) or over SSH.
 *
 * @example
 * const v = await readVitals(executor, ["/", "/root/.pm2"]);
 * v.disks[0].usedPercent; // 76
 */
import type { Executor } from "../hosts/executor.js";
import { defineProbe, runProbe, unwrap, type Probe, type ProbeOptions } from "./probe.js";

const SECTION = "__jaga_section__";

export interface Disk {
  mount: string;
  usedPercent: number;
  sizeBytes: number;
  usedBytes: number;
}

export interface Vitals {
  load: [number, number, number];
  cores: number;
  memTotalBytes: number;
  memAvailableBytes: number;
  /** Cumulative CPU jiffies from /proc/stat; two samples give the busy percentage. */
  cpu: { total: number; idle: number } | null;
  disks: Disk[];
}

/**
 * The disks that matter on a host: the root filesystem, the one holding PM2's logs (report 001:
 * a disk at 76 % from PM2 logs) and, on a local host, the one holding Jaga's own data (`dataDir`,
 * when it is a real directory): a full data disk silences Jaga itself.
 *
 * @example
 * vitalsPaths({ pm2Home: "/root/.pm2" }); // ["/", "/root/.pm2"]
 * vitalsPaths({ local: true, pm2Home: "/root/.pm2" }, "/srv/jaga/data"); // ["/", "/root/.pm2", "/srv/jaga/data"]
 */
export function vitalsPaths(host: { local?: boolean; pm2Home?: string }, dataDir?: string): string[] {
  const own = host.local && dataDir?.startsWith("/") ? [dataDir] : [];
  return ["/", ...(host.pm2Home ? [host.pm2Home] : []), ...own];
}

/**
 * Load, memory and the disks that hold the paths given as arguments (deduplicated by mount), in
 * one round trip (over SSH each exec costs a login shell): a constant script, the paths as
 * positional parameters. Output that is not /proc's is a failed read, not zeros.
 *
 * @example
 * const r = await runProbe(executor, vitalsProbe, ["/", "/root/.pm2"], { host: "stb", timeoutMs: 8_000 });
 */
export const vitalsProbe: Probe<Vitals> = defineProbe({
  name: "vitals",
  script: `cat /proc/loadavg /proc/meminfo /proc/stat; echo ${SECTION}; nproc; echo ${SECTION}; df -P -k "$@"`,
  timeoutMs: 15_000,
  parse({ stdout, stderr, code }) {
    const [proc = "", cores = "", df = ""] = stdout.split(`${SECTION}\n`);
    if (!/^\d/.test(proc)) throw new Error(`cannot read /proc: ${stderr.trim() || `exit ${code}`}`);
    return { ...parseProc(proc), cores: Number(cores.trim()) || 1, disks: parseDf(df) };
  },
});

/**
 * {@link vitalsProbe} for callers that handle errors: a timeout throws `host.no_answer`, a
 * failed read its error.
 *
 * @example
 * const v = await readVitals(executor, ["/", "/root/.pm2"], { timeoutMs: 8_000 });
 */
export async function readVitals(executor: Executor, paths: string[], options: ProbeOptions = {}): Promise<Vitals> {
  return unwrap(await runProbe(executor, vitalsProbe, paths, options));
}

export function parseProc(text: string): Pick<Vitals, "load" | "memTotalBytes" | "memAvailableBytes" | "cpu"> {
  const [first = "", ...rest] = text.split("\n");
  const loads = first.trim().split(/\s+/).slice(0, 3).map(Number);
  const mem = new Map<string, number>();
  let cpu: Vitals["cpu"] = null;
  for (const line of rest) {
    if (line.startsWith("cpu ")) {
      // user nice system idle iowait irq softirq steal (guest is already inside user)
      const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
      if (f.length >= 4 && f.every(Number.isFinite)) cpu = { total: f.reduce((a, b) => a + b, 0), idle: f[3]! + (f[4] ?? 0) };
      continue;
    }
    const m = /^(\w+):\s+(\d+)\s*kB/.exec(line);
    if (m) mem.set(m[1]!, Number(m[2]) * 1024);
  }
  const total = mem.get("MemTotal") ?? 0;
  // MemAvailable appeared in Linux 3.14; older kernels get the classic estimate.
  const available =
    mem.get("MemAvailable") ?? (mem.get("MemFree") ?? 0) + (mem.get("Buffers") ?? 0) + (mem.get("Cached") ?? 0);
  return {
    load: [loads[0] ?? NaN, loads[1] ?? NaN, loads[2] ?? NaN],
    memTotalBytes: total,
    memAvailableBytes: available,
    cpu,
  };
}

export function parseDf(text: string): Disk[] {
  const disks = new Map<string, Disk>();
  for (const line of text.split("\n").slice(1)) {
    const m = /^(.*?)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%\s+(\/.*)$/.exec(line.trim());
    if (!m) continue;
    const mount = m[6]!;
    disks.set(mount, {
      mount,
      sizeBytes: Number(m[2]) * 1024,
      usedBytes: Number(m[3]) * 1024,
      usedPercent: Number(m[5]),
    });
  }
  return [...disks.values()];
}
