/**
 * Freeing a port: who may be stopped, and stopping them. What `/free` refuses to touch — a
 * PM2 app (PM2 would only start it again: `/restart` is the tool), Jaga itself, sshd (the way
 * in), init — is decided here, from the probe's view of the holder, never from chat text.
 * Stopping is SIGTERM, a grace on the injected clock, SIGKILL for what is still there; the pid
 * is an argv element (`kill -s TERM -- <pid>`), through `sudo -n` on hosts with `sudo: true`.
 *
 * @example
 * const v = freeVerdict(entry, { local: true, selfPid: process.pid, sshPort: undefined });
 * if (v.kind === "stop") await stopHolders(host, v.holders.map((h) => h.pid), { clock, exec: () => hostCall(ctx) });
 */
import { basename } from "node:path";
import type { Clock } from "../clock.js";
import type { ExecOptions } from "../hosts/executor.js";
import { runPrivileged, type PrivilegedHost } from "../hosts/sudo.js";
import type { PortEntry, PortHolder } from "./ports.js";
import { defineProbe, runProbe, unwrap, type Probe } from "./probe.js";

/** What `/free` may do about a port. */
export type FreeVerdict =
  | { kind: "nobody" }
  /** Something listens, but this login cannot see which process. */
  | { kind: "hidden" }
  | { kind: "pm2"; app: string; holder: PortHolder }
  | { kind: "self"; holder: PortHolder | null }
  | { kind: "sshd"; holder: PortHolder | null }
  | { kind: "init"; holder: PortHolder }
  | { kind: "stop"; holders: PortHolder[] };

export interface FreeGuard {
  /** True when the host is the machine Jaga runs on. */
  local: boolean;
  /** Jaga's own pid (`process.pid`). */
  selfPid: number;
  /** The port Jaga's SSH connection to the host uses, if any. */
  sshPort?: number;
}

/**
 * sshd and its per-connection children (`sshd: deploy@pts/0`): the way into the host.
 *
 * @example
 * isSshd({ comm: "sshd", name: "/usr/sbin/sshd -D" }); // true
 * isSshd({ comm: "node", name: "node server.js" });    // false
 */
export function isSshd(h: Pick<PortHolder, "comm" | "name">): boolean {
  const first = h.name.split(" ")[0] ?? "";
  return h.comm === "sshd" || basename(first) === "sshd" || h.name.startsWith("sshd:");
}

/**
 * Whether `/free` may stop what holds `entry`'s port, and if not, why.
 *
 * @example
 * freeVerdict(undefined, guard);                        // { kind: "nobody" }
 * freeVerdict({ port: 22, addresses: [], holders: [] }, { ...guard, sshPort: 22 }); // { kind: "sshd", holder: null }
 */
export function freeVerdict(entry: PortEntry | undefined, guard: FreeGuard): FreeVerdict {
  if (!entry) return { kind: "nobody" };
  const { holders } = entry;
  const self = guard.local ? holders.find((h) => h.pid === guard.selfPid) : undefined;
  if (self) return { kind: "self", holder: self };
  const sshd = holders.find(isSshd);
  if (sshd || entry.port === guard.sshPort) return { kind: "sshd", holder: sshd ?? null };
  if (holders.length === 0) return { kind: "hidden" };
  const init = holders.find((h) => h.pid <= 1);
  if (init) return { kind: "init", holder: init };
  const app = holders.find((h) => h.app !== null);
  if (app) return { kind: "pm2", app: app.app!, holder: app };
  return { kind: "stop", holders };
}

/**
 * The pids among the arguments that are still alive (a zombie holds nothing and counts as gone).
 *
 * @example
 * await runProbe(executor, aliveProbe, ["2215", "2216"]); // { kind: "ok", value: [2216] }
 */
export const aliveProbe: Probe<number[]> = defineProbe({
  name: "alive",
  timeoutMs: 5_000,
  script: `for p in "$@"; do s=; if [ -r "/proc/$p/status" ]; then while read -r k v _; do [ "$k" = State: ] && s=$v; done < "/proc/$p/status"; fi; if [ -n "$s" ] && [ "$s" != Z ]; then echo "$p"; fi; done; exit 0`,
  parse: ({ stdout }) => stdout.split("\n").map(Number).filter((n) => Number.isInteger(n) && n > 0),
});

export interface StopOptions {
  clock: Clock;
  /** Options for each host call, made fresh each time (each gets its own deadline). */
  exec: () => ExecOptions;
  /** How long SIGTERM gets before SIGKILL. Default 3 s. */
  graceMs?: number;
  /** How often to look whether they are gone. Default 250 ms. */
  pollMs?: number;
}

export interface StopResult {
  /** Gone after SIGTERM. */
  termed: number[];
  /** Still there after the grace, sent SIGKILL, and gone. */
  killed: number[];
  /** Still there after SIGKILL (or not ours to signal). */
  left: number[];
  /** kill's own complaint when it refused (`Operation not permitted`). */
  refused: string | null;
}

/**
 * SIGTERM to each pid, up to `graceMs` for them to go, SIGKILL to what is left, and a last
 * look. Pids must come from a probe; they are argv elements, never shell text.
 *
 * @example
 * await stopHolders(host, [2215], { clock, exec: () => hostCall(ctx) }); // { termed: [2215], killed: [], left: [], refused: null }
 */
export async function stopHolders(host: PrivilegedHost, pids: number[], o: StopOptions): Promise<StopResult> {
  for (const pid of pids) if (!Number.isInteger(pid) || pid <= 1) throw new TypeError(`not a pid to signal: ${pid}`);
  const grace = o.graceMs ?? 3_000;
  const poll = o.pollMs ?? 250;
  let refused: string | null = null;
  const signal = async (sig: "TERM" | "KILL", targets: number[]) => {
    for (const pid of targets) {
      const r = await runPrivileged(host, ["kill", "-s", sig, "--", String(pid)], o.exec());
      // "No such process": it went by itself meanwhile, which is what we wanted.
      if (r.code !== 0 && !/no such process/i.test(r.stderr)) refused ??= r.stderr.trim().slice(0, 200) || `exit ${r.code}`;
    }
  };
  const alive = async () => unwrap(await runProbe(host.executor, aliveProbe, pids.map(String), { ...o.exec(), host: host.name, clock: o.clock }));
  const waitGone = async (ms: number) => {
    let left = await alive();
    for (let waited = 0; left.length > 0 && waited < ms; waited += poll) {
      await o.clock.sleep(poll, o.exec().signal);
      left = await alive();
    }
    return left;
  };

  await signal("TERM", pids);
  const afterTerm = await waitGone(grace);
  if (afterTerm.length === 0) return { termed: pids, killed: [], left: [], refused };
  await signal("KILL", afterTerm);
  const left = await waitGone(1_000);
  return {
    termed: pids.filter((p) => !afterTerm.includes(p)),
    killed: afterTerm.filter((p) => !left.includes(p)),
    left,
    refused,
  };
}
