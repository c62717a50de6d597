/**
 * Host calls from a command: each gets its own deadline inside the command's (see
 * src/hosts/deadline.ts), and "which host runs this app?" answered in the reader's language,
 * naming the hosts that could not be asked instead of calling the app unknown.
 *
 * @example
 * const found = await findApp(ctx, "web", undefined, "restart");
 * const list = await withDeadline(host.name, hostCall(ctx), ctx.clock, (o) => host.pm2.list(o));
 */
import { JagaError, isJagaError } from "../errors.js";
import { hostDeadline, withDeadline } from "../hosts/deadline.js";
import type { ExecOptions } from "../hosts/executor.js";
import { AppNotAsked, type FoundApp, type Host } from "../hosts/inventory.js";
import { groupApps } from "../ops/pm2.js";
import type { Translate } from "../i18n/index.js";
import type { Context } from "./context.js";

/**
 * Executor options for one host call made now: the command's signal, and as `timeoutMs` the
 * per-host deadline, min(`hostTimeout`, what is left of the command's time minus the reply margin).
 * A call known to take longer on a healthy host (a DNS check waits out resolver timeouts) may
 * ask for more than `hostTimeout`; it still ends inside the command's time.
 *
 * @example
 * await host.pm2.list(hostCall(ctx));         // 8 s at most with the defaults
 * hostCall(ctx, 15_000).timeoutMs;             // 15000 with 30 s to go
 */
export function hostCall(ctx: Context, hostTimeoutMs = ctx.config.hostTimeout): ExecOptions {
  const timeoutMs = hostDeadline({ hostTimeoutMs, deadline: ctx.deadline, now: ctx.clock.now() });
  return { ...ctx.exec, timeoutMs };
}

/**
 * `ctx.hosts.findApp` with per-host deadlines; when hosts could not be asked, the error lists
 * each one's own reason ("⏳ *stb*: no answer in 8 s.") under the "not found on …" line.
 *
 * @example
 * const { host, processes } = await findApp(ctx, app, hostArg, "restart");
 */
export async function findApp(ctx: Context, app: string, host: string | undefined, command: string): Promise<FoundApp> {
  try {
    return await ctx.hosts.findApp(app, host, command, hostCall(ctx));
  } catch (err) {
    if (err instanceof AppNotAsked) {
      const reasons = err.failures.map((f) => `\n${hostFailure(ctx.t, f.host, f.error)}`).join("");
      throw new JagaError(err.code, { ...err.params, reasons });
    }
    throw err;
  }
}

/**
 * One host's failure as a line: its own message when it is an expected one (it names the
 * host), otherwise the host and a generic "could not be asked".
 *
 * @example
 * hostFailure(t, "stb", noAnswer("stb", 8_000)); // "⏳ *stb*: no answer in 8 s."
 */
export function hostFailure(t: Translate, host: string, err: unknown): string {
  return isJagaError(err) ? t(err.code, err.params) : t("host.not_asked", { host });
}

/**
 * The app as PM2 shows it right after an action, for the reply: status, pids, restarts,
 * instances (`?` where unknown). The action already went through, so a host that falls silent
 * now only costs these details.
 *
 * @example
 * const after = await appAfter(ctx, target, "web"); // { status: "online", pid: "4242", restarts: 3, instances: 1 }
 */
export async function appAfter(ctx: Context, host: Host, app: string): Promise<{ status: string; pid: string; restarts: number | "?"; instances: number | "?" }> {
  const list = await withDeadline(host.name, hostCall(ctx), ctx.clock, (o) => host.pm2.list(o)).catch(() => []);
  const a = groupApps(list).find((x) => x.name === app);
  return { status: a?.status ?? "?", pid: a?.pids.join(",") || "-", restarts: a?.restarts ?? "?", instances: a?.instances ?? "?" };
}

/**
 * A command's `[host]` argument across the fleet: that host, or every host, each asked at once;
 * a host whose `each` throws costs its own line (`hostFailure`), never the others' answers or
 * the whole reply. Resolves with the sections in inventory order, and the host the reply is
 * about for the audit log (the one named, or the only one).
 *
 * @example
 * const { sections, host } = await eachHost(ctx, args.host, (h) => portsOn(ctx, h));
 * return { text: sections.join("\n\n"), host };
 */
export async function eachHost(ctx: Context, host: string | undefined, each: (h: Host) => Promise<string>): Promise<{ sections: string[]; host: string | undefined }> {
  const hosts = host ? [ctx.hosts.get(host)] : ctx.hosts.hosts;
  const sections = await Promise.all(
    hosts.map((h) =>
      each(h).catch((err: unknown) => {
        if (!isJagaError(err)) ctx.log.error({ err, host: h.name }, "a host's part of the command failed");
        return hostFailure(ctx.t, h.name, err);
      }),
    ),
  );
  return { sections, host: host ?? (hosts.length === 1 ? hosts[0]!.name : undefined) };
}
