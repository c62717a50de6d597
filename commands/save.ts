/**
 * `/save [host]`: `pm2 save` on one host or on every host, so that a reboot brings back what
 * runs now (an app stopped with `/stop` stays as PM2 saves it). Every host: one that cannot be
 * asked costs its own line, not the others' answers.
 */
import { z } from "zod";
import { withDeadline } from "../src/hosts/deadline.js";
import type { ExecOptions } from "../src/hosts/executor.js";
import type { Host } from "../src/hosts/inventory.js";
import { groupApps } from "../src/ops/pm2.js";
import { hostName } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";
import type { Context } from "../src/pipeline/context.js";
import { hostCall, hostFailure } from "../src/pipeline/host-call.js";

export default defineCommand({
  name: "save",
  summary: { id: "Simpan daftar PM2 untuk reboot", en: "Save the PM2 list for a reboot" },
  usage: "[host]",
  role: "operator",
  args: z.object({ host: hostName.optional() }),
  positional: ["host"],
  scope: ({ host }) => (host ? "host" : "fleet"),
  async run(ctx, { host }) {
    if (host) {
      const h = ctx.hosts.get(host);
      return { host: h.name, text: await saveOn(ctx, h, hostCall(ctx)) };
    }
    const hosts = ctx.hosts.hosts;
    // Hosts in parallel, each with its own deadline inside the command's.
    const call = hostCall(ctx);
    const lines = await Promise.all(hosts.map((h) => saveOn(ctx, h, call).catch((err: unknown) => hostFailure(ctx.t, h.name, err))));
    return { text: lines.join("\n"), host: hosts.length === 1 ? hosts[0]!.name : undefined };
  },
});

/** Saves one host's list and names the apps now in it, the way a reboot will bring them back. */
async function saveOn(ctx: Context, host: Host, call: ExecOptions): Promise<string> {
  const processes = await withDeadline(host.name, call, ctx.clock, async (o) => {
    await host.pm2.save(o);
    return host.pm2.list(o);
  });
  const listed = groupApps(processes)
    .map((a) => `\`${a.name}\` ${a.status}`)
    .join(", ");
  return ctx.t("save.done", { host: host.name, apps: listed || "-" });
}
