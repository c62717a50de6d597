/**
 * `/dns fix` and `/dns undo` on a host: what would change (a plan, from the setup probe and the
 * candidates that answered), and doing it the way `netplan try` and `commit confirmed` do —
 * snapshot, apply, verify the way apps resolve (`getent`, by the caller's `verify`), and roll
 * back at once unless verification passes.
 *
 * What is changed depends on who manages resolv.conf (src/ops/resolv.ts):
 * - systemd-resolved (stub, uplink or static mode): the uplink's servers at runtime,
 *   `resolvectl dns <link> <servers…>` (until the link is configured again), or with `persist` a
 *   drop-in `<resolvedDropIn>/jaga-dns.conf` (`[Resolve]` `DNS=…`) and a restart of resolved.
 *   The symlink itself is never touched.
 * - a plain file: a byte copy next to it (`<path>.jaga-<stamp>`, `cp -p`), then the file
 *   rewritten *in place* with the candidates that answered, every other line kept. In place
 *   (`cp staged file` onto the existing file) rather than rename: the inode, owner, mode and
 *   any bind mount stay (in Docker and LXC /etc/resolv.conf is a bind mount, where a rename
 *   fails with EBUSY), and a sudoers rule can name `cp` instead of a shell.
 * - any other symlink (NetworkManager's, resolvconf's, netconfig's): never overwritten; the
 *   plan says whose it is and where to change it instead.
 *
 * Snapshots live on the host, next to the file, so `/dns undo` works after a Jaga restart, after
 * Jaga's own data is gone, and by hand at 6 a.m. without Jaga (`cp /etc/resolv.conf.jaga-… /etc/resolv.conf`).
 * For resolved the snapshot is a short text file (`<path>.jaga-<stamp>.resolved`) with the
 * link's servers, or the drop-in as it was. A snapshot is removed once it has been restored
 * (by a rollback or an undo): what stays is the way back from what is in place now.
 *
 * Privileged steps (`cp`, `rm`, `mkdir`, `resolvectl`, `systemctl`) go through
 * {@link runPrivileged} (`sudo -n` on hosts with `sudo: true` whose login is not root); staging
 * a file and reading one back run as the login. Every value is an argv element; the one sh
 * script here is constant and takes its content as `$1`.
 *
 * @example
 * const plan = planFix({ setup, candidates: asked, persist: false, stamp: stampOf(now), at: now });
 * if (plan.kind !== "refused") {
 *   const done = await applyFix(host, plan, { exec: () => hostCall(ctx), rescue, clock, verify });
 *   done.result; // "verified" | "rolled_back" | "not_changed" | "rollback_failed"
 * }
 */
import { isIP } from "node:net";
import type { Clock } from "../clock.js";
import { isJagaError } from "../errors.js";
import type { ExecOptions } from "../hosts/executor.js";
import { runPrivileged, type PrivilegedHost } from "../hosts/sudo.js";
import type { Asked } from "./dns-ask.js";
import { defineProbe, runProbe, type Probe } from "./probe.js";
import { describeSetup, nameserversOf, setupProbe, SNAPSHOT_RE, uplinkOf, type ResolvSetup, type Writer } from "./resolv.js";

/** glibc reads at most this many `nameserver` lines (MAXNS). */
export const MAX_NAMESERVERS = 3;

/** Why a fix or an undo will not be made; the chat says it in words. */
export type Refusal =
  /** The path is a symlink Jaga does not manage (NetworkManager's, resolvconf's…): never overwritten. */
  | { reason: "symlink"; link: string; writer: Writer | null }
  | { reason: "missing" }
  /** A directory, a device: not a resolv.conf. */
  | { reason: "not_a_file" }
  | { reason: "unreadable" }
  /** No candidate gave an address for the name from this host. */
  | { reason: "no_candidate" }
  | { reason: "resolvectl_missing"; mode: string }
  | { reason: "resolvectl_failed"; detail: string }
  /** resolved has no link with servers to change at runtime (`--persist` writes a drop-in instead). */
  | { reason: "no_uplink" }
  /** Undo: no snapshot next to the file. */
  | { reason: "no_snapshot" }
  | { reason: "bad_snapshot"; snapshot: string };

interface PlanBase {
  /** The resolv.conf path and resolved's drop-in directory it was planned for. */
  paths: { resolvConf: string; resolvedDropIn: string };
  /** The snapshot this change writes (fix) or restores (undo). */
  snapshot: string;
  /** Nameservers (or the link's servers) before, and after. */
  before: string[];
  after: string[];
}

export type FileFix = PlanBase & {
  kind: "file";
  /** The file as planned on: the run changes nothing if it is not still exactly this. */
  original: string;
  /** What it becomes. */
  content: string;
  writer: Writer | null;
  writerFrom: ResolvSetup["writerFrom"];
  /** resolved runs but this file is not its own. */
  foreign: boolean;
  /** False when the candidates could not be asked from the host (no node): getent decides alone. */
  tested: boolean;
};

export type ResolvedFix = PlanBase & {
  kind: "resolvectl" | "dropin";
  /** `resolvectl`: the uplink's name. */
  link: string | null;
  /** `dropin`: Jaga's drop-in file, and what it held before (null: absent). */
  dropIn: string;
  previous: string | null;
  /** The snapshot file's text (what undo reads back). */
  snapshotText: string;
  /** The drop-in's new text (`dropin`). */
  content: string;
  tested: boolean;
};

export type FixPlan = FileFix | ResolvedFix | ({ kind: "refused" } & Refusal);

/**
 * `20250101T060000Z`: the snapshot's stamp (UTC, sortable, one per second).
 *
 * @example
 * stampOf(Date.UTC(2025, 0, 1, 6, 0, 0)); // "20250101T060000Z"
 */
export function stampOf(at: number): string {
  return new Date(at).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
}

export interface PlanInput {
  /** From {@link setupProbe}, through {@link describeSetup}. */
  setup: ResolvSetup;
  /** The candidates as asked from the host, in config order; null when they could not be asked (no node). */
  candidates: Asked[] | null;
  /** `dns.candidates`, for when they could not be asked. */
  configured: readonly string[];
  /** A resolved drop-in instead of a runtime change. */
  persist: boolean;
  /** Epoch ms now (the snapshot's stamp and the note in the file). */
  at: number;
}

/**
 * What `/dns fix` would change on a host, or why it will not.
 *
 * @example
 * planFix({ setup, candidates, configured: ["1.1.1.1"], persist: false, at: Date.now() }).kind; // "file"
 */
export function planFix(i: PlanInput): FixPlan {
  const s = i.setup;
  const paths = { resolvConf: s.path, resolvedDropIn: s.dropIn.path.replace(/\/[^/]*$/, "") };
  const stamp = stampOf(i.at);
  const answering = i.candidates === null ? [...i.configured] : i.candidates.filter((c) => c.outcome === "answers").map((c) => c.server);
  const after = answering.filter((a) => isIP(a) !== 0).slice(0, MAX_NAMESERVERS);
  const tested = i.candidates !== null;
  const managed = s.resolved === "stub" || s.resolved === "uplink" || s.resolved === "static";

  if (s.shape === "missing" && !managed) return { kind: "refused", reason: "missing" };
  if (s.shape === "link" && !managed) return { kind: "refused", reason: "symlink", link: s.link ?? "?", writer: s.writer };
  if (s.shape === "other") return { kind: "refused", reason: "not_a_file" };
  if (after.length === 0) return { kind: "refused", reason: "no_candidate" };

  if (managed) {
    if (!s.tools.resolvectl) return { kind: "refused", reason: "resolvectl_missing", mode: s.resolved! };
    const snapshot = `${s.path}.jaga-${stamp}.resolved`;
    if (i.persist) {
      const before = s.global.length ? s.global : (uplinkOf(s)?.servers ?? []);
      return {
        kind: "dropin",
        paths,
        snapshot,
        before,
        after,
        link: null,
        dropIn: s.dropIn.path,
        previous: s.dropIn.content,
        snapshotText: snapshotText({ kind: "dropin", dropIn: s.dropIn.path, previous: s.dropIn.content }),
        content: dropInText(after, i.at),
        tested,
      };
    }
    if (s.resolvectlError !== null) return { kind: "refused", reason: "resolvectl_failed", detail: s.resolvectlError };
    const uplink = uplinkOf(s);
    if (!uplink) return { kind: "refused", reason: "no_uplink" };
    return {
      kind: "resolvectl",
      paths,
      snapshot,
      before: uplink.servers,
      after,
      link: uplink.name,
      dropIn: s.dropIn.path,
      previous: null,
      snapshotText: snapshotText({ kind: "resolvectl", link: uplink.name, servers: uplink.servers }),
      content: "",
      tested,
    };
  }

  if (s.content === null) return { kind: "refused", reason: "unreadable" };
  const snapshot = `${s.path}.jaga-${stamp}`;
  return {
    kind: "file",
    paths,
    snapshot,
    before: s.nameservers,
    after,
    original: s.content,
    content: rewriteResolvConf(s.content, after, { at: i.at, snapshot }),
    writer: s.writer,
    writerFrom: s.writerFrom,
    foreign: s.resolved === "foreign",
    tested,
  };
}

/**
 * The file with its `nameserver` lines replaced by `servers` (where the first one stood, else
 * at the end), every other line — comments, `search`, `options` — kept as it was, and a
 * comment on top saying what Jaga changed and where the snapshot is.
 *
 * @example
 * rewriteResolvConf("options timeout:1\nnameserver 10.0.0.1\n", ["1.1.1.1"], { at, snapshot: "/etc/resolv.conf.jaga-…" });
 * // "# Jaga /dns fix 2025-01-01T06:00:00Z: nameservers were 10.0.0.1; snapshot /etc/resolv.conf.jaga-… (/dns undo restores it)\noptions timeout:1\nnameserver 1.1.1.1\n"
 */
export function rewriteResolvConf(original: string, servers: readonly string[], note: { at: number; snapshot: string }): string {
  for (const s of servers) if (isIP(s) === 0) throw new TypeError(`not a nameserver address: ${s}`);
  const lines = original.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const was = nameserversOf(original);
  const fresh = servers.map((s) => `nameserver ${s}`);
  const out: string[] = [];
  let placed = false;
  for (const line of lines) {
    if (/^\s*nameserver(\s|$)/.test(line)) {
      if (!placed) out.push(...fresh);
      placed = true;
    } else if (!line.startsWith("# Jaga /dns fix ")) {
      out.push(line);
    }
  }
  if (!placed) out.push(...fresh);
  const when = new Date(note.at).toISOString().replace(/\.\d{3}Z$/, "Z");
  const header = `# Jaga /dns fix ${when}: nameservers were ${was.join(" ") || "none"}; snapshot ${note.snapshot} (/dns undo restores it)`;
  return `${[header, ...out].join("\n")}\n`;
}

/**
 * Jaga's resolved drop-in: global DNS servers, which resolved uses beside (and, for a link
 * without servers of its own, instead of) each link's.
 *
 * @example
 * dropInText(["1.1.1.1", "8.8.8.8"], at); // "# Written by Jaga /dns fix …\n[Resolve]\nDNS=1.1.1.1 8.8.8.8\n"
 */
export function dropInText(servers: readonly string[], at: number): string {
  for (const s of servers) if (isIP(s) === 0) throw new TypeError(`not a nameserver address: ${s}`);
  const when = new Date(at).toISOString().replace(/\.\d{3}Z$/, "Z");
  return `# Written by Jaga /dns fix ${when}; /dns undo removes it\n[Resolve]\nDNS=${servers.join(" ")}\n`;
}

/** What a resolved snapshot records. */
export type ResolvedSnapshot = { kind: "resolvectl"; link: string; servers: string[] } | { kind: "dropin"; dropIn: string; previous: string | null };

const SNAPSHOT_HEAD = "# Jaga /dns fix snapshot of systemd-resolved before the fix; /dns undo restores it";

/**
 * The snapshot file's text: one fact per line, the drop-in's old lines prefixed `was `.
 *
 * @example
 * snapshotText({ kind: "resolvectl", link: "eth0", servers: ["192.168.1.1"] }); // "# Jaga …\nkind resolvectl\nlink eth0\ndns 192.168.1.1\n"
 */
export function snapshotText(s: ResolvedSnapshot): string {
  const lines = [SNAPSHOT_HEAD, `kind ${s.kind}`];
  if (s.kind === "resolvectl") lines.push(`link ${s.link}`, `dns ${s.servers.join(" ")}`.trimEnd());
  else {
    lines.push(`dropin ${s.dropIn}`);
    if (s.previous === null) lines.push("absent");
    else for (const l of s.previous.replace(/\n$/, "").split("\n")) lines.push(`was ${l}`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Reads a snapshot file back; null when it is not one.
 *
 * @example
 * parseSnapshot(snapshotText({ kind: "dropin", dropIn: "/etc/systemd/resolved.conf.d/jaga-dns.conf", previous: null })); // { kind: "dropin", …, previous: null }
 */
export function parseSnapshot(text: string): ResolvedSnapshot | null {
  const lines = text.replace(/\n$/, "").split("\n");
  if (lines[0] !== SNAPSHOT_HEAD) return null;
  const value = (key: string) => lines.find((l) => l.startsWith(`${key} `) || l === key)?.slice(key.length + 1);
  const kind = value("kind");
  if (kind === "resolvectl") {
    const link = value("link");
    if (!link || !/^[A-Za-z0-9._@:-]{1,64}$/.test(link)) return null;
    return { kind, link, servers: (value("dns") ?? "").split(/\s+/).filter(Boolean) };
  }
  if (kind === "dropin") {
    const dropIn = value("dropin");
    if (!dropIn?.startsWith("/")) return null;
    const was = lines.filter((l) => l.startsWith("was ")).map((l) => l.slice(4));
    return { kind, dropIn, previous: lines.includes("absent") ? null : `${was.join("\n")}\n` };
  }
  return null;
}

/** The argv of a resolved change: how to apply it and how to take it back. */
export interface ResolvedSteps {
  /** Run in order, privileged, after the snapshot is written. */
  apply: string[][];
  /** Run in order, privileged, to go back to the snapshot (a rollback, or `/dns undo`). */
  undo: string[][];
}

/**
 * The argv for a resolved fix. The runtime change is one `resolvectl dns`; a flush follows so a
 * cached failure does not fail the verification. A drop-in is staged and copied (`cp`, never a
 * shell redirection), then resolved is restarted to read it.
 *
 * @example
 * resolvedSteps({ kind: "resolvectl", link: "eth0", before: ["192.168.1.1"], after: ["1.1.1.1"], … }, "/tmp/jaga-dns.x");
 * // apply: [["resolvectl", "dns", "eth0", "1.1.1.1"], ["resolvectl", "flush-caches"]]
 * // undo:  [["resolvectl", "dns", "eth0", "192.168.1.1"], ["resolvectl", "flush-caches"]]
 */
export function resolvedSteps(plan: Pick<ResolvedFix, "kind" | "link" | "before" | "after" | "dropIn" | "previous">, staged: { content: string; previous: string | null }): ResolvedSteps {
  const restart = ["systemctl", "restart", "systemd-resolved"];
  if (plan.kind === "resolvectl") {
    const link = plan.link!;
    return {
      apply: [["resolvectl", "dns", link, ...plan.after], ["resolvectl", "flush-caches"]],
      // No servers before: revert gives the link back to whoever configures it (networkd, DHCP).
      undo: [plan.before.length ? ["resolvectl", "dns", link, ...plan.before] : ["resolvectl", "revert", link], ["resolvectl", "flush-caches"]],
    };
  }
  const dir = plan.dropIn.replace(/\/[^/]*$/, "") || "/";
  return {
    apply: [["mkdir", "-p", "--", dir], ["cp", "--", staged.content, plan.dropIn], restart],
    undo: [plan.previous === null ? ["rm", "-f", "--", plan.dropIn] : ["cp", "--", required(staged.previous), plan.dropIn], restart],
  };
}

function required(staged: string | null): string {
  if (staged === null) throw new TypeError("the drop-in's old text must be staged to restore it");
  return staged;
}

/**
 * The servers a resolved.conf drop-in sets: `DNS=` lines add up and an empty one resets, as
 * resolved reads them.
 *
 * @example
 * dropInServers("[Resolve]\nDNS=1.1.1.1 8.8.8.8\n"); // ["1.1.1.1", "8.8.8.8"]
 */
export function dropInServers(text: string | null): string[] {
  let servers: string[] = [];
  for (const line of (text ?? "").split("\n")) {
    const m = /^\s*DNS\s*=\s*(.*)$/.exec(line);
    if (m) servers = m[1]!.trim() ? [...servers, ...m[1]!.trim().split(/\s+/)] : [];
  }
  return servers;
}

/** How a fix ended. */
export type FixOutcome =
  /** Applied, and getent resolves. */
  | { result: "verified"; detail: string }
  /** Applied, verification failed (or the change did not take), and it is back as it was. */
  | { result: "rolled_back"; why: "verify_failed" | "not_written" | "apply_failed"; detail: string }
  /** Nothing was changed (the file moved since the plan, the snapshot could not be made, sudo refused…). */
  | { result: "not_changed"; why: "changed" | "snapshot_failed" | "stage_failed" | "apply_failed"; detail: string }
  /** Applied, verification failed, and putting it back failed too: the snapshot is named for a hand restore. */
  | { result: "rollback_failed"; detail: string; snapshot: string };

/** What getent said after the change: `ok` when the name resolves. */
export interface Verdict {
  ok: boolean;
  /** e.g. "getent hosts wa.test: not found". */
  detail: string;
}

export interface FixIo {
  clock: Clock;
  /** Options for a forward step, made fresh each time (the command's signal, its own deadline). */
  exec: () => ExecOptions;
  /**
   * Options for a step that puts things back: its own deadline and no command signal, so a
   * command that runs out of time mid-verification still rolls back.
   */
  rescue: () => ExecOptions;
  /** Resolves the name the way apps do (getent), after the change. */
  verify: () => Promise<Verdict>;
}

/** Host calls one fix needs: the executor, the privileges, the name for errors. */
export type FixHost = PrivilegedHost;

/**
 * Writes `content` to a fresh temporary file on the host (as the login) and prints its path.
 * The content is `$1`; the script is constant.
 */
const STAGE = `umask 022; t=$(mktemp "\${TMPDIR:-/tmp}/jaga-dns.XXXXXX") || exit 1; printf %s "$1" > "$t" || { rm -f -- "$t"; exit 1; }; printf '%s\\n' "$t"`;

/** `cat` of one file, as the login: a resolv.conf and its snapshot are world-readable. */
export const readProbe: Probe<string | null> = defineProbe({
  name: "read",
  timeoutMs: 5_000,
  maxOutputBytes: 256 * 1024,
  script: `cat -- "$1" 2>/dev/null && exit 0; echo __jaga_unreadable__; exit 0`,
  parse: ({ stdout }) => (stdout === "__jaga_unreadable__\n" ? null : stdout),
});

class StepFailed extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly detail: string,
  ) {
    super(`${argv[0]} failed: ${detail}`);
  }
}

/** Runs one privileged step; a refusal (sudo's, or the command's exit) becomes a {@link StepFailed}. */
async function privileged(host: FixHost, argv: string[], o: ExecOptions): Promise<void> {
  let r;
  try {
    r = await runPrivileged(host, argv, o);
  } catch (err) {
    throw isJagaError(err) ? err : new StepFailed(argv, err instanceof Error ? err.message : String(err));
  }
  if (r.timedOut) throw new StepFailed(argv, "timed out");
  if (r.code !== 0) throw new StepFailed(argv, r.stderr.trim().slice(0, 200) || `exit ${r.code}`);
}

async function stage(host: FixHost, content: string, o: ExecOptions): Promise<string> {
  const r = await host.executor.run(["sh", "-c", STAGE, "sh", content], o);
  const path = r.stdout.trim();
  if (r.code !== 0 || !path.startsWith("/")) throw new StepFailed(["mktemp"], r.stderr.trim().slice(0, 200) || `exit ${r.code}`);
  return path;
}

async function unstage(host: FixHost, path: string | null, o: ExecOptions): Promise<void> {
  if (path) await host.executor.run(["rm", "-f", "--", path], o).catch(() => undefined);
}

async function read(host: FixHost, path: string, io: Pick<FixIo, "clock">, o: ExecOptions): Promise<string | null> {
  const r = await runProbe(host.executor, readProbe, [path], { ...o, host: host.name, clock: io.clock });
  return r.kind === "ok" ? r.value : null;
}

/** The failure of a step as one line: sudo's own message code, or the command's complaint. */
function why(err: unknown): string {
  if (isJagaError(err)) return err.code;
  if (err instanceof StepFailed) return `${err.argv.join(" ")}: ${err.detail}`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Makes the change a plan describes, verifies it, and rolls it back unless verification
 * passes. Never throws for a host's refusal: the outcome says what happened. A sudo refusal
 * before anything changed is rethrown (the chat's "sudo wants a password" says it best).
 *
 * @example
 * const done = await applyFix(host, plan, io);
 * if (done.result === "rolled_back") reply(`rolled back: ${done.detail}`);
 */
export async function applyFix(host: FixHost, plan: FileFix | ResolvedFix, io: FixIo): Promise<FixOutcome> {
  // 1. Still what the plan was made on? Otherwise the plan no longer says what would change.
  const now = await runProbe(host.executor, setupProbe, [plan.paths.resolvConf, plan.paths.resolvedDropIn], { ...io.exec(), host: host.name, clock: io.clock });
  if (now.kind !== "ok") return { result: "not_changed", why: "changed", detail: now.kind === "timed_out" ? "the host did not answer in time" : "the host could not be asked" };
  const setup = describeSetup(now.value, plan.paths);
  if (plan.kind === "file" && (setup.shape !== "file" || setup.content !== plan.original)) {
    return { result: "not_changed", why: "changed", detail: setup.shape === "file" ? "the file changed since the plan" : `the path is a ${setup.shape} now` };
  }
  if (setup.snapshots.includes(plan.snapshot)) return { result: "not_changed", why: "changed", detail: `${plan.snapshot} exists already` };
  return plan.kind === "file" ? applyFile(host, plan, io) : applyResolved(host, plan, setup, io);
}

async function applyFile(host: FixHost, plan: FileFix, io: FixIo): Promise<FixOutcome> {
  // 2. Snapshot: a byte copy, mode and owner kept, read back before anything changes.
  try {
    await privileged(host, ["cp", "-p", "--", plan.paths.resolvConf, plan.snapshot], io.exec());
  } catch (err) {
    if (isJagaError(err)) throw err;
    return { result: "not_changed", why: "snapshot_failed", detail: why(err) };
  }
  if ((await read(host, plan.snapshot, io, io.exec())) !== plan.original) {
    await privileged(host, ["rm", "-f", "--", plan.snapshot], io.rescue()).catch(() => undefined);
    return { result: "not_changed", why: "snapshot_failed", detail: `${plan.snapshot} does not read back as the file` };
  }
  // 3. Apply: the new text staged as the login, copied onto the file in place.
  let staged: string;
  try {
    staged = await stage(host, plan.content, io.exec());
  } catch (err) {
    await privileged(host, ["rm", "-f", "--", plan.snapshot], io.rescue()).catch(() => undefined);
    return { result: "not_changed", why: "stage_failed", detail: why(err) };
  }
  let applied: FixOutcome | null = null;
  try {
    await privileged(host, ["cp", "--", staged, plan.paths.resolvConf], io.exec());
  } catch (err) {
    applied = { result: "rolled_back", why: "apply_failed", detail: why(err) };
  } finally {
    await unstage(host, staged, io.rescue());
  }
  // 4. Verify: the file holds what was written, and getent resolves through it.
  if (!applied) {
    const written = await read(host, plan.paths.resolvConf, io, io.exec());
    if (written !== plan.content) applied = { result: "rolled_back", why: "not_written", detail: "the file does not read back as written" };
  }
  if (!applied) {
    const verdict = await io.verify().catch((err: unknown): Verdict => ({ ok: false, detail: why(err) }));
    if (verdict.ok) return { result: "verified", detail: verdict.detail };
    applied = { result: "rolled_back", why: "verify_failed", detail: verdict.detail };
  }
  // 5. Roll back: the snapshot copied back in place, checked byte for byte, then removed.
  try {
    await privileged(host, ["cp", "--", plan.snapshot, plan.paths.resolvConf], io.rescue());
    const back = await read(host, plan.paths.resolvConf, io, io.rescue());
    if (back !== plan.original) throw new StepFailed(["cp"], "the file does not read back as the snapshot");
    await privileged(host, ["rm", "-f", "--", plan.snapshot], io.rescue()).catch(() => undefined);
    return applied;
  } catch (err) {
    return { result: "rollback_failed", detail: `${applied.detail}; ${why(err)}`, snapshot: plan.snapshot };
  }
}

async function applyResolved(host: FixHost, plan: ResolvedFix, setup: ResolvSetup, io: FixIo): Promise<FixOutcome> {
  if (plan.kind === "dropin" && setup.dropIn.content !== plan.previous) return { result: "not_changed", why: "changed", detail: `${plan.dropIn} changed since the plan` };
  const stagedFiles: string[] = [];
  const cleanup = async () => {
    for (const f of stagedFiles.splice(0)) await unstage(host, f, io.rescue());
  };
  try {
    // 2. Snapshot: what undo needs, as a small text file next to resolv.conf, read back.
    let snapStage: string;
    try {
      snapStage = await stage(host, plan.snapshotText, io.exec());
      stagedFiles.push(snapStage);
      await privileged(host, ["cp", "--", snapStage, plan.snapshot], io.exec());
    } catch (err) {
      if (isJagaError(err)) throw err;
      return { result: "not_changed", why: "snapshot_failed", detail: why(err) };
    }
    if ((await read(host, plan.snapshot, io, io.exec())) !== plan.snapshotText) {
      await privileged(host, ["rm", "-f", "--", plan.snapshot], io.rescue()).catch(() => undefined);
      return { result: "not_changed", why: "snapshot_failed", detail: `${plan.snapshot} does not read back as written` };
    }
    let contentStage = "";
    let previousStage: string | null = null;
    if (plan.kind === "dropin") {
      contentStage = await stage(host, plan.content, io.exec());
      stagedFiles.push(contentStage);
      if (plan.previous !== null) {
        previousStage = await stage(host, plan.previous, io.exec());
        stagedFiles.push(previousStage);
      }
    }
    const steps = resolvedSteps(plan, { content: contentStage, previous: previousStage });
    // 3. Apply, 4. verify.
    let failed: FixOutcome | null = null;
    try {
      for (const argv of steps.apply) await privileged(host, argv, io.exec());
    } catch (err) {
      failed = { result: "rolled_back", why: "apply_failed", detail: why(err) };
    }
    if (!failed) {
      const verdict = await io.verify().catch((err: unknown): Verdict => ({ ok: false, detail: why(err) }));
      if (verdict.ok) return { result: "verified", detail: verdict.detail };
      failed = { result: "rolled_back", why: "verify_failed", detail: verdict.detail };
    }
    // 5. Roll back.
    try {
      for (const argv of steps.undo) await privileged(host, argv, io.rescue());
      await privileged(host, ["rm", "-f", "--", plan.snapshot], io.rescue()).catch(() => undefined);
      return failed;
    } catch (err) {
      return { result: "rollback_failed", detail: `${failed.detail}; ${why(err)}`, snapshot: plan.snapshot };
    }
  } finally {
    await cleanup();
  }
}

/** What `/dns undo` would restore, or why it cannot. */
export type UndoPlan =
  | { kind: "file"; path: string; snapshot: string; before: string[]; after: string[]; current: string; content: string }
  | { kind: "resolved"; path: string; snapshot: string; restore: ResolvedSnapshot; before: string[]; after: string[] }
  | ({ kind: "refused" } & Refusal);

/**
 * The newest snapshot next to the file and what restoring it would change. `snapshotContent`
 * is that snapshot's text (read by the caller with {@link readProbe}).
 *
 * @example
 * planUndo(setup, "nameserver 10.0.0.1\n").kind; // "file"
 */
export function planUndo(setup: ResolvSetup, snapshotContent: string | null): UndoPlan {
  const snapshot = setup.snapshots.at(-1);
  if (!snapshot) return { kind: "refused", reason: "no_snapshot" };
  if (snapshotContent === null) return { kind: "refused", reason: "bad_snapshot", snapshot };
  if (SNAPSHOT_RE.exec(snapshot)?.[2]) {
    const restore = parseSnapshot(snapshotContent);
    if (!restore) return { kind: "refused", reason: "bad_snapshot", snapshot };
    const link = restore.kind === "resolvectl" ? setup.links.find((l) => l.name === restore.link) : null;
    const before = restore.kind === "resolvectl" ? (link?.servers ?? []) : dropInServers(setup.dropIn.content);
    const after = restore.kind === "resolvectl" ? restore.servers : dropInServers(restore.previous);
    return { kind: "resolved", path: setup.path, snapshot, restore, before, after };
  }
  if (setup.shape === "link") return { kind: "refused", reason: "symlink", link: setup.link ?? "?", writer: setup.writer };
  if (setup.shape !== "file") return { kind: "refused", reason: setup.shape === "missing" ? "missing" : "not_a_file" };
  if (setup.content === null) return { kind: "refused", reason: "unreadable" };
  return { kind: "file", path: setup.path, snapshot, before: setup.nameservers, after: nameserversOf(snapshotContent), current: setup.content, content: snapshotContent };
}

/** How an undo ended. */
export type UndoOutcome =
  | { result: "restored"; verdict: Verdict }
  | { result: "not_changed"; detail: string };

/**
 * Restores the snapshot an undo plan names, checks it (a file byte for byte), removes the
 * snapshot, and says whether getent resolves now (informational: an undo is not rolled back).
 *
 * @example
 * const done = await applyUndo(host, plan, io);
 */
export async function applyUndo(host: FixHost, plan: Exclude<UndoPlan, { kind: "refused" }>, io: FixIo, dropInDir: string): Promise<UndoOutcome> {
  const now = await runProbe(host.executor, setupProbe, [plan.path, dropInDir], { ...io.exec(), host: host.name, clock: io.clock });
  if (now.kind !== "ok") return { result: "not_changed", detail: "the host did not answer" };
  const setup = describeSetup(now.value, { resolvConf: plan.path, resolvedDropIn: dropInDir });
  if (setup.snapshots.at(-1) !== plan.snapshot) return { result: "not_changed", detail: "the snapshots changed since the plan" };
  const staged: string[] = [];
  try {
    if (plan.kind === "file") {
      if (setup.shape !== "file" || setup.content !== plan.current) return { result: "not_changed", detail: "the file changed since the plan" };
      await privileged(host, ["cp", "--", plan.snapshot, plan.path], io.exec());
      if ((await read(host, plan.path, io, io.rescue())) !== plan.content) return { result: "not_changed", detail: "the file does not read back as the snapshot; the snapshot is kept" };
    } else {
      const r = plan.restore;
      let previous: string | null = null;
      if (r.kind === "dropin" && r.previous !== null) {
        previous = await stage(host, r.previous, io.exec());
        staged.push(previous);
      }
      const steps =
        r.kind === "resolvectl"
          ? resolvedSteps({ kind: "resolvectl", link: r.link, before: r.servers, after: [], dropIn: "", previous: null }, { content: "", previous: null })
          : resolvedSteps({ kind: "dropin", link: null, before: [], after: [], dropIn: r.dropIn, previous: r.previous }, { content: "", previous });
      for (const argv of steps.undo) await privileged(host, argv, io.exec());
    }
    await privileged(host, ["rm", "-f", "--", plan.snapshot], io.rescue()).catch(() => undefined);
  } catch (err) {
    if (isJagaError(err)) throw err;
    return { result: "not_changed", detail: why(err) };
  } finally {
    for (const f of staged) await unstage(host, f, io.rescue());
  }
  const verdict = await io.verify().catch((err: unknown): Verdict => ({ ok: false, detail: why(err) }));
  return { result: "restored", verdict };
}
