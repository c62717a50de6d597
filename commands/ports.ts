/**
 * `/ports [host]`: who listens where, IPv4 and IPv6 (report 003: an app bound only to
 * `[::]:3002`), each holder named by its PM2 app or its full command line. Phone-sized: one
 * line a port, the longest command lines cut.
 */
import { z } from "zod";
import type { Host } from "../src/hosts/inventory.js";
import type { Translate } from "../src/i18n/index.js";
import { readPorts, type PortEntry, type PortHolder, type PortsReport } from "../src/ops/ports.js";
import { hostName } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";
import type { Context } from "../src/pipeline/context.js";
import { eachHost, hostCall, hostFailure } from "../src/pipeline/host-call.js";
import { echo } from "../src/text.js";

/** Ports listed per host; a box with more gets "… and N more". */
const MAX_PORTS = 30;

export default defineCommand({
  name: "ports",
  summary: { id: "Siapa mendengarkan di port mana", en: "Who listens on which port" },
  usage: "[host]",
  role: "operator",
  args: z.object({ host: hostName.optional() }),
  positional: ["host"],
  async run(ctx, { host }) {
    const call = hostCall(ctx);
    const { sections, host: about } = await eachHost(ctx, host, (h) => portsOn(ctx, h, call.timeoutMs));
    return { text: sections.join("\n\n"), host: about };
  },
});

async function portsOn(ctx: Context, h: Host, timeoutMs: number | undefined): Promise<string> {
  const r = await readPorts(h, { ...ctx.exec, timeoutMs, host: h.name, clock: ctx.clock });
  if (r.kind !== "ok") return hostFailure(ctx.t, h.name, r.error);
  return formatPorts(ctx.t, h.name, r.value);
}

/**
 * One host's ports as chat lines.
 *
 * @example
 * formatPorts(t, "stb", report); // "🔌 *stb* · 2 ports\n`:22` 0.0.0.0 [::] · /usr/sbin/sshd -D (pid 812)\n…"
 */
export function formatPorts(t: Translate, host: string, report: PortsReport): string {
  const lines = [t("ports.title", { host, count: report.ports.length })];
  for (const entry of report.ports.slice(0, MAX_PORTS)) lines.push(portLine(t, entry));
  if (report.ports.length > MAX_PORTS) lines.push(t("ports.more", { count: report.ports.length - MAX_PORTS }));
  if (report.ports.length === 0) lines.push(t("ports.none"));
  if (report.missing.includes("ss")) lines.push(t("ports.ss_missing"));
  if (report.pm2 === "failed") lines.push(t("ports.pm2_failed"));
  return lines.join("\n");
}

function portLine(t: Translate, entry: PortEntry): string {
  const who = entry.holders.length ? entry.holders.map((h) => holderLabel(t, h)).join(", ") : t("ports.hidden");
  return `\`:${entry.port}\` ${entry.addresses.join(" ")} · ${who}`;
}

/**
 * A holder as people read it: its PM2 app, else its command line (cut), with the pid.
 *
 * @example
 * holderLabel(t, { pid: 2215, name: "node /srv/web/server.js", comm: "node", app: "web", chain: [2215] }); // "📦 `web` (PM2, pid 2215)"
 */
export function holderLabel(t: Translate, h: PortHolder): string {
  return h.app ? t("ports.pm2_holder", { app: h.app, pid: h.pid }) : t("ports.holder", { name: echo(h.name, 60), pid: h.pid });
}
