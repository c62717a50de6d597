/**
 * A safety net for test processes that die before their `after` hooks run (the runner's
 * timeout, Ctrl-C, kill -9): what is registered here is undone by a small watcher process
 * (reaper.sh) as soon as this process is gone, however it went. Helpers register what they
 * start or create, and still clean up themselves in `stop()`; the watcher only finds already
 * removed things then, and undoing those again changes nothing.
 *
 * The watcher is its own process group, so a Ctrl-C that kills the test does not kill it, and
 * it holds nothing this process waits for: an idle watcher never keeps a test file running.
 *
 * @example
 * const child = spawn("/usr/sbin/sshd", ["-D", "-f", config]);
 * reapOnExit({ pid: child.pid, path: dir });
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface Leftover {
  /** A process to kill with everything below it (only while it is still that process). */
  pid?: number | undefined;
  /** A PM2_HOME: its daemon and every app it runs are killed. */
  pm2Home?: string;
  /** An OS user to delete, home included. */
  user?: string;
  /** A file or directory to remove (absolute, its name containing "jaga"). */
  path?: string;
}

let watcher: ChildProcess | undefined;

function startWatcher(): ChildProcess {
  const child = spawn("bash", [join(import.meta.dirname, "reaper.sh")], { detached: true, stdio: ["pipe", "ignore", "ignore"] });
  child.on("error", () => undefined);
  child.stdin.on("error", () => undefined);
  // Not waited for: an idle pipe that is only written to holds nothing open either.
  child.unref();
  return child;
}

/** Field 22 of /proc/<pid>/stat, to tell the process from a later one with the same pid. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

/**
 * Registers what to undo should this process die before cleaning up itself.
 *
 * @example
 * reapOnExit({ pm2Home: home, path: home });
 * reapOnExit({ user: "jaga-ok-1a2b3c4d" });
 */
export function reapOnExit(what: Leftover): void {
  const lines: string[] = [];
  const started = what.pid ? startTime(what.pid) : null;
  if (what.pid && started) lines.push(`pid ${what.pid} ${started}`);
  if (what.pm2Home) lines.push(`pm2 ${what.pm2Home}`);
  if (what.user) lines.push(`user ${what.user}`);
  if (what.path) lines.push(`path ${what.path}`);
  if (lines.length === 0) return;
  watcher ??= startWatcher();
  // A short write to a pipe completes at once, so a kill -9 right after this loses nothing.
  watcher.stdin!.write(`${lines.join("\n")}\n`);
}
