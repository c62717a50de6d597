/** `/restart <app> [host]`: restarts a PM2 app and shows the state it came back in. */
import { z } from "zod";
import { groupApps } from "../src/ops/pm2.js";
import { appName, hostName } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";

export default defineCommand({
  name: "restart",
  aliases: ["rs"],
  summary: { id: "Restart aplikasi PM2", en: "Restart a PM2 app" },
  usage: "<app> [host]",
  role: "operator",
  args: z.object({ app: appName, host: hostName.optional() }),
  positional: ["app", "host"],
  async run(ctx, { app, host }) {
    const found = await ctx.hosts.findApp(app, host, "restart", ctx.exec);
    const target = found.host;
    await target.pm2.restart(app, ctx.exec);
    const after = groupApps(await target.pm2.list(ctx.exec)).find((a) => a.name === app);
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
