/**
 * `/restart <app> [host] [--force]`: restarts a PM2 app and shows the state it came back in.
 * A cluster (several instances restarted at once) and `--force` past the restart guard are
 * confirmed first; a single instance restarts at once. `--force` is for admins.
 */
import { z } from "zod";
import type { FoundApp } from "../src/hosts/inventory.js";
import { appName, hostName } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";
import type { Context } from "../src/pipeline/context.js";
import { appAfter, findApp } from "../src/pipeline/host-call.js";

/** The lookup the plan made, so running right after it costs no second round trip. */
const looked = new WeakMap<Context, FoundApp>();

export default defineCommand({
  name: "restart",
  aliases: ["rs"],
  summary: { id: "Restart aplikasi PM2", en: "Restart a PM2 app" },
  usage: "<app> [host] [--force]",
  role: "operator",
  args: z.object({ app: appName, host: hostName.optional(), force: z.boolean().optional() }),
  parse(tokens) {
    const force = tokens.includes("--force");
    const rest = tokens.filter((t) => t !== "--force");
    if (rest.length > 2) return "too_many";
    return { app: rest[0], host: rest[1], ...(force ? { force: true } : {}) };
  },
  scope: () => "app",
  restarts: ({ app }) => app,
  destructive: {
    async plan(ctx, { app, host, force }) {
      const found = await findApp(ctx, app, host, "restart");
      looked.set(ctx, found);
      const instances = found.processes.filter((p) => p.name === app).length;
      if (!force && instances <= 1) return null;
      const lines = [ctx.t("restart.plan", { app, host: found.host.name, instances })];
      if (force) lines.push(ctx.t("restart.plan_force"));
      return lines.join("\n");
    },
  },
  async run(ctx, { app, host }) {
    const found = looked.get(ctx) ?? (await findApp(ctx, app, host, "restart"));
    const target = found.host;
    await target.pm2.restart(app, ctx.exec);
    const after = await appAfter(ctx, target, app);
    return { host: target.name, text: ctx.t("restart.done", { app, host: target.name, status: after.status, pid: after.pid, restarts: after.restarts }) };
  },
});
