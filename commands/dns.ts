/**
 * `/dns check [host]`: does name resolution work on the host, the way its apps resolve
 * (`getent`, so /etc/hosts, nsswitch and /etc/resolv.conf all count), and which nameservers
 * it uses. Report 001: DNS broke on the box and the bot spun at 100 % CPU.
 */
import { z } from "zod";
import type { ExecOptions } from "../src/hosts/executor.js";
import type { Host } from "../src/hosts/inventory.js";
import { dnsProbe } from "../src/ops/dns.js";
import { runProbe } from "../src/ops/probe.js";
import { hostName } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";
import type { Context } from "../src/pipeline/context.js";
import { hostCall, hostFailure } from "../src/pipeline/host-call.js";

export default defineCommand({
  name: "dns",
  summary: { id: "Periksa DNS di host", en: "Check DNS on a host" },
  usage: "check [host]",
  role: "operator",
  args: z.object({ action: z.literal("check", { message: "args.bad" }).default("check"), host: hostName.optional() }),
  parse(tokens, ctx) {
    if (tokens.length > 2) return "too_many";
    const [first, second] = tokens;
    if (first !== undefined && first !== "check" && second === undefined && ctx.config.hosts.some((h) => h.name === first)) return { host: first };
    return { action: first, host: second };
  },
  async run(ctx, { host }) {
    const hosts = host ? [ctx.hosts.get(host)] : ctx.hosts.hosts;
    // Each host has its own deadline, long enough for a resolver's own timeouts (a slow
    // resolver is what this command is for): a silent host costs its own line, not the others'.
    const call = hostCall(ctx, Math.max(ctx.config.hostTimeout, dnsProbe.timeoutMs));
    const sections = await Promise.all(hosts.map((h) => checkOn(ctx, h, call).catch((err: unknown) => hostFailure(ctx.t, h.name, err))));
    return { text: sections.join("\n"), host: host ?? (hosts.length === 1 ? hosts[0]!.name : undefined) };
  },
});

async function checkOn(ctx: Context, h: Host, call: ExecOptions): Promise<string> {
  const name = ctx.config.watch.dns.name;
  const r = await runProbe(h.executor, dnsProbe, [name], { ...call, host: h.name, clock: ctx.clock });
  if (r.kind === "timed_out") return ctx.t("dns.timeout", { host: h.name });
  if (r.kind === "no_answer") return hostFailure(ctx.t, h.name, r.error);
  const { state, code, nameservers } = r.value;
  const servers = nameservers.join(", ") || "-";
  switch (state) {
    case "resolves":
      return ctx.t("dns.ok", { host: h.name, name, servers });
    case "not_found":
      return `${ctx.t("dns.fail", { host: h.name, name, servers })}\n${ctx.t("dns.hint")}`;
    case "getent_missing":
      return ctx.t("dns.getent_missing", { host: h.name, name, servers });
    case "check_failed":
      return ctx.t("dns.check_failed", { host: h.name, name, code: code ?? "?", servers });
  }
}
