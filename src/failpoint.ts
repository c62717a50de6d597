/**
 * Test hook for crash drills: `failpoint(name)` kills this process with SIGKILL — no cleanup,
 * no flush, like a power cut — when the environment variable JAGA_FAILPOINT equals `name`.
 * Otherwise it does nothing: the variable is read once at start-up, so a call costs one string
 * comparison. test/alerts.drill.test.ts uses it to stop `jaga start` at exact steps of the
 * alert path and proves that no alert is lost. Never set JAGA_FAILPOINT in production.
 *
 * The points, in the order an alert passes them:
 *   desk.after-condition  a condition is reported to the desk (before anything is read or written)
 *   desk.after-describe   the cause was gathered (pm2 logs, ss), nothing written yet
 *   desk.after-open       the incident and its alert committed (one transaction), not yet sent
 *   outbox.after-send     the transport took the message, markSent not yet written
 *   desk.after-resolve    the resolution and its alert committed, not yet sent
 *
 * @example
 * failpoint("desk.after-open"); // JAGA_FAILPOINT=desk.after-open jaga start → killed right here
 */
const armed = process.env.JAGA_FAILPOINT;

export type FailpointName = "desk.after-condition" | "desk.after-describe" | "desk.after-open" | "outbox.after-send" | "desk.after-resolve" | "command.running";

export function failpoint(name: FailpointName): void {
  if (armed === name) process.kill(process.pid, "SIGKILL");
}
