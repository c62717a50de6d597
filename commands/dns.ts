/**
 * `/dns check [host]`: does name resolution work on the host, the way its apps resolve
 * (`getent`, so /etc/hosts, nsswitch and /etc/resolv.conf all count), and which nameservers
 * it uses. Report 001: DNS broke on the box and the bot spun at 100 % CPU.
 */
import { z } from "zod";
import { hostName } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";

const SECTION = "__jaga_ns__";
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
    const name = ctx.config.watch.dns.name;
    const sections = await Promise.all(
      hosts.map(async (h) => {
        const r = await h.executor.run(["sh", "-c", SCRIPT, "sh", name], { timeoutMs: 15_000, ...ctx.exec });
        if (r.timedOut) return ctx.t("dns.timeout", { host: h.name });
        const [results = "", ns = ""] = r.stdout.split(`${SECTION}\n`);
        const ok = results.includes(`ok ${name}`);
        const servers = ns
          .split("\n")
          .map((l) => l.replace(/^nameserver\s+/, "").trim())
          .filter(Boolean);
        const line = ctx.t(ok ? "dns.ok" : "dns.fail", { host: h.name, name, servers: servers.join(", ") || "-" });
        return ok ? line : `${line}\n${ctx.t("dns.hint")}`;
      }),
    );
    return { text: sections.join("\n"), host: host ?? (hosts.length === 1 ? hosts[0]!.name : undefined) };
  },
});
