/**
 * `/dns check [host]`: does name resolution work on the host, the way its apps resolve
 * (`getent`, so /etc/hosts, nsswitch and resolv.conf all count), who manages its resolv.conf
 * (systemd-resolved in stub, uplink, static or foreign mode, NetworkManager, resolvconf, a plain
 * file), and how each current nameserver and each candidate (`dns.candidates`) answers for
 * `watch.dns.name` from the host, timed. Report 001: DNS broke on the box, the bot spun at
 * 100 % CPU, and the admin edited /etc/resolv.conf by hand at 6 a.m.
 *
 * `/dns fix [host] [--persist]` (admin, confirmed): the plan first — what changes, from what to
 * what, for how long — then snapshot, apply, verify with getent, and roll back at once unless
 * it resolves (src/ops/dns-fix.ts). `/dns undo [host]` (admin, confirmed) restores the last
 * snapshot. Before and after go into the audit row and onto an open DNS incident's timeline.
 */
import { z } from "zod";
import { formatDuration } from "../src/duration.js";
import type { ExecOptions } from "../src/hosts/executor.js";
import type { Host } from "../src/hosts/inventory.js";
import type { MessageKey } from "../src/i18n/index.js";
import { askArgs, askProbe, inOrder, type Asked } from "../src/ops/dns-ask.js";
import { applyFix, applyUndo, planFix, planUndo, readProbe, type FixOutcome, type FixPlan, type Refusal, type UndoPlan, type Verdict } from "../src/ops/dns-fix.js";
import { dnsArgs, dnsProbe, type DnsCheck } from "../src/ops/dns.js";
import { runProbe, type ProbeResult } from "../src/ops/probe.js";
import { currentServers, describeSetup, setupProbe, uplinkOf, type ResolvSetup, type Writer } from "../src/ops/resolv.js";
import { hostName } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";
import type { Context } from "../src/pipeline/context.js";
import { eachHost, hostCall, hostFailure } from "../src/pipeline/host-call.js";

const ACTIONS = ["check", "fix", "undo"] as const;
type Action = (typeof ACTIONS)[number];

/** Time kept back from the command's own for a rollback after a failed verification. */
export const ROLLBACK_RESERVE_MS = 5_000;
/** Below this much time for getent, a fix is not started at all. */
const MIN_VERIFY_MS = 1_000;

/** A plan waiting for its /yes, by sender, host and action: the run does exactly this. */
type Waiting = { kind: "fix"; plan: Exclude<FixPlan, { kind: "refused" }> } | { kind: "undo"; plan: Exclude<UndoPlan, { kind: "refused" }> };
const planned = new Map<string, Waiting & { at: number }>();
const planKey = (ctx: Context, host: string, action: Action) => `${ctx.message.senderId}\u0000${host}\u0000${action}`;
/** What the plan step found when it needs no confirmation (a refusal): run answers it. */
const looked = new WeakMap<Context, { reply: string; host?: string }>();

export default defineCommand({
  name: "dns",
  summary: { id: "Periksa DNS di host; `fix` memperbaiki, `undo` membatalkan", en: "Check DNS on a host; `fix` mends it, `undo` takes a fix back" },
  usage: "[check|fix|undo] [host] [--persist]",
  role: "operator",
  roleFor: (args) => (args.action === "fix" || args.action === "undo" ? "admin" : "operator"),
  args: z.object({
    action: z.enum(ACTIONS, { message: "args.bad" }).default("check"),
    host: hostName.optional(),
    persist: z.boolean({ message: "args.bad" }).default(false),
  }),
  parse(tokens, ctx) {
    const flags = tokens.filter((t) => t.startsWith("--"));
    const words = tokens.filter((t) => !t.startsWith("--"));
    if (words.length > 2 || flags.length > 1) return "too_many";
    const [first, second] = words;
    const raw: Record<string, unknown> =
      first !== undefined && !(ACTIONS as readonly string[]).includes(first) && second === undefined && ctx.config.hosts.some((h) => h.name === first)
        ? { host: first }
        : { action: first, host: second };
    // `--persist` belongs to /dns fix alone; anything else is refused as a bad value.
    if (flags.length) raw.persist = flags[0] === "--persist" && raw.action === "fix" ? true : flags[0];
    return raw;
  },
  scope: (a) => (a.action === "check" ? "none" : "host"),
  destructive: {
    async plan(ctx, { action, host, persist }) {
      if (action === "check") return null;
      const h = target(ctx, host, action);
      if ("reply" in h) return remember(ctx, h);
      const prepared = action === "fix" ? await prepareFix(ctx, h.host, persist) : await prepareUndo(ctx, h.host);
      if ("reply" in prepared) return remember(ctx, prepared);
      const now = ctx.clock.now();
      for (const [k, p] of planned) if (now - p.at > ctx.config.confirm.within * 2) planned.delete(k);
      planned.set(planKey(ctx, h.host.name, action), { ...prepared.waiting, at: now });
      return prepared.text;
    },
  },
  async run(ctx, { action, host }) {
    if (action === "check") {
      const { sections, host: about } = await eachHost(ctx, host, (h) => checkOn(ctx, h));
      return { text: sections.join("\n\n"), host: about };
    }
    const found = looked.get(ctx);
    if (found) return { text: found.reply, host: found.host };
    const h = target(ctx, host, action);
    if ("reply" in h) return { text: h.reply };
    const key = planKey(ctx, h.host.name, action);
    const waiting = planned.get(key);
    planned.delete(key);
    if (!waiting) return { text: ctx.t("dns.fix.gone", { host: h.host.name, action }), host: h.host.name };
    return waiting.kind === "fix" ? runFix(ctx, h.host, waiting.plan) : runUndo(ctx, h.host, waiting.plan);
  },
});

function remember(ctx: Context, found: { reply: string; host?: string }): null {
  looked.set(ctx, found);
  return null;
}

/** The one host a fix or an undo is for: the named one, or the fleet's only one. */
function target(ctx: Context, host: string | undefined, action: Action): { host: Host } | { reply: string } {
  if (host) return { host: ctx.hosts.get(host) };
  const all = ctx.hosts.hosts;
  if (all.length === 1) return { host: all[0]! };
  return { reply: ctx.t("dns.fix.which_host", { action, hosts: all.map((h) => h.name).join(", ") }) };
}

// ── reading ──────────────────────────────────────────────────────────────────────────────

/** Options for one probe started now, with at least `ms` of the host's time when the command has it. */
const call = (ctx: Context, h: Host, ms = ctx.config.hostTimeout) => ({ ...hostCall(ctx, Math.max(ctx.config.hostTimeout, ms)), host: h.name, clock: ctx.clock });

const askBudget = (ctx: Context) => ctx.config.dns.timeout + 5_000;

async function getent(ctx: Context, h: Host): Promise<ProbeResult<DnsCheck>> {
  return runProbe(h.executor, dnsProbe, dnsArgs(ctx.config.watch.dns.name, h.config.paths), call(ctx, h, dnsProbe.timeoutMs));
}

async function readSetupOf(ctx: Context, h: Host): Promise<ProbeResult<ResolvSetup>> {
  const r = await runProbe(h.executor, setupProbe, [h.config.paths.resolvConf, h.config.paths.resolvedDropIn], call(ctx, h));
  return r.kind === "ok" ? { kind: "ok", value: describeSetup(r.value, h.config.paths) } : r;
}

/** Each server asked from the host for `watch.dns.name`, timed; null when the host has no node. */
async function ask(ctx: Context, h: Host, servers: readonly string[]): Promise<Asked[] | null> {
  const timeoutMs = ctx.config.dns.timeout;
  const args = askArgs({ pm2Bin: h.config.pm2Bin, name: ctx.config.watch.dns.name, timeoutMs, servers });
  const r = await runProbe(h.executor, askProbe, args, call(ctx, h, askBudget(ctx)));
  if (r.kind !== "ok") return inOrder({ asked: true, results: [] }, servers, timeoutMs);
  return r.value.asked ? inOrder(r.value, servers, timeoutMs) : null;
}

// ── /dns check ───────────────────────────────────────────────────────────────────────────

async function checkOn(ctx: Context, h: Host): Promise<string> {
  const name = ctx.config.watch.dns.name;
  const candidates = ctx.config.dns.candidates;
  const setupAndAsk = (async () => {
    const setup = await readSetupOf(ctx, h);
    if (setup.kind !== "ok") return { setup, asked: null };
    const current = currentServers(setup.value);
    const asked = await ask(ctx, h, [...new Set([...current, ...candidates])]);
    return { setup, current, asked };
  })();
  const [r, more] = await Promise.all([getent(ctx, h), setupAndAsk]);
  if (r.kind === "timed_out") return ctx.t("dns.timeout", { host: h.name });
  if (r.kind === "no_answer") return hostFailure(ctx.t, h.name, r.error);
  const { state, code, nameservers } = r.value;
  const servers = nameservers.join(", ") || "-";
  const lines: string[] = [];
  switch (state) {
    case "resolves":
      lines.push(ctx.t("dns.ok", { host: h.name, name, servers }));
      break;
    case "not_found":
      lines.push(ctx.t("dns.fail", { host: h.name, name, servers }));
      break;
    case "getent_missing":
      lines.push(ctx.t("dns.getent_missing", { host: h.name, name, servers }));
      break;
    case "check_failed":
      lines.push(ctx.t("dns.check_failed", { host: h.name, name, code: code ?? "?", servers }));
      break;
  }
  if (more.setup.kind !== "ok") {
    lines.push(ctx.t("dns.setup_unread"));
    if (state === "not_found") lines.push(ctx.t("dns.hint"));
    return lines.join("\n");
  }
  const setup = more.setup.value;
  lines.push(...setupLines(ctx, setup));
  const asked = more.asked;
  if (asked === null) {
    lines.push(ctx.t("dns.no_node"));
  } else {
    const of = (list: readonly string[]) => list.map((s) => askedLine(ctx, asked.find((a) => a.server === s)!));
    lines.push(ctx.t("dns.now"), ...(more.current?.length ? of(more.current) : [ctx.t("dns.none")]));
    lines.push(ctx.t("dns.candidates"), ...of(candidates));
  }
  if (state === "not_found") {
    const usable = asked === null || candidates.some((c) => asked.find((a) => a.server === c)?.outcome === "answers");
    lines.push(usable ? ctx.t("dns.hint_fix", { host: h.name }) : ctx.t("dns.hint"));
  }
  return lines.join("\n");
}

const WRITERS: Record<Writer, string> = {
  networkmanager: "NetworkManager",
  resolvconf: "resolvconf",
  netconfig: "netconfig",
  connman: "ConnMan",
  dhclient: "dhclient (DHCP)",
  dhcpcd: "dhcpcd (DHCP)",
  udhcpc: "udhcpc (DHCP)",
  docker: "Docker",
  wsl: "WSL",
  resolved: "systemd-resolved",
};

/** Who manages the file, in one or two lines. */
function setupLines(ctx: Context, s: ResolvSetup): string[] {
  const path = s.path;
  const lines: string[] = [];
  if (s.resolved === "stub" || s.resolved === "uplink" || s.resolved === "static") {
    lines.push(ctx.t(`dns.mode.${s.resolved}`, { path }));
    const uplink = uplinkOf(s);
    if (s.resolvectlError) lines.push(ctx.t("dns.resolvectl_failed", { detail: s.resolvectlError }));
    else if (!s.tools.resolvectl) lines.push(ctx.t("dns.resolvectl_missing"));
    else if (uplink) lines.push(ctx.t("dns.uplink", { link: uplink.name, servers: uplink.servers.join(", ") || "-" }));
    return lines;
  }
  if (s.shape === "missing") return [ctx.t("dns.mode.missing", { path })];
  if (s.shape === "other") return [ctx.t("dns.mode.other", { path })];
  if (s.shape === "link") return [ctx.t("dns.mode.link", { path, link: s.link ?? "?", owner: s.writer ? ` (${WRITERS[s.writer]})` : "" })];
  lines.push(ctx.t(s.resolved === "foreign" ? "dns.mode.foreign" : "dns.mode.file", { path }));
  if (s.writer) lines.push(writerLine(ctx, s.writer, s.writerFrom));
  return lines;
}

function writerLine(ctx: Context, writer: Writer, from: ResolvSetup["writerFrom"]): string {
  return ctx.t("dns.writer", {
    writer: WRITERS[writer],
    how: ctx.t(from === "process" ? "dns.writer_runs" : "dns.writer_signed"),
    when: ctx.t(`dns.when.${writer === "dhclient" || writer === "dhcpcd" || writer === "udhcpc" ? "dhcp" : writer}` as MessageKey),
  });
}

/** `500 ms`, `2s`: a resolver's timeout is often under a second. */
const shortDuration = (ms: number) => (ms < 1_000 ? `${ms} ms` : formatDuration(ms));

function askedLine(ctx: Context, a: Asked): string {
  const params = { server: a.server, ms: a.ms, code: a.code ?? "?", addresses: a.addresses.slice(0, 3).join(", "), timeout: shortDuration(ctx.config.dns.timeout) };
  return ctx.t(`dns.ask.${a.outcome}`, params);
}

// ── /dns fix ─────────────────────────────────────────────────────────────────────────────

type Prepared = { reply: string; host?: string } | { text: string; waiting: Waiting };

/** getent first (a name that resolves needs nothing), then the setup and the candidates. */
async function prepareFix(ctx: Context, h: Host, persist: boolean): Promise<Prepared> {
  const name = ctx.config.watch.dns.name;
  const [r, setupR] = await Promise.all([getent(ctx, h), readSetupOf(ctx, h)]);
  const refuse = (reply: string) => ({ reply, host: h.name });
  if (r.kind === "timed_out") return refuse(ctx.t("dns.timeout", { host: h.name }));
  if (r.kind === "no_answer") return refuse(hostFailure(ctx.t, h.name, r.error));
  if (r.value.state === "resolves") return refuse(ctx.t("dns.fix.resolves", { host: h.name, name }));
  if (r.value.state === "getent_missing") return refuse(ctx.t("dns.fix.no_getent", { host: h.name }));
  if (r.value.state === "check_failed") return refuse(ctx.t("dns.fix.check_failed", { host: h.name, code: r.value.code ?? "?" }));
  if (setupR.kind === "timed_out") return refuse(ctx.t("dns.timeout", { host: h.name }));
  if (setupR.kind === "no_answer") return refuse(hostFailure(ctx.t, h.name, setupR.error));
  const setup = setupR.value;
  const candidates = await ask(ctx, h, ctx.config.dns.candidates);
  const plan = planFix({ setup, candidates, configured: ctx.config.dns.candidates, persist, at: ctx.clock.now() });
  if (plan.kind === "refused") return refuse(refusal(ctx, h, setup, plan, candidates));
  return { text: planText(ctx, h, setup, plan, candidates), waiting: { kind: "fix", plan } };
}

const list = (servers: readonly string[]) => (servers.length ? servers.map((s) => `\`${s}\``).join(" ") : "-");

function refusal(ctx: Context, h: Host, s: ResolvSetup, r: Refusal, candidates: Asked[] | null): string {
  const base = { host: h.name, path: s.path, name: ctx.config.watch.dns.name };
  switch (r.reason) {
    case "symlink": {
      const hint = r.writer === "networkmanager" || r.writer === "resolvconf" || r.writer === "netconfig" ? ctx.t(`dns.link_hint.${r.writer}`, { servers: ctx.config.dns.candidates.join(",") }) : ctx.t("dns.link_hint.other");
      return ctx.t("dns.fix.symlink", { ...base, link: r.link, owner: r.writer ? ` (${WRITERS[r.writer]})` : "", hint });
    }
    case "no_candidate":
      return [ctx.t("dns.fix.no_candidate", base), ...(candidates ?? []).map((a) => askedLine(ctx, a))].join("\n");
    case "resolvectl_missing":
      return ctx.t("dns.fix.resolvectl_missing", { ...base, mode: r.mode });
    case "resolvectl_failed":
      return ctx.t("dns.fix.resolvectl_failed", { ...base, detail: r.detail });
    case "bad_snapshot":
      return ctx.t("dns.undo.bad", { ...base, snapshot: r.snapshot });
    case "missing":
    case "not_a_file":
    case "unreadable":
    case "no_uplink":
    case "no_snapshot":
      return ctx.t(`dns.fix.${r.reason}`, base);
  }
}

function planText(ctx: Context, h: Host, s: ResolvSetup, p: Exclude<FixPlan, { kind: "refused" }>, candidates: Asked[] | null): string {
  const base = { host: h.name, path: s.path, name: ctx.config.watch.dns.name, snapshot: p.snapshot, before: list(p.before), after: list(p.after) };
  const lines: string[] = [];
  if (p.kind === "file") {
    lines.push(ctx.t("dns.plan.file", base));
    if (p.foreign) lines.push(ctx.t("dns.plan.foreign"));
    if (p.writer) lines.push(writerLine(ctx, p.writer, p.writerFrom));
  } else if (p.kind === "resolvectl") {
    const undo = p.before.length ? `resolvectl dns ${p.link} ${p.before.join(" ")}` : `resolvectl revert ${p.link}`;
    lines.push(ctx.t("dns.plan.resolvectl", { ...base, mode: s.resolved ?? "?", link: p.link ?? "?", servers: p.after.join(" "), undo }));
  } else {
    lines.push(ctx.t("dns.plan.dropin", { ...base, mode: s.resolved ?? "?", dropin: p.dropIn, servers: p.after.join(" ") }));
  }
  if (candidates === null) lines.push(ctx.t("dns.plan.untested"));
  else lines.push(...candidates.map((a) => askedLine(ctx, a)));
  return lines.join("\n");
}

/** The open (or acknowledged) DNS incident of the host, if any: its timeline gets the before and after. */
async function dnsIncident(ctx: Context, host: string): Promise<number | null> {
  const open = await ctx.store.incidents.listOpen().catch(() => []);
  return open.find((i) => i.kind === "dns" && i.host === host)?.id ?? null;
}

/** getent through the host's resolver after a change, within what the command has left minus the rollback's reserve. */
function verifier(ctx: Context, h: Host, verifyMs: number): () => Promise<Verdict> {
  const name = ctx.config.watch.dns.name;
  return async () => {
    const r = await runProbe(h.executor, dnsProbe, dnsArgs(name, h.config.paths), { timeoutMs: verifyMs, host: h.name, clock: ctx.clock });
    if (r.kind === "timed_out") return { ok: false, detail: `getent hosts ${name}: no answer in ${shortDuration(verifyMs)}` };
    if (r.kind === "no_answer") return { ok: false, detail: `getent hosts ${name}: the host did not answer` };
    const v = r.value;
    const said = v.state === "resolves" ? "resolves" : v.state === "not_found" ? "not found" : v.state === "getent_missing" ? "getent missing" : `exit ${v.code}`;
    return { ok: v.state === "resolves", detail: `getent hosts ${name}: ${said}` };
  };
}

/** Options for a step that puts things back: a deadline of its own, no command signal (see FixIo.rescue). */
const rescue = (ctx: Context): ExecOptions => ({ timeoutMs: ctx.config.hostTimeout });

async function runFix(ctx: Context, h: Host, plan: Exclude<FixPlan, { kind: "refused" }>) {
  const verifyMs = Math.min(dnsProbe.timeoutMs, ctx.deadline - ctx.clock.now() - ROLLBACK_RESERVE_MS);
  if (verifyMs < MIN_VERIFY_MS) return { text: ctx.t("dns.fix.short", { host: h.name }), host: h.name };
  const done = await applyFix(h, plan, { clock: ctx.clock, exec: () => hostCall(ctx), rescue: () => rescue(ctx), verify: verifier(ctx, h, verifyMs) });
  const base = { host: h.name, path: plan.paths.resolvConf, name: ctx.config.watch.dns.name, snapshot: plan.snapshot, before: list(plan.before), after: list(plan.after) };
  const text = outcomeText(ctx, done, base);
  const result = done.result === "verified" ? ctx.t("dns.result.verified") : ctx.t(`dns.result.${done.result}`, { detail: done.detail });
  const incident = await dnsIncident(ctx, h.name);
  return {
    text,
    host: h.name,
    failed: done.result !== "verified",
    audit: { before: plan.before, after: plan.after, result: done.result, snapshot: plan.snapshot, detail: done.detail },
    ...(incident !== null ? { timeline: { incident, detail: ctx.t("dns.timeline.fix", { host: h.name, before: plan.before.join(", ") || "-", after: plan.after.join(", "), result }) } } : {}),
  };
}

function outcomeText(ctx: Context, done: FixOutcome, base: Record<string, string>): string {
  switch (done.result) {
    case "verified":
      return ctx.t("dns.fix.verified", base);
    case "rolled_back":
      return ctx.t("dns.fix.rolled_back", { ...base, why: ctx.t(`dns.why.${done.why}`, { ...base, detail: done.detail }) });
    case "not_changed":
      return ctx.t("dns.fix.not_changed", { ...base, detail: done.detail });
    case "rollback_failed":
      return ctx.t("dns.fix.rollback_failed", { ...base, detail: done.detail });
  }
}

// ── /dns undo ────────────────────────────────────────────────────────────────────────────

async function prepareUndo(ctx: Context, h: Host): Promise<Prepared> {
  const setupR = await readSetupOf(ctx, h);
  const refuse = (reply: string) => ({ reply, host: h.name });
  if (setupR.kind === "timed_out") return refuse(ctx.t("dns.timeout", { host: h.name }));
  if (setupR.kind === "no_answer") return refuse(hostFailure(ctx.t, h.name, setupR.error));
  const setup = setupR.value;
  const newest = setup.snapshots.at(-1);
  let content: string | null = null;
  if (newest) {
    const r = await runProbe(h.executor, readProbe, [newest], call(ctx, h));
    content = r.kind === "ok" ? r.value : null;
  }
  const plan = planUndo(setup, content);
  if (plan.kind === "refused") return refuse(refusal(ctx, h, setup, plan, null));
  const base = { host: h.name, path: setup.path, snapshot: plan.snapshot, before: list(plan.before), after: list(plan.after) };
  const text = plan.kind === "file" ? ctx.t("dns.undo.plan_file", base) : ctx.t(plan.restore.kind === "resolvectl" ? "dns.undo.plan_resolvectl" : "dns.undo.plan_dropin", { ...base, link: plan.restore.kind === "resolvectl" ? plan.restore.link : "", dropin: plan.restore.kind === "dropin" ? plan.restore.dropIn : "" });
  return { text, waiting: { kind: "undo", plan } };
}

async function runUndo(ctx: Context, h: Host, plan: Exclude<UndoPlan, { kind: "refused" }>) {
  const verifyMs = Math.max(MIN_VERIFY_MS, Math.min(dnsProbe.timeoutMs, ctx.deadline - ctx.clock.now() - ROLLBACK_RESERVE_MS));
  const done = await applyUndo(h, plan, { clock: ctx.clock, exec: () => hostCall(ctx), rescue: () => rescue(ctx), verify: verifier(ctx, h, verifyMs) }, h.config.paths.resolvedDropIn);
  const base = { host: h.name, path: plan.path, name: ctx.config.watch.dns.name, snapshot: plan.snapshot, before: list(plan.before), after: list(plan.after) };
  const incident = await dnsIncident(ctx, h.name);
  if (done.result === "not_changed") {
    return { text: ctx.t("dns.undo.not_changed", { ...base, detail: done.detail }), host: h.name, failed: true, audit: { before: plan.before, after: plan.before, result: "not_changed", snapshot: plan.snapshot, detail: done.detail } };
  }
  const verdict = done.verdict.ok ? ctx.t("dns.verdict.ok") : ctx.t("dns.verdict.fail", { detail: done.verdict.detail });
  return {
    text: ctx.t("dns.undo.done", { ...base, verdict }),
    host: h.name,
    audit: { before: plan.before, after: plan.after, result: "restored", snapshot: plan.snapshot, detail: done.verdict.detail },
    ...(incident !== null ? { timeline: { incident, detail: ctx.t("dns.timeline.undo", { host: h.name, before: plan.before.join(", ") || "-", after: plan.after.join(", ") || "-", verdict }) } } : {}),
  };
}
