/**
 * A remote probe is a value: a constant `sh` script, a parser from what it printed to a typed
 * result, and its own timeout. Its arguments travel only as positional parameters
 * (`sh -c SCRIPT sh arg…`), never spliced into the text, so chat text cannot become shell code.
 * One runner serves every host (local or SSH alike) through the host's executor, with a hard
 * deadline on the injected clock: a frozen host answers "timed out", an executor that fails
 * (refused, auth, dropped link) "no answer" — never a generic crash.
 *
 * A tool the host lacks is a *finding*, not a failure: scripts test for it with {@link need}
 * and the runner hands the parser the list of missing tools.
 *
 * @example
 * const uptime = defineProbe({ name: "uptime", script: "cat /proc/uptime", timeoutMs: 5_000, parse: (o) => parseFloat(o.stdout) });
 * const r = await runProbe(host.executor, uptime, [], { host: "stb", clock, timeoutMs: 8_000 });
 * if (r.kind === "ok") r.value; // 12345.6
 */
import { systemClock, type Clock } from "../clock.js";
import { isNoAnswer, noAnswer, withDeadline } from "../hosts/deadline.js";
import type { ExecOptions, Executor } from "../hosts/executor.js";

/** What a probe's script left behind, for its parser. */
export interface ProbeOutput {
  /** Standard output with the runner's own marker lines taken out. */
  stdout: string;
  stderr: string;
  code: number | null;
  truncated: boolean;
  /** Tools the script looked for with {@link need} and the host lacks. */
  missing: string[];
}

export interface Probe<T> {
  /** For logs and tests: what this probe reads. */
  readonly name: string;
  /** Constant POSIX sh text; `$1…` are the probe's arguments. */
  readonly script: string;
  /** The probe's own deadline; a caller's shorter `timeoutMs` wins. */
  readonly timeoutMs: number;
  /** Output beyond this many bytes per stream is dropped. Default 1 MiB. */
  readonly maxOutputBytes?: number;
  /** Turns what the script printed into a result; a throw is a failed probe ("no answer"). */
  parse(output: ProbeOutput): T;
}

/** A probe's outcome: its value, or why there is none. */
export type ProbeResult<T> =
  | { kind: "ok"; value: T }
  /** The deadline passed (a hung script, a frozen host); the process was ended. */
  | { kind: "timed_out"; ms: number; error: Error }
  /** The executor failed (refused, auth failed, link dropped) or the output made no sense. */
  | { kind: "no_answer"; error: unknown };

export interface ProbeOptions extends ExecOptions {
  /** The host's name, for the "no answer in N s" error. Default `host`. */
  host?: string;
  /** Times the hard deadline. Default the system clock. */
  clock?: Clock;
}

const MISSING_MARK = "__jaga_missing__";

/**
 * A shell fragment that records `tool` as missing (and goes on) when it is not on PATH.
 * Compose it into a probe's constant script; it takes no input.
 *
 * @example
 * need("getent"); // `command -v getent >/dev/null 2>&1 || echo "__jaga_missing__ getent"`
 */
export function need(tool: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(tool)) throw new TypeError(`not a tool name: ${tool}`);
  return `command -v ${tool} >/dev/null 2>&1 || echo "${MISSING_MARK} ${tool}"`;
}

/**
 * The same fragment as a test: true when `tool` is there, false (and recorded missing) when not.
 *
 * @example
 * `if ${has("ss")}; then ss -Hltnp; fi`
 */
export function has(tool: string): string {
  return `{ command -v ${tool} >/dev/null 2>&1 || { echo "${MISSING_MARK} ${tool}"; false; }; }`;
}

/**
 * Takes the {@link need}/{@link has} marker lines out of `text` and names the tools they
 * record, each once. The runner does this for a probe's whole output; a probe whose script
 * captures parts of its output (and so frames those markers) calls it on each part.
 *
 * @example
 * takeMissing("__jaga_missing__ ss\nok\n"); // { text: "ok\n", missing: ["ss"] }
 */
export function takeMissing(text: string, missing: string[] = []): { text: string; missing: string[] } {
  const kept = text
    .split("\n")
    .filter((line) => {
      if (!line.startsWith(`${MISSING_MARK} `)) return true;
      const tool = line.slice(MISSING_MARK.length + 1).trim();
      if (!missing.includes(tool)) missing.push(tool);
      return false;
    })
    .join("\n");
  return { text: kept, missing };
}

/**
 * A shell fragment that records `tool` as missing, for a script that looked further than PATH
 * (e.g. for node beside pm2) before giving up.
 *
 * @example
 * `if [ -z "$n" ]; then ${missing("node")}; exit 0; fi`
 */
export function missing(tool: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(tool)) throw new TypeError(`not a tool name: ${tool}`);
  return `echo "${MISSING_MARK} ${tool}"`;
}

/**
 * Declares a probe (checks its shape once, at load).
 *
 * @example
 * export const loadProbe = defineProbe({ name: "load", script: "cat /proc/loadavg", timeoutMs: 5_000, parse: (o) => o.stdout.split(" ")[0] });
 */
export function defineProbe<T>(probe: Probe<T>): Probe<T> {
  if (!probe.script.trim()) throw new TypeError(`probe ${probe.name}: empty script`);
  if (!(probe.timeoutMs > 0)) throw new TypeError(`probe ${probe.name}: timeout must be positive`);
  return probe;
}

/**
 * Runs `probe` on the host behind `executor` with `args` as its positional parameters. The
 * deadline is the probe's own timeout, or the caller's `timeoutMs` when shorter; at the
 * deadline the process is ended (the executor's kill) and the result is `timed_out`, however
 * silent the host. `options.signal` ends it early (`no_answer`, with the signal's reason).
 * Never throws.
 *
 * @example
 * const r = await runProbe(host.executor, dnsProbe, ["web.whatsapp.com"], { host: host.name, ...hostCall(ctx), clock: ctx.clock });
 */
export async function runProbe<T>(executor: Executor, probe: Probe<T>, args: readonly string[], options: ProbeOptions = {}): Promise<ProbeResult<T>> {
  const { host = "host", clock = systemClock, ...exec } = options;
  const ms = Math.max(0, Math.min(probe.timeoutMs, exec.timeoutMs ?? Infinity));
  const argv = ["sh", "-c", probe.script, "sh", ...args];
  let r;
  try {
    r = await withDeadline(host, { ...exec, timeoutMs: ms, maxOutputBytes: exec.maxOutputBytes ?? probe.maxOutputBytes ?? 1024 * 1024 }, clock, (o) =>
      executor.run(argv, o),
    );
  } catch (err) {
    if (isNoAnswer(err)) return { kind: "timed_out", ms, error: err };
    return { kind: "no_answer", error: err };
  }
  // The executor ended it: at its own timeout, or because the caller's signal aborted.
  if (r.timedOut) return exec.signal?.aborted ? { kind: "no_answer", error: exec.signal.reason } : { kind: "timed_out", ms, error: noAnswer(host, ms) };
  const { text: stdout, missing } = takeMissing(r.stdout);
  try {
    return { kind: "ok", value: probe.parse({ stdout, stderr: r.stderr, code: r.code, truncated: r.truncated, missing }) };
  } catch (err) {
    return { kind: "no_answer", error: err };
  }
}

/**
 * The value of a probe result, or its failure thrown (`host.no_answer` for a timeout), for
 * callers whose error handling already speaks JagaError.
 *
 * @example
 * const vitals = unwrap(await runProbe(executor, vitalsProbe, paths, o));
 */
export function unwrap<T>(r: ProbeResult<T>): T {
  if (r.kind === "ok") return r.value;
  throw r.error;
}
