/**
 * `/dns check [host]`: does name resolution work on the host, the way its apps resolve
 * (`getent`, so /etc/hosts, nsswitch and /etc/resolv.conf all count), and which nameservers
 * it uses. Report 001: DNS broke on the box and the bot spun at 100 % CPU.
 */
import { z } from "zod";
import { isNoAnswer, withDeadline } from "../src/hosts/deadline.js";
import type { ExecOptions } from "../src/hosts/executor.js";
import type { Host } from "../src/hosts/inventory.js";
import { hostName } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";
import type { Context } from "../src/pipeline/context.js";
import { hostCall, hostFailure } from "../src/pipeline/host-call.js";

const SECTION = "__jaga_ns__";
/** How long one host's check may take: getent waits out the resolver's own timeouts. */
const DNS_CHECK_MS = 15_000;
/** Constant script; the names come in as positional parameters. */
const SCRIPT = `for n in "$@"; do if getent hosts "$n" >/dev/null 2>&1; then echo "ok $n"; else echo "fail $n"; fi; done; echo ${SECTION}; grep -E '^nameserver' /etc/resolv.conf 2>/dev/null`;

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
    const call = hostCall(ctx, Math.max(ctx.config.hostTimeout, DNS_CHECK_MS));
    const sections = await Promise.all(hosts.map((h) => checkOn(ctx, h, call).catch((err: unknown) => hostFailure(ctx.t, h.name, err))));
    return { text: sections.join("\n"), host: host ?? (hosts.length === 1 ? hosts[0]!.name : undefined) };
  },
});

async function checkOn(ctx: Context, h: Host, call: ExecOptions): Promise<string> {
  const name = ctx.config.watch.dns.name;
  const r = await withDeadline(h.name, call, ctx.clock, (o) => h.executor.run(["sh", "-c", SCRIPT, "sh", name], o)).catch((err: unknown) => {
    if (isNoAnswer(err)) return null;
    throw err;
  });
  if (!r || r.timedOut) return ctx.t("dns.timeout", { host: h.name });
  const [results = "", ns = ""] = r.stdout.split(`${SECTION}\n`);
  const ok = results.includes(`ok ${name}`);
  const servers = ns
    .split("\n")
    .map((l) => l.replace(/^nameserver\s+/, "").trim())
    .filter(Boolean);
  const line = ctx.t(ok ? "dns.ok" : "dns.fail", { host: h.name, name, servers: servers.join(", ") || "-" });
  return ok ? line : `${line}\n${ctx.t("dns.hint")}`;
}
