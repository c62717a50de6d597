/**
 * `/diag [host]`: the first sixty seconds of an expert, in one phone-sized message, findings
 * first — the app in trouble with its restarts and its classified error line, a disk or its
 * inodes running out, OOM kills, load past the cores, pressure, failed units, DNS — then one
 * compact line per area. Every host is read at once (src/ops/diag.ts: one script whose
 * sections run in parallel on the host), each within its own deadline: a frozen host costs its
 * own line. Everything that came from a host is cleaned of control characters and masked
 * (log lines carry NIKs and tokens) before it is shown.
 */
import { z } from "zod";
import type { Config } from "../src/config/load.js";
import { formatBytes, formatClock, formatDuration } from "../src/duration.js";
import { isJagaError } from "../src/errors.js";
import type { Host } from "../src/hosts/inventory.js";
import type { Translate } from "../src/i18n/index.js";
import { inTrouble, readDiag, type DiagReport, type HostDiag } from "../src/ops/diag.js";
import { groupApps, type Pm2App } from "../src/ops/pm2.js";
import type { PortEntry, PortHolder } from "../src/ops/ports.js";
import { vitalsPaths } from "../src/ops/vitals.js";
import { hostName } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";
import type { Context } from "../src/pipeline/context.js";
import { eachHost, hostCall, hostFailure } from "../src/pipeline/host-call.js";
import type { Incident } from "../src/store/store.js";
import { echo, redact, stripControls } from "../src/text.js";
import type { StopMark } from "../src/watch/app-down.js";
import { classify, databaseName, type Cause } from "../src/watch/classify.js";

/** One host's answer stays within this (a phone screen or two); lines are dropped, least telling first. */
export const MAX_HOST_CHARS = 1500;
const MAX_FINDINGS = 12;
const MAX_PORTS = 10;

export default defineCommand({
  name: "diag",
  summary: { id: "Diagnosis cepat host: temuan dulu", en: "A host's quick diagnosis, findings first" },
  usage: "[host]",
  role: "operator",
  args: z.object({ host: hostName.optional() }),
  positional: ["host"],
  async run(ctx, { host }) {
    const call = hostCall(ctx);
    const open = await ctx.store.incidents.listOpen().catch(() => [] as Incident[]);
    const { sections, host: about } = await eachHost(ctx, host, (h) => diagOn(ctx, h, call.timeoutMs, open));
    return { text: sections.join("\n\n"), host: about };
  },
});

async function diagOn(ctx: Context, h: Host, timeoutMs: number | undefined, open: Incident[]): Promise<string> {
  const incidents = open.filter((i) => i.host === h.name);
  const flagged = new Set(incidents.filter((i) => i.app).map((i) => i.app));
  const diag = await readDiag(h, {
    ...ctx.exec,
    timeoutMs,
    host: h.name,
    clock: ctx.clock,
    dnsName: ctx.config.watch.dns.name,
    // The disks that matter (/, the PM2 home, Jaga's data) and where logs and temp files grow.
    paths: [...new Set([...vitalsPaths(h.config, ctx.config.dataDir), "/var", "/tmp"])],
    flagged,
  });
  return formatDiag(ctx.t, {
    host: h.name,
    diag,
    config: ctx.config,
    incidents,
    stoppedBy: (app) => ctx.services.watch?.stoppedBy(h.name, app),
    now: ctx.clock.now(),
  });
}

/** What {@link formatDiag} reads besides the host's answer. */
export interface DiagView {
  host: string;
  diag: HostDiag;
  config: Pick<Config, "watch" | "timezone">;
  /** Open incidents on this host. */
  incidents: Incident[];
  stoppedBy(app: string): StopMark | undefined;
  now: number;
}

type Level = "red" | "orange" | "yellow" | "info";
const ICON: Record<Level, string> = { red: "🔴", orange: "🟠", yellow: "🟡", info: "ℹ️" };
const RANK: Record<Level, number> = { red: 0, orange: 1, yellow: 2, info: 3 };

interface Finding {
  level: Level;
  text: string;
  /** Lines shown under it (an app's error line), dropped first when the message is too long. */
  detail?: string[];
}

/** Host text as it may be shown: no control characters, secrets and NIKs masked, one line, bounded, no backticks. */
const clean = (s: string, max = 120) => echo(redact(stripControls(s)), max);

/**
 * One host's diagnosis as chat text: its title, the findings (worst first), then one compact
 * line per area. A host that answered nothing is its one failure line.
 *
 * @example
 * formatDiag(t, { host: "stb", diag, config, incidents: [], stoppedBy: () => undefined, now });
 * // "🩺 *stb* · up 12d · 0.9 s\n🔴 `bot-kjp` errored · 183 restarts · EADDRINUSE :3002 held by `web`\n…"
 */
export function formatDiag(t: Translate, v: DiagView): string {
  const { diag, host } = v;
  const report = diag.report.kind === "ok" ? diag.report.value : null;
  if (!report && diag.pm2.state === "failed" && diag.ports.kind !== "ok") {
    // Nothing came back: the host's own reason, once (a frozen host: "no answer in 8 s").
    return failureLine(t, host, diag.report.kind === "ok" ? diag.pm2.error : diag.report.error);
  }
  const apps = diag.pm2.state === "ok" ? groupApps(diag.pm2.processes) : [];
  const ports = diag.ports.kind === "ok" ? diag.ports.value : null;
  const findings = [...appFindings(t, v, apps), ...(report ? hostFindings(t, v, report) : []), ...gapFindings(t, v, report)].sort(
    (a, b) => RANK[a.level] - RANK[b.level],
  );
  const shown = findings.slice(0, MAX_FINDINGS);
  const up = report?.system && Number.isFinite(report.system.uptimeSeconds) ? formatDuration(report.system.uptimeSeconds * 1000) : "?";
  const title = t("diag.title", { host, uptime: up, seconds: (diag.tookMs / 1000).toFixed(1) });
  const head: string[][] = shown.map((f) => [`${ICON[f.level]} ${f.text}`, ...(f.detail ?? []).map((d) => `   \`${d}\``)]);
  if (findings.length > shown.length) head.push([t("diag.more", { count: findings.length - shown.length })]);
  if (findings.length === 0) head.push([t("diag.all_clear")]);
  const areas = [
    appsLine(t, v, apps),
    ports ? portsLine(t, ports.ports, report) : null,
    report?.system ? systemLine(t, report) : null,
    report?.disks.length ? t("diag.disk_line", { disks: report.disks.map(diskText).join(" · ") }) : null,
    report ? dnsLine(t, v, report) : null,
    report ? kernelLine(t, report) : null,
    report ? journalLine(t, report) : null,
  ].filter((l): l is string => l !== null);
  return fit(title, head, areas, MAX_HOST_CHARS);
}

/**
 * The title, the findings and the area lines within `max` characters: area lines go first
 * (from the bottom), then the findings' detail lines, then findings from the least severe.
 */
function fit(title: string, findings: string[][], areas: string[], max: number): string {
  // No blank line inside: a blank line is what separates hosts.
  const text = () => [title, ...findings.flat(), ...areas].join("\n");
  while (text().length > max && areas.length > 0) areas.pop();
  for (let i = findings.length - 1; i >= 0 && text().length > max; i--) findings[i] = findings[i]!.slice(0, 1);
  while (text().length > max && findings.length > 1) findings.pop();
  const out = text();
  return out.length > max ? `${out.slice(0, max - 1)}…` : out;
}

function failureLine(t: Translate, host: string, err: unknown): string {
  if (isJagaError(err) || !(err instanceof Error)) return hostFailure(t, host, err);
  return t("diag.unreadable", { host, detail: clean(err.message, 160) });
}

// ---- findings ------------------------------------------------------------------------------

function appFindings(t: Translate, v: DiagView, apps: Pm2App[]): Finding[] {
  const out: Finding[] = [];
  const byApp = new Map(v.incidents.filter((i) => i.app).map((i) => [i.app, i]));
  const flagged = new Set(byApp.keys());
  const ports = v.diag.ports.kind === "ok" ? v.diag.ports.value.ports : [];
  for (const app of apps) {
    if (!inTrouble(app, v.now, flagged)) continue;
    const incident = byApp.get(app.name);
    const mark = app.status === "stopped" ? v.stoppedBy(app.name) : undefined;
    if (mark && !incident) {
      out.push({ level: "info", text: t("diag.app_stopped_by", { app: app.name, by: clean(mark.by, 40), ago: formatDuration(v.now - mark.at) }) });
      continue;
    }
    const lines = v.diag.errors.get(app.name) ?? [];
    const cause = lines.length ? classify(lines) : null;
    // Online a few seconds after a restart: a crash loop caught between two crashes, or a restart just now.
    const upFor = app.status === "online" && app.startedAt !== null ? v.now - app.startedAt : null;
    const status = upFor === null ? app.status : t("diag.up_for", { uptime: formatDuration(upFor) });
    // PM2's own count of restarts that came before `min_uptime`: it keeps dying right after start.
    const unstable = v.diag.pm2.state === "ok" && v.diag.pm2.processes.some((p) => p.name === app.name && p.unstableRestarts > 0);
    const parts = [t("diag.app", { app: app.name, status, count: app.restarts })];
    const label = cause ? causeLabel(t, cause, ports) : null;
    if (label) parts.push(label);
    if (incident) parts.push(`#${incident.id}`);
    const line = cause?.line ? clean(cause.line, 110) : null;
    out.push({ level: appLevel(app.status, incident, unstable), text: parts.join(" · "), ...(line ? { detail: [line] } : {}) });
  }
  if (v.diag.pm2.state === "failed") out.push({ level: "red", text: failureLine(t, v.host, v.diag.pm2.error) });
  return out;
}

/**
 * Errored, cycling through restarts, dying right after each start, or a storm still open: red,
 * whatever PM2 shows this very moment. Stopped with nothing open: yellow. Otherwise orange.
 */
function appLevel(status: string, incident: Incident | undefined, unstable: boolean): Level {
  if (status === "errored" || status === "waiting restart" || status === "launching" || unstable) return "red";
  if (incident?.kind === "restart_storm" || (incident && status === "stopped")) return "red";
  if (status === "stopped") return "yellow";
  return "orange";
}

/** The classified cause, short: `EADDRINUSE :3002 held by \`web\``. */
function causeLabel(t: Translate, cause: Cause, ports: PortEntry[]): string | null {
  switch (cause.cause) {
    case "port_in_use": {
      if (cause.port === null) return "EADDRINUSE";
      const entry = ports.find((p) => p.port === cause.port);
      const holder = entry?.holders[0];
      if (!entry) return t("diag.cause_port_free", { port: cause.port });
      return t("diag.cause_port", { port: cause.port, holder: holder ? holderText(holder) : t("diag.holder_hidden") });
    }
    case "dns":
      return t("diag.cause_dns", { name: clean(cause.name ?? "?", 60) });
    case "db_refused":
      return t("diag.cause_db", { db: databaseName(cause.port), port: cause.port });
    case "heap":
      return t("diag.cause_heap");
    case "unhandled_rejection":
      return t("diag.cause_unhandled");
    case "unknown":
      return null;
  }
}

function hostFindings(t: Translate, v: DiagView, r: DiagReport): Finding[] {
  const out: Finding[] = [];
  const w = v.config.watch;
  const s = r.system;
  if (s) {
    const load = s.load[0];
    if (load >= s.cores) out.push({ level: load >= 2 * s.cores ? "red" : "orange", text: t("diag.load", { load: load.toFixed(2), cores: s.cores }) });
    const mem = percent(s.memTotalBytes - s.memAvailableBytes, s.memTotalBytes);
    if (mem >= w.memory.percent) out.push({ level: "red", text: t("diag.memory", { percent: mem, free: formatBytes(s.memAvailableBytes) }) });
    const swap = percent(s.swapTotalBytes - s.swapFreeBytes, s.swapTotalBytes);
    if (s.swapTotalBytes > 0 && swap >= 50) out.push({ level: "orange", text: t("diag.swap", { percent: swap, total: formatBytes(s.swapTotalBytes) }) });
  }
  const p = r.pressure;
  if (p?.cpu && p.cpu.some.avg60 >= 25) out.push({ level: p.cpu.some.avg60 >= 60 ? "red" : "orange", text: t("diag.psi_cpu", { percent: Math.round(p.cpu.some.avg60) }) });
  if (p?.memory?.full && p.memory.full.avg60 >= 5) out.push({ level: "orange", text: t("diag.psi_memory", { percent: Math.round(p.memory.full.avg60) }) });
  if (p?.io?.full && p.io.full.avg60 >= 20) out.push({ level: "orange", text: t("diag.psi_io", { percent: Math.round(p.io.full.avg60) }) });
  for (const d of r.disks) {
    if (d.usedPercent >= w.disk.warning) {
      out.push({ level: d.usedPercent >= w.disk.critical ? "red" : "orange", text: t("diag.disk", { mount: clean(d.mount, 40), percent: d.usedPercent, size: formatBytes(d.sizeBytes) }) });
    }
    if (d.inodePercent !== null && d.inodePercent >= w.disk.warning) {
      out.push({ level: d.inodePercent >= w.disk.critical ? "red" : "orange", text: t("diag.inodes", { mount: clean(d.mount, 40), percent: d.inodePercent }) });
    }
  }
  if (r.connections && r.connections.closeWait >= 100) out.push({ level: "orange", text: t("diag.close_wait", { count: r.connections.closeWait }) });
  const apps = v.diag.pm2.state === "ok" ? v.diag.pm2.processes : [];
  const ooms = r.kernel.lines.filter((l) => l.kind === "oom");
  for (const k of ooms.slice(-3)) {
    const recent = k.at !== null && s !== null && s.hostNow - k.at < 86_400_000;
    // The app PM2 started again within half a minute of the kill is most likely the one killed.
    const after = k.at === null ? [] : [...new Set(apps.filter((a) => a.startedAt !== null && a.startedAt >= k.at! && a.startedAt - k.at! < 30_000).map((a) => a.name))];
    out.push({
      level: recent || k.at === null ? "orange" : "yellow",
      text: t("diag.oom", {
        at: k.at === null ? "?" : formatClock(k.at, v.config.timezone),
        comm: clean(k.comm ?? "?", 30),
        pid: k.pid ?? "?",
        app: after.length === 1 ? t("diag.oom_app", { app: after[0]! }) : "",
      }),
    });
  }
  if (ooms.length > 3) out.push({ level: "yellow", text: t("diag.oom_more", { count: ooms.length - 3 }) });
  const errors = r.kernel.lines.filter((l) => l.kind === "error");
  if (errors.length) out.push({ level: "orange", text: t("diag.kernel_errors", { count: errors.length }), detail: [clean(errors.at(-1)!.text, 110)] });
  if (r.kernel.state === "denied") out.push({ level: "info", text: t("diag.dmesg_denied", { reason: clean(r.kernel.reason ?? "", 80) }) });
  if (r.units.units.length) out.push({ level: "orange", text: t("diag.units_failed", { units: r.units.units.map((u) => `\`${clean(u, 50)}\``).join(", ") }) });
  if (r.journal.state === "limited") out.push({ level: "info", text: t("diag.journal_limited") });
  if (r.journal.count > 0) {
    const last = r.journal.last.at(-1);
    out.push({ level: "yellow", text: t("diag.journal_errors", { count: r.journal.count >= 500 ? "500+" : r.journal.count }), ...(last ? { detail: [clean(last, 110)] } : {}) });
  }
  const dns = r.dns;
  const name = clean(v.config.watch.dns.name, 60);
  if (dns?.state === "not_found") out.push({ level: "red", text: t("diag.dns_fail", { name }) });
  else if (dns?.state === "check_failed") out.push({ level: "orange", text: dns.code === 124 ? t("diag.dns_slow", { name }) : t("diag.dns_check_failed", { name, code: dns.code ?? "?" }) });
  if (dns && dns.nameservers.length === 0) out.push({ level: "orange", text: r.resolver?.absent ? t("diag.resolv_absent") : t("diag.no_nameservers") });
  return out;
}

/** What could not be read: missing tools, sections that did not arrive, parts that failed. */
function gapFindings(t: Translate, v: DiagView, r: DiagReport | null): Finding[] {
  const out: Finding[] = [];
  const ports = v.diag.ports.kind === "ok" ? v.diag.ports.value : null;
  const missing = [...new Set([...(r?.missing ?? []), ...(ports?.missing ?? [])])];
  if (missing.length) out.push({ level: "info", text: t("diag.missing", { tools: missing.map((m) => `\`${clean(m, 30)}\``).join(", ") }) });
  if (r?.slow.length) out.push({ level: "info", text: t("diag.slow", { tools: r.slow.map((x) => `\`${x}\``).join(", "), seconds: v.diag.toolSeconds }) });
  if (!r) {
    const err = v.diag.report.kind === "ok" ? null : v.diag.report.error;
    const detail = isJagaError(err) ? t(err.code, err.params) : err instanceof Error ? clean(err.message, 100) : "?";
    out.push({ level: "info", text: t("diag.report_failed", { detail }) });
  } else if (r.unread.length) {
    out.push({ level: "info", text: t("diag.unread", { sections: r.unread.join(", ") }) });
  }
  if (!ports) out.push({ level: "info", text: t("diag.ports_failed") });
  else if (ports.ports.length > 0 && ports.ports.every((p) => p.holders.length === 0)) out.push({ level: "info", text: t("diag.holders_hidden") });
  return out;
}

// ---- compact areas -------------------------------------------------------------------------

const APP_ICONS: Record<string, string> = { online: "✅", stopped: "⏸️", errored: "❌", "waiting restart": "🔁", launching: "🔁", stopping: "⏹️" };

function appsLine(t: Translate, v: DiagView, apps: Pm2App[]): string | null {
  if (v.diag.pm2.state === "failed") return null;
  if (apps.length === 0) return t("diag.apps_line", { apps: t("diag.no_apps") });
  const storm = v.config.watch.restartStorm.restarts;
  const flagged = new Set(v.incidents.filter((i) => i.app).map((i) => i.app));
  // Online this instant but in trouble (a crash loop between two crashes) is not ✅.
  const icon = (a: Pm2App) => (a.status === "online" && inTrouble(a, v.now, flagged) ? "🔁" : (APP_ICONS[a.status] ?? "❔"));
  const one = (a: Pm2App) => `${icon(a)} \`${a.name}\` ↻ ${a.restarts}${a.restarts > storm ? " ⚠️" : ""}`;
  if (apps.length <= 6) return t("diag.apps_line", { apps: apps.map(one).join(" · ") });
  const online = apps.filter((a) => a.status === "online" && a.restarts <= storm);
  const rest = apps.filter((a) => !online.includes(a)).slice(0, 6);
  return t("diag.apps_line", { apps: [t("diag.apps_online", { count: online.length }), ...rest.map(one)].join(" · ") });
}

function portsLine(t: Translate, ports: PortEntry[], r: DiagReport | null): string {
  const conns = r?.connections ?? null;
  if (ports.length === 0) return t("diag.ports_line", { ports: t("diag.no_ports") });
  // The apps' ports and SSH's first when not all fit, shown in port order.
  const key = (p: PortEntry) => p.holders.some((h) => h.app || isSshd(h));
  const picked = new Set([...ports.filter(key), ...ports.filter((p) => !key(p))].slice(0, MAX_PORTS));
  const shown = ports.filter((p) => picked.has(p)).map((p) => {
    const holder = p.holders[0];
    const who = holder ? holderText(holder) : "?";
    const where = addresses(p.addresses);
    // Connections where they matter: the apps' ports and SSH.
    const counted = holder && (holder.app || isSshd(holder)) && conns;
    const n = counted ? ` ⇄${conns.byPort.get(p.port) ?? 0}` : "";
    return `:${p.port}${where ? ` ${where}` : ""} ${who}${n}`;
  });
  if (ports.length > MAX_PORTS) shown.push(t("diag.more_ports", { count: ports.length - MAX_PORTS }));
  const totals = conns ? ` · ${t("diag.established", { count: conns.established })}` : "";
  return t("diag.ports_line", { ports: shown.join(" · ") + totals });
}

function isSshd(h: PortHolder): boolean {
  return h.comm === "sshd" || /(^|\/)sshd(\s|$)/.test(h.name);
}

/** A PM2 app by name, anything else by its kernel name (a phone has no room for command lines). */
function holderText(h: PortHolder): string {
  return h.app ? `\`${h.app}\`` : `\`${clean(h.comm || h.name, 24)}\``;
}

/** Listening everywhere (both families) needs no words; anything narrower is shown. */
function addresses(list: string[]): string {
  const all = new Set(["0.0.0.0", "[::]", "*"]);
  if (list.every((a) => all.has(a)) && (list.includes("*") || (list.includes("0.0.0.0") && list.includes("[::]")))) return "";
  return list.map((a) => clean(a, 40)).join(",");
}

function systemLine(t: Translate, r: DiagReport): string {
  const s = r.system!;
  const mem = percent(s.memTotalBytes - s.memAvailableBytes, s.memTotalBytes);
  const swap = s.swapTotalBytes > 0 ? `${percent(s.swapTotalBytes - s.swapFreeBytes, s.swapTotalBytes)}%` : t("diag.swap_none");
  const psi = r.pressure?.cpu ? `${Math.round(r.pressure.cpu.some.avg60)}%` : t("diag.psi_none");
  return t("diag.system_line", {
    load: s.load.map((l) => l.toFixed(2)).join(" "),
    cores: s.cores,
    psi,
    mem: `${mem}%`,
    total: formatBytes(s.memTotalBytes),
    swap,
  });
}

function diskText(d: DiagReport["disks"][number]): string {
  return `${clean(d.mount, 40)} ${d.usedPercent}%${d.inodePercent !== null ? ` (inodes ${d.inodePercent}%)` : ""}`;
}

function dnsLine(t: Translate, v: DiagView, r: DiagReport): string {
  const servers = r.dns?.nameservers.map((n) => clean(n, 40)).join(", ") || "-";
  const state = !r.dns ? "?" : r.dns.state === "resolves" ? "✅" : r.dns.state === "not_found" ? "❌" : "❔";
  const manager = r.resolver ? t("diag.resolv_by", { manager: r.resolver.manager === "file" ? t("diag.resolv_file") : clean(r.resolver.manager, 40) }) : "";
  return t("diag.dns_line", { name: clean(v.config.watch.dns.name, 60), state, servers, manager });
}

function kernelLine(t: Translate, r: DiagReport): string {
  const k = r.kernel;
  if (k.state === "missing") return t("diag.kernel_line", { text: t("diag.tool_missing", { tool: "dmesg" }) });
  if (k.state === "denied") return t("diag.kernel_line", { text: t("diag.unreadable_short") });
  if (k.state === "unread" || k.state === "slow") return t("diag.kernel_line", { text: "?" });
  const ooms = k.lines.filter((l) => l.kind === "oom").length;
  const errors = k.lines.length - ooms;
  return t("diag.kernel_line", { text: ooms + errors === 0 ? t("diag.kernel_clean") : t("diag.kernel_counts", { ooms, errors }) });
}

function journalLine(t: Translate, r: DiagReport): string {
  const j = r.journal;
  const journal =
    j.state === "missing"
      ? t("diag.tool_missing", { tool: "journalctl" })
      : j.state === "unread" || j.state === "slow"
        ? "?"
        : j.state === "empty"
          ? t("diag.journal_empty")
          : t("diag.journal_count", { count: j.count >= 500 ? "500+" : j.count });
  const u = r.units;
  const units =
    u.state === "missing"
      ? t("diag.tool_missing", { tool: "systemctl" })
      : u.state === "no_systemd"
        ? t("diag.no_systemd")
        : u.state === "unread" || u.state === "slow"
          ? "?"
          : u.units.length
            ? u.units.map((x) => clean(x, 40)).join(", ")
            : t("diag.units_none");
  return t("diag.journal_line", { journal, units });
}

function percent(part: number, whole: number): number {
  return whole > 0 ? Math.round((part / whole) * 100) : 0;
}
