/**
 * Privileged commands (a fix that edits /etc/resolv.conf, say) run through `sudo -n` on hosts
 * with `sudo: true`. `-n` because Jaga has no terminal to type a password into: sudo must either
 * be allowed without one (NOPASSWD) or fail at once, and that failure gets a clear message.
 *
 * @example
 * const r = await runPrivileged(host, ["systemctl", "restart", "systemd-resolved"], ctx.exec);
 */
import { JagaError } from "../errors.js";
import type { ExecOptions, ExecResult, Executor } from "./executor.js";

export interface PrivilegedHost {
  name: string;
  config: { sudo: boolean; ssh?: { user: string } | undefined };
  executor: Executor;
}

/**
 * Argv as it must run on `host`: behind `sudo -n --` when the host wants sudo and the login is
 * not root already (root needs none, and minimal boxes often have no sudo installed).
 *
 * @example
 * privilegedArgv({ sudo: true, ssh: { user: "deploy" } }, ["id"]); // ["sudo", "-n", "--", "id"]
 */
export function privilegedArgv(config: PrivilegedHost["config"], argv: readonly string[]): string[] {
  const user = config.ssh ? config.ssh.user : process.getuid?.() === 0 ? "root" : "";
  return config.sudo && user !== "root" ? ["sudo", "-n", "--", ...argv] : [...argv];
}

/**
 * The JagaError for a sudo that refused to run, or null when sudo was not the problem.
 *
 * @example
 * sudoError("stb", { code: 1, stderr: "sudo: a password is required\n", … })?.code; // "sudo.password"
 */
export function sudoError(host: string, r: Pick<ExecResult, "code" | "stderr">): JagaError | null {
  if (r.code === 0) return null;
  // sudo ≥ 1.8.x says "a password is required"; older ones and odd setups ask for a tty.
  if (/sudo: (a password is required|a terminal is required|no tty present|.*askpass)/i.test(r.stderr)) {
    return new JagaError("sudo.password", { host }, r.stderr.trim().slice(0, 200));
  }
  if (r.code === 127 && /\bsudo\b.*not found|not found.*\bsudo\b/i.test(r.stderr)) {
    return new JagaError("sudo.missing", { host }, r.stderr.trim().slice(0, 200));
  }
  return null;
}

/**
 * Runs argv with the host's privileges setting; sudo's own refusals become JagaErrors, the
 * command's own failures come back as a normal result.
 *
 * @example
 * const r = await runPrivileged(host, ["truncate", "-s", "0", logFile]);
 */
export async function runPrivileged(host: PrivilegedHost, argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const full = privilegedArgv(host.config, argv);
  const r = await host.executor.run(full, options);
  if (full[0] === "sudo") {
    const err = sudoError(host.name, r);
    if (err) throw err;
  }
  return r;
}
