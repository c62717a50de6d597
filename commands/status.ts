/** `/status [host]`: every app's state and each host's load, memory and disk, in one message. */
import { z } from "zod";
import { formatBytes, formatDuration } from "../src/duration.js";
import { errorId, isJagaError } from "../src/errors.js";
import { isNoAnswer, withDeadline } from "../src/hosts/deadline.js";
import type { ExecOptions } from "../src/hosts/executor.js";
import type { Host } from "../src/hosts/inventory.js";
import { groupApps, type Pm2App } from "../src/ops/pm2.js";
import { readVitals, vitalsPaths, type Vitals } from "../src/ops/vitals.js";
import { hostName } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";
import type { Context } from "../src/pipeline/context.js";
import { eachHost, hostCall } from "../src/pipeline/host-call.js";
import type { LeaseStatus } from "../src/standby/lease.js";

export default defineCommand({
  name: "status",
  aliases: ["st"],
  summary: { id: "Status aplikasi dan host", en: "Apps and hosts at a glance" },
  usage: "[host]",
  role: "viewer",
  args: z.object({ host: hostName.optional() }),
  positional: ["host"],
  async run(ctx, { host }) {
    // Hosts are asked in parallel, each with its own deadline inside the command's: a silent host
    // costs its own "no answer in N s" line, never the others' lines or the whole reply.
    const call = hostCall(ctx);
    const [{ sections, host: about }, backlog] = await Promise.all([eachHost(ctx, host, (h) => hostSection(ctx, h, call)), backlogLines(ctx)]);
    const text = [sections.join("\n\n"), ...(backlog.length ? [backlog.join("\n")] : [])].join("\n\n");
    return { text, host: about };
  },
});

/** What has not gone out yet: alerts in the outbox, writes waiting for Supabase. */
async function backlogLines(ctx: Context): Promise<string[]> {
  const store = ctx.store;
  const [outbox, replicas, rejected] = await Promise.all([
    store.outbox.backlog().catch(() => 0),
    store.replication?.backlog().catch(() => 0) ?? 0,
    store.replication?.rejected().catch(() => 0) ?? 0,
  ]);
  const lines: string[] = [];
  if (outbox > 0) lines.push(ctx.t("status.backlog_outbox", { count: outbox }));
  const standby = ctx.services.standby?.();
  if (standby) lines.push(standbyLine(ctx, standby));
  if (replicas > 0 || rejected > 0) {
    lines.push(ctx.t("status.backlog_supabase", { count: replicas, rejected, error: store.replication?.lastError() ?? "-" }));
  }
  return lines;
}

/** `🛡️ Instances: *box-a* active (epoch 7, this one) · box-b standby, heard 1s ago`. */
function standbyLine(ctx: Context, s: LeaseStatus): string {
  const others = s.members.filter((m) => !m.self && m.role !== "stopping" && m.silentForMs < 24 * 3_600_000);
  const me = ctx.t(s.role === "active" ? "status.standby_me_active" : "status.standby_me_standby", { instance: s.instance, epoch: s.epoch ?? 0 });
  const rest = others.map((m) => ctx.t("status.standby_other", { instance: m.instance, role: m.role, ago: formatDuration(m.silentForMs) }));
  return ctx.t("status.standby", { list: [me, ...rest].join(" · ") });
}

async function hostSection(ctx: Context, host: Host, call: ExecOptions): Promise<string> {
  const paths = vitalsPaths(host.config, ctx.config.dataDir);
  // A running watcher reads every host's vitals each interval: serve those while fresh, so a
  // /status costs the host nothing but PM2's answer.
  const cached = ctx.services.watch?.freshVitals(host.name, ctx.config.watch.interval * 2);
  const ask = <T>(read: (o: ExecOptions) => Promise<T>) => withDeadline(host.name, call, ctx.clock, read);
  const [vitals, list] = await Promise.allSettled([
    cached ?? ask((o) => readVitals(host.executor, paths, { ...o, host: host.name, clock: ctx.clock })),
    ask((o) => host.pm2.list(o)),
  ]);
  // An unreachable or silent host is one line with the reason (it names the host), not two failures.
  if (list.status === "rejected" && isJagaError(list.reason) && (list.reason.code.startsWith("ssh.") || isNoAnswer(list.reason))) {
    return ctx.t(list.reason.code, list.reason.params);
  }
  const lines = [vitals.status === "fulfilled" ? vitalsLine(ctx, host.name, vitals.value) : ctx.t("status.host_vitals_unknown", { host: host.name })];
  if (list.status === "rejected") {
    const err: unknown = list.reason;
    if (isJagaError(err)) {
      lines.push(ctx.t(err.code, err.params));
    } else {
      // A bug on one host must not cost the admin the other hosts' answer.
      const id = errorId();
      ctx.log.error({ err, errorId: id, host: host.name }, "status of one host failed");
      lines.push(ctx.t("host.failed", { host: host.name, detail: ctx.t("error.internal", { id }) }));
    }
  } else if (list.value.length === 0) {
    lines.push(ctx.t("host.no_apps", { host: host.name }));
  } else {
    for (const app of groupApps(list.value)) lines.push(appLine(ctx, app));
  }
  return lines.join("\n");
}

function vitalsLine(ctx: Context, host: string, v: Vitals): string {
  const memUsed = v.memTotalBytes - v.memAvailableBytes;
  const memPct = v.memTotalBytes > 0 ? Math.round((memUsed / v.memTotalBytes) * 100) : 0;
  return ctx.t("status.host", {
    host,
    load: v.load.map((l) => l.toFixed(2)).join(" "),
    cores: v.cores,
    mem: `${memPct}% (${formatBytes(memUsed)}/${formatBytes(v.memTotalBytes)})`,
    disk: v.disks.map((d) => `${d.mount} ${d.usedPercent}%${d.usedPercent >= 80 ? " ⚠️" : ""}`).join(", ") || "?",
  });
}

const ICONS: Record<string, string> = { online: "✅", stopped: "⏸️", errored: "❌", "waiting restart": "🔁", launching: "🔁", stopping: "⏹️" };

function appLine(ctx: Context, app: Pm2App): string {
  const name = app.instances > 1 ? `${app.name} ×${app.instances}` : app.name;
  const icon = ICONS[app.status] ?? "❔";
  // Report 000: 16 restarts nobody noticed. Flag a restart count past the storm threshold.
  const restarts = app.restarts > ctx.config.watch.restartStorm.restarts ? `${app.restarts} ⚠️` : app.restarts;
  if (app.status !== "online") return ctx.t("status.app_down", { icon, app: name, status: app.status, restarts });
  return ctx.t("status.app", {
    icon,
    app: name,
    status: app.status,
    uptime: app.startedAt ? formatDuration(ctx.clock.now() - app.startedAt) : "?",
    restarts,
    cpu: Math.round(app.cpu),
    memory: formatBytes(app.memory),
  });
}
