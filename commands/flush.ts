/**
 * `/flush [app] [host]`: empties PM2 logs (report 001: a disk at 76% from logs) and says how
 * much space came back. `/flush stb` with a host's name flushes every app on that host, and
 * `/flush` alone every app on every host: both are confirmed first, with the apps listed.
 */
import { z } from "zod";
import { formatBytes } from "../src/duration.js";
import { withDeadline } from "../src/hosts/deadline.js";
import type { Host } from "../src/hosts/inventory.js";
import type { Pm2Process } from "../src/ops/pm2.js";
import { appName, hostName } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";
import type { Context } from "../src/pipeline/context.js";
import { findApp, hostCall, hostFailure } from "../src/pipeline/host-call.js";

export default defineCommand({
  name: "flush",
  summary: { id: "Kosongkan log PM2", en: "Empty PM2 logs" },
  usage: "[app] [host]",
  role: "operator",
  args: z.object({ app: appName.optional(), host: hostName.optional() }),
  parse(tokens, ctx) {
    if (tokens.length > 2) return "too_many";
    const [first, second] = tokens;
    // A lone token naming a host (and not an app) means "every app on that host".
    if (first !== undefined && second === undefined && ctx.config.hosts.some((h) => h.name === first)) return { host: first };
    return { app: first, host: second };
  },
  scope: ({ app, host }) => (app ? "app" : host ? "host" : "fleet"),
  destructive: {
    async plan(ctx, { app, host }) {
      if (app) return null; // one app's logs: what was asked for, by name
      const hosts = host ? [ctx.hosts.get(host)] : ctx.hosts.hosts;
      const call = hostCall(ctx);
      const lines = await Promise.all(
        hosts.map(async (h) => {
          try {
            const names = [...new Set((await withDeadline(h.name, call, ctx.clock, (o) => h.pm2.list(o))).map((p) => p.name))];
            return ctx.t("flush.plan_host", { host: h.name, apps: names.length ? names.map((n) => `\`${n}\``).join(", ") : "-" });
          } catch (err) {
            return hostFailure(ctx.t, h.name, err);
          }
        }),
      );
      return [ctx.t("flush.plan"), ...lines].join("\n");
    },
  },
  async run(ctx, { app, host }) {
    if (app) {
      const found = await findApp(ctx, app, host, "flush");
      return { host: found.host.name, text: await flushOn(ctx, found.host, app, found.processes) };
    }
    const hosts = host ? [ctx.hosts.get(host)] : ctx.hosts.hosts;
    if (hosts.length === 1) return { host: hosts[0]!.name, text: await flushOn(ctx, hosts[0]!, undefined) };
    // Every host: one that cannot be asked costs its own line, not the others' answers.
    const call = hostCall(ctx);
    const lines = await Promise.all(
      hosts.map((h) => flushOn(ctx, h, undefined, undefined, call).catch((err: unknown) => hostFailure(ctx.t, h.name, err))),
    );
    return { text: lines.join("\n") };
  },
});

/**
 * `processes`: the host's list when the caller already has it (findApp fetched it); `call`: the
 * per-host deadline for fetching it otherwise.
 */
async function flushOn(ctx: Context, host: Host, app: string | undefined, known?: Pm2Process[], call = hostCall(ctx)): Promise<string> {
  const processes = known ?? (await withDeadline(host.name, call, ctx.clock, (o) => host.pm2.list(o)));
  const freed = await host.pm2.flush(app, processes, ctx.exec);
  return ctx.t("flush.done", { what: app ? `\`${app}\`` : ctx.t("flush.all"), host: host.name, freed: formatBytes(freed) });
}
