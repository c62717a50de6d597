/**
 * `/start <app> [host]`: starts again an app PM2 already lists (after a `/stop`, or errored),
 * and shows the state it came up in. Never a new script: the name must be one PM2 lists on the
 * host (findApp), and an app already online is left alone.
 */
import { z } from "zod";
import { appName, hostName } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";
import { appAfter, findApp } from "../src/pipeline/host-call.js";

export default defineCommand({
  name: "start",
  summary: { id: "Jalankan lagi aplikasi PM2", en: "Start a stopped PM2 app" },
  usage: "<app> [host]",
  role: "operator",
  args: z.object({ app: appName, host: hostName.optional() }),
  positional: ["app", "host"],
  scope: () => "app",
  async run(ctx, { app, host }) {
    const { host: target, processes } = await findApp(ctx, app, host, "start");
    const instances = processes.filter((p) => p.name === app);
    if (instances.every((p) => p.status === "online")) {
      return { host: target.name, text: ctx.t("start.already", { app, host: target.name }) };
    }
    await target.pm2.start(app, ctx.exec);
    const after = await appAfter(ctx, target, app);
    return { host: target.name, text: ctx.t("start.done", { app, host: target.name, status: after.status, pid: after.pid, restarts: after.restarts }) };
  },
});
