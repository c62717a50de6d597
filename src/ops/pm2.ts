/**
 * PM2 on one host, driven through its CLI over the host's executor.
 *
 * Why the CLI and not PM2's programmatic API: the API needs PM2's socket on the same machine;
 * the CLI works the same locally and over SSH, so one code path serves every host.
 *
 * Two traps handled here:
 * - Running pm2 with the wrong PM2_HOME silently starts a new, empty daemon. We look for the
 *   daemon's socket first and say "PM2 is not running" instead of answering "no apps".
 * - `pm2 jlist` carries each app's whole environment (`pm2_env`, secrets included). The zod
 *   schema below keeps only the fields Jaga shows; the rest is dropped at the parse.
 *
 * @example
 * const pm2 = new Pm2({ host: "local", executor, bin: "pm2", home: "/root/.pm2" });
 * const apps = await pm2.list();
 */
import { z } from "zod";
import { isJagaError, JagaError } from "../errors.js";
import { noAnswer } from "../hosts/deadline.js";
import { Pm2DaemonAbsent, pm2Rpc } from "./pm2-rpc.js";
import type { ExecOptions, ExecResult, Executor } from "../hosts/executor.js";

export interface Pm2Target {
  host: string;
  executor: Executor;
  bin: string;
  /** PM2_HOME; when unset pm2 uses its own default on that host. */
  home?: string;
  /** Per pm2 call; the pipeline's own timeout usually ends things first. */
  timeoutMs?: number;
}

/** One PM2 process (one instance of a cluster app). */
export interface Pm2Process {
  name: string;
  pmId: number;
  pid: number | null;
  status: string;
  /** Epoch ms of the last (re)start, when PM2 knows it. */
  startedAt: number | null;
  restarts: number;
  unstableRestarts: number;
  cpu: number;
  memory: number;
  execMode: string;
  outLog: string | null;
  errLog: string | null;
}

const num = z.number().finite().catch(0);
const processSchema = z.object({
  name: z.string(),
  pm_id: z.number().int(),
  pid: z.number().int().nullish().catch(null),
  monit: z.object({ cpu: num, memory: num }).partial().nullish().catch(null),
  pm2_env: z.object({
    status: z.string().catch("unknown"),
    pm_uptime: z.number().nullish().catch(null),
    restart_time: num,
    unstable_restarts: num,
    exec_mode: z.string().catch("fork_mode"),
    pm_out_log_path: z.string().nullish().catch(null),
    pm_err_log_path: z.string().nullish().catch(null),
  }),
});
const listSchema = z.array(processSchema);

/** Exit code and marker of the daemon guard: no PM2 daemon listens in that PM2_HOME. */
const NO_DAEMON = 97;
const NO_DAEMON_MARK = "__jaga_no_pm2_daemon";
/** `sh -c` script: $1 PM2_HOME, $2 the pm2 binary, the rest pm2's arguments. */
const DAEMON_GUARD = `test -S "$1/rpc.sock" || { echo ${NO_DAEMON_MARK} >&2; exit ${NO_DAEMON}; }; PM2_HOME=$1; export PM2_HOME; shift; exec "$@"`;

/** Strips terminal colour codes; PM2 colours its output even into a pipe. */
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;

export class Pm2 {
  /** Reads go to the daemon's socket while that works (see pm2-rpc.ts). */
  private rpcWorks = true;

  constructor(readonly target: Pm2Target) {}

  /**
   * True while {@link Pm2.list} asks the daemon's socket: an answer of a few KB, cheap enough to
   * ask every few seconds. False without a PM2_HOME or a socket-capable executor, or once the
   * socket route failed: then each list is a `pm2 jlist` process on the host.
   *
   * @example
   * const every = pm2.readsFromSocket ? config.watch.pm2Interval : config.watch.interval;
   */
  get readsFromSocket(): boolean {
    const { home, executor } = this.target;
    return Boolean(home && executor.openUnixSocket && this.rpcWorks);
  }

  /** Every PM2 process on the host. Empty means a running daemon with no apps. */
  async list(options: ExecOptions = {}): Promise<Pm2Process[]> {
    const { executor, home, host } = this.target;
    if (home && executor.openUnixSocket && this.rpcWorks) {
      try {
        const data = await pm2Rpc(executor, home, "getMonitorData", [{}], { ...this.execOptions(options), host });
        return parseProcessList(data, host);
      } catch (err) {
        if (err instanceof Pm2DaemonAbsent) throw new JagaError("pm2.not_running", { host, home });
        if (isJagaError(err) || options.signal?.aborted) throw err;
        // The socket route is closed here (e.g. sshd forbids streamlocal): the CLI from now on.
        this.rpcWorks = false;
      }
    }
    const r = await this.exec(["jlist"], options);
    return parseJlist(r.stdout, host);
  }

  async restart(name: string, options: ExecOptions = {}): Promise<void> {
    await this.exec(["restart", name], options);
  }

  /**
   * Stops every instance of an app; PM2 keeps it in its list, stopped, until it is started again.
   * `name` must be one PM2 lists (findApp checked it): PM2 also reads `all` and pm_ids here.
   *
   * @example
   * await pm2.stop("manufacturing-app", ctx.exec); // report 000, step 1: the crash loop ends
   */
  async stop(name: string, options: ExecOptions = {}): Promise<void> {
    await this.exec(["stop", name], options);
  }

  /**
   * Starts again an app PM2 already lists (stopped or errored). Only for a name PM2 lists:
   * given a name it does not know, `pm2 start` would look for a script of that name, and
   * starting new scripts is not something chat may do.
   *
   * @example
   * await pm2.start("manufacturing-app", ctx.exec);
   */
  async start(name: string, options: ExecOptions = {}): Promise<void> {
    await this.exec(["start", name], options);
  }

  /**
   * `pm2 save`: writes the process list to PM2's dump file (`<PM2_HOME>/dump.pm2`), from which
   * `pm2 resurrect` (the boot unit) starts after a reboot.
   *
   * @example
   * await pm2.save(hostCall(ctx));
   */
  async save(options: ExecOptions = {}): Promise<void> {
    await this.exec(["save"], options);
  }

  /** Empties the logs of one app, or of every app; returns the bytes freed. */
  async flush(name: string | undefined, processes: Pm2Process[], options: ExecOptions = {}): Promise<number> {
    const files = processes
      .filter((p) => name === undefined || p.name === name)
      .flatMap((p) => [p.outLog, p.errLog])
      .filter((f): f is string => !!f && f !== "/dev/null");
    const unique = [...new Set(files)];
    const before = await this.sizeOf(unique, options);
    await this.exec(name === undefined ? ["flush"] : ["flush", name], options);
    const after = await this.sizeOf(unique, options);
    return Math.max(0, before - after);
  }

  /** The last `lines` lines of the app's error log, oldest first, without PM2's decoration. */
  async errorLines(name: string, lines: number, options: ExecOptions = {}): Promise<string[]> {
    const r = await this.exec(["logs", name, "--nostream", "--lines", String(lines), "--err"], options);
    return parseLogLines(r.stdout);
  }

  private async sizeOf(files: string[], options: ExecOptions): Promise<number> {
    if (files.length === 0) return 0;
    // A missing file only makes stat complain on stderr; the sizes it did print still count.
    const r = await this.target.executor.run(["stat", "-c", "%s", "--", ...files], this.execOptions(options));
    return r.stdout
      .split("\n")
      .map((l) => Number(l.trim()))
      .filter((n) => Number.isFinite(n) && n > 0)
      .reduce((a, b) => a + b, 0);
  }

  /**
   * The argv for one pm2 call. With a known PM2_HOME the daemon check and the call are one
   * round trip (each exec over SSH costs a login shell): a constant script, the home and the
   * arguments passed as positional parameters, never spliced into the script.
   */
  private argv(args: string[]): string[] {
    const { bin, home } = this.target;
    if (!home) return [bin, ...args];
    return ["sh", "-c", DAEMON_GUARD, "sh", home, bin, ...args];
  }

  private execOptions(options: ExecOptions): ExecOptions {
    return { timeoutMs: this.target.timeoutMs ?? 20_000, ...options };
  }

  private async exec(args: string[], options: ExecOptions): Promise<ExecResult> {
    const execOptions = this.execOptions(options);
    const r = await this.target.executor.run(this.argv(args), execOptions);
    throwIfAborted(r, options);
    const { host, bin, home } = this.target;
    if (r.code === NO_DAEMON && r.stderr.includes(NO_DAEMON_MARK)) throw new JagaError("pm2.not_running", { host, home: home ?? "?" });
    if (r.timedOut) throw noAnswer(host, execOptions.timeoutMs ?? 0);
    if (r.code === 127) throw new JagaError("pm2.not_found", { host, bin }, r.stderr.trim());
    if (r.code !== 0) {
      const detail = lastLine(r.stderr) || lastLine(r.stdout) || `exit ${r.code}`;
      throw new JagaError("pm2.failed", { host, detail: detail.slice(0, 200) }, r.stderr.slice(0, 2000));
    }
    return r;
  }
}

function throwIfAborted(r: ExecResult, options: ExecOptions): void {
  if (r.timedOut && options.signal?.aborted) throw options.signal.reason;
}

function lastLine(text: string): string {
  const lines = text.replace(ANSI, "").split("\n").map((l) => l.trim()).filter(Boolean);
  return lines.at(-1) ?? "";
}

/** Parses `pm2 jlist`, which may be preceded by daemon chatter on its first run. */
export function parseJlist(stdout: string, host: string): Pm2Process[] {
  // The JSON starts at the line opening with `[{` or `[]`; "[PM2] ..." chatter also starts with "[".
  const start = stdout.search(/^\[(?:\{|\s*\])/m);
  let json: unknown;
  try {
    json = JSON.parse(start >= 0 ? stdout.slice(start) : stdout);
  } catch {
    throw new JagaError("pm2.bad_output", { host }, `jlist is not JSON: ${stdout.slice(0, 200)}`);
  }
  return parseProcessList(json, host);
}

/** Validates PM2's process list (from jlist or the daemon's socket), keeping only what Jaga shows. */
export function parseProcessList(json: unknown, host: string): Pm2Process[] {
  const parsed = listSchema.safeParse(json);
  if (!parsed.success) throw new JagaError("pm2.bad_output", { host }, parsed.error.message.slice(0, 500));
  return parsed.data.map((p) => ({
    name: p.name,
    pmId: p.pm_id,
    pid: p.pid && p.pid > 0 ? p.pid : null,
    status: p.pm2_env.status,
    startedAt: p.pm2_env.pm_uptime ?? null,
    restarts: p.pm2_env.restart_time,
    unstableRestarts: p.pm2_env.unstable_restarts,
    cpu: p.monit?.cpu ?? 0,
    memory: p.monit?.memory ?? 0,
    execMode: p.pm2_env.exec_mode,
    outLog: p.pm2_env.pm_out_log_path ?? null,
    errLog: p.pm2_env.pm_err_log_path ?? null,
  }));
}

/** Turns `pm2 logs --nostream` output into plain log lines. */
export function parseLogLines(stdout: string): string[] {
  // PM2 prefixes each line with `<pm_id>|<name, cut to the column width> | `.
  const prefix = /^\d+\|[^|]*\|\s?/;
  return stdout
    .replace(ANSI, "")
    .split("\n")
    .filter((l) => !l.startsWith("[TAILING]") && !/ last \d+ lines:$/.test(l))
    .map((l) => l.replace(prefix, ""))
    .filter((l) => l.trim() !== "");
}

/** One line per app: cluster instances folded together, as an admin thinks of them. */
export interface Pm2App {
  name: string;
  instances: number;
  /** The worst status among the instances. */
  status: string;
  startedAt: number | null;
  restarts: number;
  cpu: number;
  memory: number;
  pids: number[];
}

const STATUS_RANK: Record<string, number> = { online: 0, launching: 1, stopping: 2, stopped: 3, "waiting restart": 4, errored: 5 };

export function groupApps(processes: Pm2Process[]): Pm2App[] {
  const byName = new Map<string, Pm2App>();
  for (const p of processes) {
    const app = byName.get(p.name);
    if (!app) {
      byName.set(p.name, {
        name: p.name,
        instances: 1,
        status: p.status,
        startedAt: p.startedAt,
        restarts: p.restarts,
        cpu: p.cpu,
        memory: p.memory,
        pids: p.pid ? [p.pid] : [],
      });
      continue;
    }
    app.instances++;
    if ((STATUS_RANK[p.status] ?? 6) > (STATUS_RANK[app.status] ?? 6)) app.status = p.status;
    if (p.startedAt !== null && (app.startedAt === null || p.startedAt > app.startedAt)) app.startedAt = p.startedAt;
    app.restarts += p.restarts;
    app.cpu += p.cpu;
    app.memory += p.memory;
    if (p.pid) app.pids.push(p.pid);
  }
  return [...byName.values()];
}
