/**
 * `jaga start`: runs Jaga until end of input (console) or SIGINT/SIGTERM, then stops cleanly
 * within `shutdown.budget` and exits 0.
 *
 * The signal handlers are installed before anything starts, so a signal while Jaga is still
 * loading, opening its store or starting its parts stops it cleanly too. A second signal while
 * stopping is logged and changes nothing: the stop is bounded anyway, and cutting it short
 * would only skip the outbox flush and the store's close.
 *
 * @example
 * JAGA_TRANSPORT=console node dist/src/cli.js start
 */
import { systemClock } from "../clock.js";
import { checkConfig } from "../config/check.js";
import { Heartbeat } from "../heartbeat.js";
import { logOnce } from "../log-limit.js";
import { createLogger, type Logger } from "../log.js";
import { DataDirLocked } from "../store/lock.js";

export async function run(_args: string[]): Promise<number> {
  const result = checkConfig(process.env);
  if (!result.ok) {
    const problems = result.problems.map((p) => `  - ${p}`).join("\n");
    console.error(`Jaga cannot start: the configuration has problems (${result.source}):\n${problems}`);
    return 1;
  }
  const { config } = result;
  const log = createLogger(config.logLevel);
  // An outside monitor hears from Jaga every minute, and at once when it goes down badly.
  const heartbeat = config.heartbeat.url ? new Heartbeat({ url: config.heartbeat.url, everyMs: config.heartbeat.every, clock: systemClock, log }) : undefined;
  heartbeat?.start();
  /** A fatal exit: the monitor is told (within a few seconds at most), then the process ends. */
  const fatal = (reason: string) => {
    const hard = setTimeout(() => process.exit(1), 5_000);
    hard.unref();
    void (heartbeat?.fail(reason) ?? Promise.resolve()).finally(() => process.exit(1));
  };
  const stopSignal = new AbortController();
  let exiting = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (exiting) return; // stopped: nothing more to say
    if (stopSignal.signal.aborted) {
      log.warn({ signal }, "already stopping; the stop ends within shutdown.budget");
      return;
    }
    stopSignal.abort(signal);
    // The stop races every step against the budget; this is the net under that promise, set
    // where PM2's kill_timeout is (budget + 5 s), so an overrun is Jaga's own failed exit.
    const overrun = setTimeout(() => {
      log.error({ budgetMs: config.shutdown.budget }, "the stop overran its budget; exiting");
      fatal("the stop overran its budget");
    }, config.shutdown.budget + OVERRUN_MS);
    overrun.unref();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // Once a minute per message: a failure that repeats must not bury the log in stack traces.
  const kindOf = (err: unknown) => `unhandled:${(err instanceof Error ? err.message : String(err)).slice(0, 120)}`;
  process.on("unhandledRejection", (err) => logOnce(log, kindOf(err), err, "unhandled rejection (kept running)"));
  if (heartbeat) {
    // As Node would (log, exit 1), and the monitor hears of it first.
    process.on("uncaughtException", (err) => {
      log.fatal({ err }, "uncaught exception; exiting");
      fatal(`uncaught exception: ${err instanceof Error ? err.message : String(err)}`);
    });
  }
  log.info({ pid: process.pid, dataDir: config.dataDir }, "starting");

  // Loaded only now, with the handlers in place: Baileys alone takes a while to load.
  const [{ startJaga }, { StoreOpenError }] = await Promise.all([import("../main.js"), import("../store/open.js")]);
  if (stopSignal.signal.aborted) {
    log.info({ reason: stopSignal.signal.reason as string, during: "start-up" }, "stopped");
    exiting = true;
    await heartbeat?.stop();
    return 0;
  }
  let jaga;
  try {
    jaga = await startJaga({ config, log, input: process.stdin, output: process.stdout, signal: stopSignal.signal });
  } catch (err) {
    // Another Jaga on this data directory; a full, read-only or forbidden one: one plain line,
    // not SQLite's "disk I/O error" nor a stack trace.
    const message = err instanceof DataDirLocked ? `Jaga cannot start: ${err.message}.` : err instanceof Error ? err.message : String(err);
    await heartbeat?.fail(message);
    if (err instanceof DataDirLocked || err instanceof StoreOpenError) console.error(message);
    else throw err;
    return 1;
  }
  await jaga.stopped;
  exiting = true;
  await heartbeat?.stop();
  letProcessExit(log);
  return 0;
}

/** Past the budget, how long before an unfinished stop is cut short (PM2's margin too). */
const OVERRUN_MS = 5_000;

/** How long the event loop may take to empty on its own after "stopped" before Jaga exits anyway. */
const EXIT_GRACE_MS = 500;

/**
 * Once stopped, nothing of Jaga's should hold the process, and the process should end by itself.
 * Two things can still hold it:
 *  - an IPC channel to the parent: PM2 forks with one and its @pm2/io listens on it, which held
 *    every `pm2 stop` until PM2's SIGKILL at kill_timeout. Jaga never talks to its parent.
 *  - a socket whose peer never answers our close (a frozen SSH host holds a half-closed TCP
 *    connection until keepalive gives up, a minute later).
 * The first is let go of; for the second, a last net exits after a moment. Everything Jaga
 * wrote is already flushed by then (the store is closed; pino flushes its log on exit).
 */
function letProcessExit(log: Logger): void {
  process.channel?.unref();
  const net = setTimeout(() => {
    log.debug({ resources: process.getActiveResourcesInfo() }, "still held open after stop; exiting");
    process.exit(0);
  }, EXIT_GRACE_MS);
  net.unref();
}
