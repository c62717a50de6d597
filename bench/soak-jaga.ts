/**
 * The soak's Jaga: a real `jaga start` process (the built dist/, console transport, started with
 * the node flags and environment of `npm start`, as production runs it) driven through its stdin, with everything it prints read back and tallied.
 *
 * The console transport answers lines strictly in order and marks nothing, so every command is
 * written together with a marker line, `/mark<n>`: an unknown command, answered at once with
 * "❓ Unknown command `/mark<n>`." (and one hint line). The reply to the command is whatever the
 * console printed since the previous marker's answer, `[alert]` lines aside, and its latency is
 * the time from the write to its marker's answer. Alerts are the `[alert]` lines: each opening
 * alert ends with "Incident #<id> · reply …", a resolution starts "✅ Resolved: #<id>" (or, as an
 * edit of the opening alert, `[alert ✏️] ✅ *Resolved* — …` above the alert's lines), a
 * reminder "⏰ Still happening: #<id>". Logs (pino JSON on stderr) are counted by message.
 *
 * @example
 * const jaga = new SoakJaga({ cwd, env, onExit: (e) => console.error(e) });
 * jaga.start();
 * const r = await jaga.send("/status", 120_000); // { answered: true, ms: 12, reply: "…" }
 * await jaga.end(30_000);                      // end of input: Jaga stops by itself
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { appendFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ROOT } from "../test/helpers/pm2.js";
import { npmStart } from "../test/helpers/start-command.js";

export const CLI = join(ROOT, "dist/src/cli.js");
const MARKER = /^❓ Unknown command `\/mark(\d+)`\.$/;
const OPENED = /Incident #(\d+) · /;
const RESOLVED = /✅ Resolved: #(\d+) /;
const REMINDED = /⏰ Still happening: #(\d+) /;
const EDIT_RESOLVED = /^✅ \*Resolved\* — /;
const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

export type Phase = "open" | "resolved" | "remind";

export interface SentCommand {
  answered: boolean;
  ms: number;
  reply: string;
}

export interface ExitInfo {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines it wrote on stderr. */
  lastLogs: string[];
}

interface Pending {
  sentAt: number;
  resolve: (r: SentCommand) => void;
}

export class SoakJaga {
  child?: ChildProcessWithoutNullStreams;
  /** Alerts seen, by `<id>:<phase>`, with how often. */
  readonly alerts = new Map<string, number>();
  /** Log lines by message (e.g. "unhandled rejection (kept running)"), and errors alone. */
  readonly logs = new Map<string, number>();
  readonly errors = new Map<string, number>();
  /** Times the process ended without being asked to. */
  crashes: ExitInfo[] = [];
  private seq = 0;
  private pending = new Map<number, Pending>();
  private replyLines: string[] = [];
  private skipHint = false;
  private ending = false;
  private lastLogs: string[] = [];
  /** Within an edit's lines: the phase its first line announced, until the incident's number. */
  private editing?: Phase;
  private exited?: Promise<void>;

  /** Times it was killed on purpose (SIGKILL, see {@link killNow}): not crashes. */
  kills = 0;
  private killing = false;

  constructor(private readonly o: { cwd: string; env: NodeJS.ProcessEnv; onCrash?: (e: ExitInfo) => void; onLog?: (msg: string) => void; logFile?: string }) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    const { nodeArgs, env } = npmStart();
    const child = spawn(process.execPath, [...nodeArgs, CLI, "start"], { cwd: this.o.cwd, env: { ...this.o.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    this.child = child;
    child.stdin.on("error", () => undefined); // a crashed Jaga closes the pipe under us
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on("line", (l) => this.onStdout(l));
    createInterface({ input: child.stderr, crlfDelay: Infinity }).on("line", (l) => this.onStderr(l));
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        // Commands waiting on this process will never be answered.
        for (const [n, p] of this.pending) {
          this.pending.delete(n);
          p.resolve({ answered: false, ms: Date.now() - p.sentAt, reply: "" });
        }
        if (this.killing) {
          this.killing = false;
          this.kills++;
        } else if (!this.ending) {
          const info = { pid: child.pid ?? 0, code, signal, lastLogs: this.lastLogs.slice(-20) };
          this.crashes.push(info);
          this.o.onCrash?.(info);
        }
        resolve();
      }),
    );
  }

  /** Writes one command and its marker; resolves when the marker is answered or after `patienceMs`. */
  send(text: string, patienceMs: number): Promise<SentCommand> {
    const child = this.child;
    if (!child || !this.running) return Promise.resolve({ answered: false, ms: 0, reply: "" });
    const n = ++this.seq;
    return new Promise((resolve) => {
      const sentAt = Date.now();
      const timer = setTimeout(() => {
        this.pending.delete(n);
        resolve({ answered: false, ms: Date.now() - sentAt, reply: "" });
      }, patienceMs);
      this.pending.set(n, {
        sentAt,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
      child.stdin.write(`${text}\n/mark${n}\n`);
    });
  }

  /** Resident memory (kB) and CPU seconds (user + system) of the running process, from /proc. */
  sample(): { rssKb: number; cpuS: number } | null {
    const pid = this.pid;
    if (!pid || !this.running) return null;
    try {
      const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
      // After the comm: state(0) … utime(11) stime(12), in clock ticks (100 per second on Linux).
      return { rssKb, cpuS: (f[11]! + f[12]!) / 100 };
    } catch {
      return null;
    }
  }

  /**
   * Ends input (Jaga's own clean stop), then SIGTERM after `graceMs`, then SIGKILL after as long
   * again. Resolves with how it ended and how long it took.
   */
  async end(graceMs: number): Promise<{ ms: number; how: "end of input" | "SIGTERM" | "SIGKILL" | "not running"; code: number | null }> {
    this.ending = true;
    const child = this.child;
    if (!child || !this.running) return { ms: 0, how: "not running", code: child?.exitCode ?? null };
    const t0 = Date.now();
    const exited = this.exited!;
    const within = (ms: number) => Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
    child.stdin.end();
    if (await within(graceMs)) return { ms: Date.now() - t0, how: "end of input", code: child.exitCode };
    child.kill("SIGTERM");
    if (await within(graceMs)) return { ms: Date.now() - t0, how: "SIGTERM", code: child.exitCode };
    child.kill("SIGKILL");
    await exited;
    return { ms: Date.now() - t0, how: "SIGKILL", code: child.exitCode };
  }

  /** kill -9 on purpose, as a fault (the caller starts it again). */
  killNow(): void {
    if (!this.running) return;
    this.killing = true;
    this.child!.kill("SIGKILL");
  }

  /** For cleanup on error or Ctrl-C: no questions asked. */
  kill(): Promise<void> {
    this.ending = true;
    if (this.running) this.child!.kill("SIGKILL");
    return this.exited ?? Promise.resolve();
  }

  private onStdout(line: string): void {
    // An edit of an alert (the resolution or the ack, while WhatsApp still allows editing) is
    // printed whole, its new first line above the alert as it read: the phase comes first, the
    // incident's number with the alert's own lines after it.
    if (line.startsWith("[alert ✏️] ")) {
      const a = line.slice("[alert ✏️] ".length);
      if (EDIT_RESOLVED.test(a)) this.editing = "resolved";
      const m = OPENED.exec(a);
      if (m && this.editing) {
        const key = `${m[1]}:${this.editing}`;
        this.alerts.set(key, (this.alerts.get(key) ?? 0) + 1);
        this.editing = undefined;
      }
      return;
    }
    this.editing = undefined;
    if (line.startsWith("[alert] ")) {
      const a = line.slice("[alert] ".length);
      const hit: [RegExp, Phase][] = [
        [OPENED, "open"],
        [RESOLVED, "resolved"],
        [REMINDED, "remind"],
      ];
      for (const [re, phase] of hit) {
        const m = re.exec(a);
        if (m) {
          const key = `${m[1]}:${phase}`;
          this.alerts.set(key, (this.alerts.get(key) ?? 0) + 1);
          break;
        }
      }
      return;
    }
    const marker = MARKER.exec(line);
    if (marker) {
      const p = this.pending.get(Number(marker[1]));
      const reply = this.replyLines.join("\n");
      this.replyLines = [];
      this.skipHint = true; // the marker's answer has a second line ("Send /help …")
      if (p) {
        this.pending.delete(Number(marker[1]));
        p.resolve({ answered: true, ms: Date.now() - p.sentAt, reply });
      }
      return;
    }
    if (this.skipHint) {
      this.skipHint = false;
      return;
    }
    this.replyLines.push(line);
    // A reply that never ends (a marker lost) must not grow without bound.
    if (this.replyLines.length > 2_000) this.replyLines.splice(0, 1_000);
  }

  private onStderr(line: string): void {
    if (this.o.logFile) appendFileSync(this.o.logFile, `${line}\n`);
    this.lastLogs.push(line);
    if (this.lastLogs.length > 50) this.lastLogs.shift();
    let msg: string;
    let level: number;
    try {
      const j = JSON.parse(line) as { msg?: unknown; level?: unknown };
      msg = typeof j.msg === "string" ? j.msg : line;
      // Jaga's pino writes levels by name; pino's default is the number.
      level = typeof j.level === "number" ? j.level : (LEVELS[String(j.level)] ?? 0);
    } catch {
      msg = line;
      level = 50; // not pino: a stack trace or a Node warning, worth seeing
    }
    this.o.onLog?.(msg);
    const key = msg.slice(0, 120);
    this.logs.set(key, (this.logs.get(key) ?? 0) + 1);
    if (level >= 50) this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
  }
}
