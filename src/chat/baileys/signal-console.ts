/**
 * libsignal (Baileys' Signal implementation) writes straight to `console.*`, outside any
 * logger: "Closing session:" followed by the whole SessionEntry — root key, chain keys and the
 * ephemeral private key — into PM2's log files, and a "Session error: Bad MAC" line with a stack
 * per undecryptable message (Baileys #2234: 168k of them in two hours). This guard takes those
 * calls off the console: they are recognised by the caller's file (libsignal's own sources),
 * counted by kind, summarised once a minute in Jaga's log, and never printed. Decrypt failures
 * are a metric, and past a threshold a callback raises an incident. Every other console call
 * passes through untouched.
 *
 * @example
 * const guard = SignalConsole.install({ log, onStorm: (n) => desk.raise(...) });
 * guard.counts(); // { decryptFailures: 3, sessionChanges: 12, other: 0 }
 * guard.uninstall();
 */
import type { Logger } from "../../log.js";

type Method = "log" | "info" | "warn" | "error" | "debug";
const METHODS: readonly Method[] = ["log", "info", "warn", "error", "debug"];
const FROM_LIBSIGNAL = /[\\/]libsignal[\\/]/;

export interface SignalCounts {
  /** "Failed to decrypt message…", "Session error: … Bad MAC". */
  decryptFailures: number;
  /** Sessions opened, closed, migrated, removed. */
  sessionChanges: number;
  other: number;
}

export interface SignalConsoleOptions {
  log: Logger;
  /** Decrypt failures within a minute that count as a storm (default 30). */
  stormPerMinute?: number;
  /** Called once per minute in which the storm threshold was passed. */
  onStorm?: (failuresInMinute: number) => void;
  /** Summary period (default 60 s); tests shorten it. */
  periodMs?: number;
  /** The console to guard (default the global one). */
  target?: Console;
}

let installed: SignalConsole | undefined;

export class SignalConsole {
  private readonly totals: SignalCounts = { decryptFailures: 0, sessionChanges: 0, other: 0 };
  private minute: SignalCounts = { decryptFailures: 0, sessionChanges: 0, other: 0 };
  private readonly originals = new Map<Method, (...args: unknown[]) => void>();
  private readonly timer: NodeJS.Timeout;

  private constructor(private readonly o: SignalConsoleOptions) {
    const target = o.target ?? console;
    for (const m of METHODS) {
      const original = target[m].bind(target) as (...args: unknown[]) => void;
      this.originals.set(m, original);
      target[m] = (...args: unknown[]) => {
        if (calledFromLibsignal()) this.count(args);
        else original(...args);
      };
    }
    this.timer = setInterval(() => this.summarise(), o.periodMs ?? 60_000);
    this.timer.unref();
  }

  /** Installs the guard once per process; later calls return the same guard. */
  static install(o: SignalConsoleOptions): SignalConsole {
    installed ??= new SignalConsole(o);
    return installed;
  }

  /** Counts since install (for /metrics). */
  counts(): SignalCounts {
    return { ...this.totals };
  }

  /** Puts the console back (tests; Jaga keeps the guard for its lifetime). */
  uninstall(): void {
    clearInterval(this.timer);
    const target = this.o.target ?? console;
    for (const [m, original] of this.originals) target[m] = original;
    if (installed === this) installed = undefined;
  }

  /** Writes the minute's summary now (also called by the timer). */
  summarise(): void {
    const m = this.minute;
    this.minute = { decryptFailures: 0, sessionChanges: 0, other: 0 };
    if (m.decryptFailures + m.sessionChanges + m.other === 0) return;
    const level = m.decryptFailures > 0 ? "warn" : "debug";
    this.o.log[level]({ module: "libsignal", ...m }, "Signal sessions in the last minute (libsignal's console output, summarised)");
    if (m.decryptFailures >= (this.o.stormPerMinute ?? 30)) this.o.onStorm?.(m.decryptFailures);
  }

  private count(args: unknown[]): void {
    const first = typeof args[0] === "string" ? args[0] : "";
    const kind: keyof SignalCounts = /decrypt|Session error|Bad MAC|MessageCounterError/i.test(first)
      ? "decryptFailures"
      : /session/i.test(first)
        ? "sessionChanges"
        : "other";
    this.totals[kind]++;
    this.minute[kind]++;
  }
}

/** True when the console call came from one of libsignal's files (two frames up: the wrapper, then the caller). */
function calledFromLibsignal(): boolean {
  const stack = new Error().stack ?? "";
  const caller = stack.split("\n")[3] ?? "";
  return FROM_LIBSIGNAL.test(caller);
}
