/**
 * `/free <port> [host]` (admin): stops what holds a port, after its confirmation. The plan
 * names the holder (pid, command line). It refuses a PM2 app (PM2 would start it again:
 * `/restart` it instead), Jaga itself, sshd and init. On `/yes`: the port is read again, and
 * only the pids the plan named are signalled — SIGTERM, a 3 s grace, SIGKILL — then the port is
 * checked and the answer says whether it is free.
 */
import { z } from "zod";
import type { Host } from "../src/hosts/inventory.js";
import { freeVerdict, stopHolders, type FreeVerdict } from "../src/ops/free.js";
import { readPorts, type PortHolder, type PortsReport } from "../src/ops/ports.js";
import { count, hostName } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";
import type { Context } from "../src/pipeline/context.js";
import { hostCall, hostFailure } from "../src/pipeline/host-call.js";
import { formatDuration } from "../src/duration.js";
import { holderLabel } from "./ports.js";

/** SIGTERM's time before SIGKILL. */
export const FREE_GRACE_MS = 3_000;

/** Where the port was found: the host and its ports, or the answer to give instead. */
type Located = { host: Host; report: PortsReport } | { reply: string; host?: string };

/** The lookup the plan made, so a call that needs no confirmation runs on the same view. */
const looked = new WeakMap<Context, Located>();
/** The pids each waiting plan named (by sender, host, port): a /yes signals only those. */
const planned = new Map<string, { pids: number[]; at: number }>();
const planKey = (ctx: Context, host: string, port: number) => `${ctx.message.senderId}\u0000${host}\u0000${port}`;

export default defineCommand({
  name: "free",
  summary: { id: "Bebaskan port: hentikan pemegangnya", en: "Free a port: stop what holds it" },
  usage: "<port> [host]",
  role: "admin",
  args: z.object({ port: count(1, 65535), host: hostName.optional() }),
  parse(tokens) {
    if (tokens.length > 2) return "too_many";
    // `:3002`, as /ports writes it, is the port too.
    return { port: tokens[0]?.replace(/^:/, ""), host: tokens[1] };
  },
  scope: () => "host",
  destructive: {
    async plan(ctx, { port, host }) {
      const found = await locate(ctx, port, host);
      looked.set(ctx, found);
      if ("reply" in found) return null;
      const v = verdict(found, port);
      if (v.kind !== "stop") return null; // a refusal or nothing to do: run says so at once
      const now = ctx.clock.now();
      for (const [k, p] of planned) if (now - p.at > ctx.config.confirm.within * 2) planned.delete(k);
      planned.set(planKey(ctx, found.host.name, port), { pids: v.holders.map((h) => h.pid), at: now });
      return ctx.t("free.plan", { port, host: found.host.name, holders: labels(ctx, v.holders), grace: formatDuration(FREE_GRACE_MS) });
    },
  },
  async run(ctx, { port, host }) {
    const found = looked.get(ctx) ?? (await locate(ctx, port, host));
    if ("reply" in found) return { text: found.reply, host: found.host };
    const h = found.host;
    const v = verdict(found, port);
    const text = v.kind === "stop" ? await stop(ctx, h, port, v.holders) : refusal(ctx, h.name, port, v);
    return { text, host: h.name };
  },
});

function verdict(found: { host: Host; report: PortsReport }, port: number): FreeVerdict {
  const entry = found.report.ports.find((p) => p.port === port);
  const h = found.host;
  return freeVerdict(entry, { local: h.executor.kind === "local", selfPid: process.pid, sshPort: h.config.ssh?.port });
}

const labels = (ctx: Context, holders: PortHolder[]) => holders.map((x) => holderLabel(ctx.t, x)).join(", ");

/** The one host holding the port: the named one, or the only one of the fleet where it is held. */
async function locate(ctx: Context, port: number, host: string | undefined): Promise<Located> {
  const hosts = host ? [ctx.hosts.get(host)] : ctx.hosts.hosts;
  const call = hostCall(ctx);
  const reads = await Promise.all(hosts.map(async (h) => ({ h, r: await readPorts(h, { ...call, host: h.name, clock: ctx.clock }) })));
  if (hosts.length === 1) {
    const { h, r } = reads[0]!;
    return r.kind === "ok" ? { host: h, report: r.value } : { reply: hostFailure(ctx.t, h.name, r.error), host: h.name };
  }
  const holding = reads.filter(({ r }) => r.kind === "ok" && r.value.ports.some((p) => p.port === port));
  if (holding.length === 1) {
    const { h, r } = holding[0]!;
    if (r.kind === "ok") return { host: h, report: r.value };
  }
  if (holding.length > 1) return { reply: ctx.t("free.several", { port, hosts: holding.map(({ h }) => h.name).join(", ") }) };
  const failed = reads.flatMap(({ h, r }) => (r.kind === "ok" ? [] : [hostFailure(ctx.t, h.name, r.error)]));
  const answered = reads.filter(({ r }) => r.kind === "ok").map(({ h }) => h.name);
  return { reply: [ctx.t("free.nobody_fleet", { port, hosts: answered.join(", ") || "-" }), ...failed].join("\n") };
}

function refusal(ctx: Context, host: string, port: number, v: Exclude<FreeVerdict, { kind: "stop" }>): string {
  switch (v.kind) {
    case "nobody":
      return ctx.t("free.nobody", { port, host });
    case "hidden":
      return ctx.t("free.hidden", { port, host });
    case "pm2":
      return ctx.t("free.pm2", { port, host, app: v.app, pid: v.holder.pid });
    case "self":
      return ctx.t("free.self", { port, host, pid: v.holder?.pid ?? process.pid });
    case "sshd":
      return ctx.t("free.sshd", { port, host });
    case "init":
      return ctx.t("free.init", { port, host, pid: v.holder.pid });
  }
}

async function stop(ctx: Context, h: Host, port: number, holders: PortHolder[]): Promise<string> {
  const key = planKey(ctx, h.name, port);
  const plan = planned.get(key);
  planned.delete(key);
  const pids = holders.map((x) => x.pid);
  // Signal only what was confirmed: a holder that changed since the plan was never shown.
  if (!plan || plan.pids.length !== pids.length || !pids.every((p) => plan.pids.includes(p))) {
    return ctx.t("free.changed", { port, host: h.name, holders: labels(ctx, holders) });
  }
  const result = await stopHolders(h, pids, { clock: ctx.clock, exec: () => hostCall(ctx), graceMs: FREE_GRACE_MS });
  const named = (list: number[]) => labels(ctx, holders.filter((x) => list.includes(x.pid)));
  const lines: string[] = [];
  if (result.termed.length) lines.push(ctx.t("free.termed", { holders: named(result.termed) }));
  if (result.killed.length) lines.push(ctx.t("free.killed", { grace: formatDuration(FREE_GRACE_MS), holders: named(result.killed) }));
  if (result.left.length) lines.push(ctx.t("free.left", { holders: named(result.left) }));
  if (result.refused) lines.push(ctx.t("free.refused", { detail: result.refused }));
  const after = await readPorts(h, { ...hostCall(ctx), host: h.name, clock: ctx.clock });
  if (after.kind !== "ok") lines.push(hostFailure(ctx.t, h.name, after.error));
  else {
    const still = after.value.ports.find((p) => p.port === port);
    lines.push(
      still
        ? ctx.t("free.still_held", { port, host: h.name, holders: still.holders.length ? labels(ctx, still.holders) : ctx.t("ports.hidden") })
        : ctx.t("free.now_free", { port, host: h.name }),
    );
  }
  return lines.join("\n");
}
