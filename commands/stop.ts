/**
 * `/stop <app> [host]`: stops a PM2 app (every instance) and shows the state it is left in.
 * Report 000, step 1: `pm2 stop manufacturing-app` ends a crash loop. Always confirmed first,
 * since a stopped app stays down; an app that is already stopped needs no confirmation and is
 * answered "already stopped".
 */
import { z } from "zod";
import type { FoundApp } from "../src/hosts/inventory.js";
import type { Pm2Process } from "../src/ops/pm2.js";
import { appName, hostName } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";
import type { Context } from "../src/pipeline/context.js";
import { appAfter, findApp } from "../src/pipeline/host-call.js";

/** The lookup the plan made, so running right after it costs no second round trip. */
const looked = new WeakMap<Context, FoundApp>();

export default defineCommand({
  name: "stop",
  summary: { id: "Hentikan aplikasi PM2", en: "Stop a PM2 app" },
  usage: "<app> [host]",
  role: "operator",
  args: z.object({ app: appName, host: hostName.optional() }),
  positional: ["app", "host"],
  scope: () => "app",
  destructive: {
    async plan(ctx, { app, host }) {
      const found = await findApp(ctx, app, host, "stop");
      looked.set(ctx, found);
      const instances = found.processes.filter((p) => p.name === app);
      if (allStopped(instances)) return null; // nothing would change: run says so
      return ctx.t("stop.plan", { app, host: found.host.name, instances: instances.length, name: ctx.sender.name });
    },
  },
  async run(ctx, { app, host }) {
    const found = looked.get(ctx) ?? (await findApp(ctx, app, host, "stop"));
    const target = found.host;
    if (allStopped(found.processes.filter((p) => p.name === app))) {
      return { host: target.name, text: ctx.t("stop.already", { app, host: target.name }) };
    }
    // Said before the stop, so the watcher never takes it for an outage (no "app down" alert);
    // taken back if the stop fails.
    const watch = ctx.services.watch;
    watch?.markStopped(target.name, app, ctx.sender.name);
    try {
      await target.pm2.stop(app, ctx.exec);
    } catch (err) {
      watch?.unmarkStopped(target.name, app);
      throw err;
    }
    const after = await appAfter(ctx, target, app);
    return { host: target.name, text: ctx.t("stop.done", { app, host: target.name, status: after.status, instances: after.instances }) };
  },
});

/** True when PM2 lists the app and none of its instances is anything but stopped. */
function allStopped(instances: Pm2Process[]): boolean {
  return instances.length > 0 && instances.every((p) => p.status === "stopped");
}
