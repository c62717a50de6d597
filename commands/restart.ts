/** `/restart <app> [host]`: restarts a PM2 app and shows the state it came back in. */
import { z } from "zod";
import { withDeadline } from "../src/hosts/deadline.js";
import { groupApps } from "../src/ops/pm2.js";
import { appName, hostName } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";
import { findApp, hostCall } from "../src/pipeline/host-call.js";

export default defineCommand({
  name: "restart",
  aliases: ["rs"],
  summary: { id: "Restart aplikasi PM2", en: "Restart a PM2 app" },
  usage: "<app> [host]",
  role: "operator",
  args: z.object({ app: appName, host: hostName.optional() }),
  positional: ["app", "host"],
  async run(ctx, { app, host }) {
    const found = await findApp(ctx, app, host, "restart");
    const target = found.host;
    await target.pm2.restart(app, ctx.exec);
    // The restart went through; a host that falls silent right after only costs the details.
    const list = await withDeadline(target.name, hostCall(ctx), ctx.clock, (o) => target.pm2.list(o)).catch(() => []);
    const after = groupApps(list).find((a) => a.name === app);
    return {
      host: target.name,
      text: ctx.t("restart.done", {
        app,
        host: target.name,
        status: after?.status ?? "?",
        pid: after?.pids.join(",") || "-",
        restarts: after?.restarts ?? "?",
      }),
    };
  },
});
