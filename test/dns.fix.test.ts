/**
 * `/dns check`, `/dns fix` and `/dns undo` over a real sshd, with real getent, sudo and PM2, and
 * loopback DNS servers playing the broken resolver and the working ones (report 001: the box's
 * DNS broke, the admin edited /etc/resolv.conf by hand at 6 a.m.).
 *
 * glibc's resolv.conf has no port field, so each stand-in listens on port 53 of an address of its
 * own (127.53.x.y). getent reads /etc/resolv.conf, so the sshd runs in a private mount namespace
 * where a temporary file is bind-mounted over /etc/resolv.conf: the sessions' getent — the way
 * apps resolve, and what a fix is verified with — reads the very file the host's
 * `paths.resolvConf` names and the fix rewrites. Nothing outside that namespace sees it, and it
 * ends with the sshd. Needs root (the namespace, :53, the throwaway users and the sudoers entry,
 * all uniquely named and removed afterwards).
 */
import assert from "node:assert/strict";
import { randomBytes, randomInt } from "node:crypto";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { SshExecutor } from "../src/hosts/ssh/index.js";
import { startDnsServer, type DnsMode, type DnsServer } from "./helpers/dns-server.js";
import { startPm2, type TestPm2 } from "./helpers/pm2.js";
import { reapOnExit } from "./helpers/reaper.js";
import { installSudoers } from "./helpers/sudoers.js";
import { startSshd, type TestSshd } from "./helpers/sshd.js";
import { watchHarness, type WatchHarness } from "./helpers/watch.js";

const root = process.getuid?.() === 0;
const usable = root && existsSync("/usr/bin/unshare") && existsSync("/usr/bin/getent");
const sudoUsable = usable && existsSync("/usr/bin/sudo") && existsSync("/usr/sbin/visudo");

const ADMIN = "628111000061";
const ADMIN2 = "628111000062";
const OPERATOR = "628111000063";
const people = [
  { phone: ADMIN, name: "Ani", role: "admin", language: "en" },
  { phone: ADMIN2, name: "Budi", role: "admin", language: "en" },
  { phone: OPERATOR, name: "Oki", role: "operator", language: "en" },
];
const NAME = "wa.test";
const ANSWER = "127.1.2.3";
/** `getent hosts wa.test` once the name resolves. */
const RESOLVED = /^127\.1\.2\.3\s+wa\.test$/;

/**
 * A stand-in on port 53 of a loopback address nobody else uses: 127.53.<random>.<last>. Another
 * run that drew the same address is told by EADDRINUSE; then another is drawn.
 */
async function stand(last: number, mode: DnsMode): Promise<DnsServer> {
  for (let i = 0; ; i++) {
    try {
      return await startDnsServer({ [NAME]: ANSWER }, mode, { address: `127.53.${randomInt(1, 255)}.${last}`, port: 53 });
    } catch (err) {
      if (i >= 10 || (err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    }
  }
}

const codeOf = (plan: string | null) => /\/yes (\d{4})/.exec(plan ?? "")?.[1] ?? assert.fail(`no code in: ${plan}`);
const snapshotsIn = (dir: string) => readdirSync(dir).filter((f) => /\.jaga-\d{8}T\d{6}Z/.test(f));


describe("/dns check, fix and undo over SSH", { skip: usable ? false : "needs root, unshare and getent" }, () => {
  let dir: string;
  let resolv: string;
  let original: string;
  let broken: DnsServer;
  let good: DnsServer;
  let silent: DnsServer;
  let sshd: TestSshd;
  let pm2: TestPm2;
  let w: WatchHarness;
  let probe: SshExecutor;
  let sudoers: string | undefined;

  const box = (extra: Record<string, unknown> = {}) => ({
    name: "box",
    ssh: sshd.target(),
    pm2Home: pm2.home,
    pm2Bin: pm2.bin,
    paths: { resolvConf: resolv, resolvedDropIn: join(dir, "resolved.conf.d") },
    ...extra,
  });
  const harnessFor = (hosts: Record<string, unknown>[], extra: Record<string, unknown> = {}) =>
    watchHarness({
      people,
      hosts,
      commandTimeout: "20s",
      hostTimeout: "4s",
      watch: { dns: { enabled: true, name: NAME } },
      dns: { candidates: [good.host, silent.host], timeout: "500ms" },
      ...extra,
    });
  /** getent as the sessions see it: the way apps on the box resolve. */
  const getent = async () => (await probe.run(["getent", "hosts", NAME], { timeoutMs: 10_000 })).stdout.trim();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "jaga-dnsfix-"));
    reapOnExit({ path: dir });
    // Readable by the throwaway users, writable by root only: their fixes need sudo.
    chmodSync(dir, 0o755);
    [broken, good, silent] = await Promise.all([stand(10, "refuse"), stand(11, "answer"), stand(12, "silent")]);
    resolv = join(dir, "resolv.conf");
    // A second's timeout per try, one try: a silent nameserver costs getent a second, not ten.
    original = `# the box's resolver, as the ISP's DHCP left it\noptions timeout:1 attempts:1\nnameserver ${broken.host}\nsearch lan\n`;
    writeFileSync(resolv, original, { mode: 0o644 });
    [sshd, pm2] = await Promise.all([startSshd({ users: ["ok", "pw"], mounts: [{ source: resolv, target: "/etc/resolv.conf" }] }), startPm2({})]);
    probe = new SshExecutor({ name: "probe", target: sshd.target() });
  });
  after(async () => {
    await w?.close();
    await probe?.close();
    if (sudoers) rmSync(sudoers, { force: true });
    await Promise.allSettled([sshd?.stop(), pm2?.stop(), broken?.close(), good?.close(), silent?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    // Back to the broken box: the same inode (the bind mount follows it), no snapshots left.
    writeFileSync(resolv, original);
    for (const f of snapshotsIn(dir)) rmSync(join(dir, f), { force: true });
    good.mode = "answer";
    await w?.close();
    w = harnessFor([box()]);
  });

  it("/dns check: the file's manager, and each nameserver and candidate asked from the host, timed", async () => {
    assert.equal(await getent(), "", "the sessions resolve through the broken file");
    const started = Date.now();
    const reply = (await w.send("/dns check box", { as: OPERATOR }))!;
    const ms = Date.now() - started;
    const lines = reply.split("\n");
    assert.equal(lines[0], `🌐 *box*: \`${NAME}\` ❌ does not resolve · nameservers ${broken.host}`);
    assert.equal(lines[1], `📄 \`${resolv}\`: a plain file.`);
    assert.equal(lines[2], "Nameservers now:");
    assert.match(lines[3]!, new RegExp(`^• \`${broken.host}\` ❌ refuses · \\d+ ms$`));
    assert.equal(lines[4], "Candidates (`dns.candidates`):");
    assert.match(lines[5]!, new RegExp(`^• \`${good.host}\` ✅ ${ANSWER} · \\d+ ms$`));
    // The silent one is given up on at dns.timeout, and the reply does not wait for more.
    assert.equal(lines[6], `• \`${silent.host}\` ⏳ no answer in 500 ms`);
    assert.equal(lines[7], "→ `/dns fix box` switches to the candidates that answer (admin; the plan comes first).");
    assert.ok(ms < 8_000, `answered in ${ms} ms`);
    assert.ok((broken.queries.get(NAME) ?? 0) > 0 && (good.queries.get(NAME) ?? 0) > 0 && (silent.queries.get(NAME) ?? 0) > 0, "each was asked");
  });

  it("/dns check names who rewrites the file, from its header", async () => {
    writeFileSync(resolv, `# Generated by NetworkManager\n${original}`);
    const reply = (await w.send("/dns check box", { as: OPERATOR }))!;
    assert.match(reply, /\n⚠️ NetworkManager writes this file \(its header says so\): it will put its own servers back at its next connection change\.\n/);
  });

  it("/dns fix: a plan first, only its sender confirms, then the file is rewritten, getent verifies, and the incident and audit keep before and after", async () => {
    // The watcher sees what the apps see: the name does not resolve, a DNS incident opens.
    await w.watch.watchers[0]!.tick();
    const [incident] = (await w.store.incidents.listOpen()).filter((i) => i.kind === "dns");
    assert.ok(incident, "a DNS incident is open");
    assert.match((await w.send(`/do ${incident.id} 2`, { as: OPERATOR }))!, /^🚫/, "the fix is an admin's");

    // Action 2 of the alert is the fix.
    const plan = await w.send(`/do ${incident.id} 2`, { as: ADMIN });
    assert.match(plan!, /^⚠️ \*Confirm \/dns fix\*\n🛠️ \*box\*: `[^`]+` is a plain file\.\n/);
    assert.ok(plan!.includes(`Nameservers: \`${broken.host}\` → \`${good.host}\`\n`), plan!);
    assert.match(plan!, /1\. snapshot `[^`]+\/resolv\.conf\.jaga-\d{8}T\d{6}Z` \(a byte copy\)/);
    assert.match(plan!, new RegExp(`3\\. \`getent hosts ${NAME.replace(".", "\\.")}\` must resolve, else the snapshot goes back at once`));
    assert.match(plan!, /Lasts until the file is written again, or `\/dns undo box`\./);
    assert.equal(readFileSync(resolv, "utf8"), original, "nothing changed before the /yes");
    const code = codeOf(plan);

    // Nobody else can confirm it, not even another admin.
    assert.match((await w.send(`/yes ${code}`, { as: ADMIN2 }))!, /^❓/);
    assert.equal(readFileSync(resolv, "utf8"), original);

    const done = (await w.send(`/yes ${code}`, { as: ADMIN }))!;
    assert.match(done, new RegExp(`^✅ \\*box\\*: nameservers \`${broken.host}\` → \`${good.host}\`; \`getent hosts wa\\.test\` resolves now\\. Snapshot \`([^\`]+)\`: \`/dns undo box\` puts it back\\.$`));
    const snapshot = /Snapshot `([^`]+)`/.exec(done)![1]!;

    // The file: only the nameserver lines changed (the silent candidate left out), a note on top.
    const now = readFileSync(resolv, "utf8");
    assert.equal(
      now.replace(/^# Jaga \/dns fix .*\n/, ""),
      `# the box's resolver, as the ISP's DHCP left it\noptions timeout:1 attempts:1\nnameserver ${good.host}\nsearch lan\n`,
    );
    assert.match(now, new RegExp(`^# Jaga /dns fix \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ: nameservers were ${broken.host}; snapshot ${snapshot} `));
    assert.equal(readFileSync(snapshot, "utf8"), original, "the snapshot is the old file, byte for byte");
    assert.match(await getent(), RESOLVED, "the apps resolve now");

    // The incident's timeline and the audit log have before and after, once each.
    const actions = (await w.store.incidents.timeline(incident.id))!.events.filter((e) => e.kind === "action");
    assert.deepEqual(
      actions.map((e) => [e.by, e.detail]),
      [["Ani", `/dns fix box: ${broken.host} → ${good.host} · verified by getent`]],
    );
    const [row] = await w.store.audit.recent(1);
    assert.equal(row!.outcome, "ok");
    assert.deepEqual(JSON.parse(row!.args), { action: "fix", host: "box", persist: false, before: [broken.host], after: [good.host], result: "verified", snapshot, detail: `getent hosts ${NAME}: resolves` });
  });

  it("/dns undo restores the snapshot byte for byte, after its own confirmation", async () => {
    const code = codeOf(await w.send("/dns fix box", { as: ADMIN }));
    assert.match((await w.send(`/yes ${code}`, { as: ADMIN }))!, /^✅/);
    const [snapshot] = snapshotsIn(dir);
    assert.ok(snapshot);

    // A Jaga restart in between: the snapshot lives on the host, not in Jaga.
    await w.close();
    w = harnessFor([box()]);
    const plan = (await w.send("/dns undo box", { as: ADMIN }))!;
    assert.match(plan, new RegExp(`↩️ \\*box\\*: \`${resolv}\` back to snapshot \`${join(dir, snapshot)}\`\\.\\nNameservers: \`${good.host}\` → \`${broken.host}\``));
    assert.notEqual(readFileSync(resolv, "utf8"), original, "nothing restored before the /yes");
    const done = (await w.send(`/yes ${codeOf(plan)}`, { as: ADMIN }))!;
    assert.match(done, /^↩️ \*box\*: restored from `[^`]+`: nameservers .* `getent hosts wa\.test` does not resolve \(getent hosts wa\.test: not found\)\.$/);
    assert.equal(readFileSync(resolv, "utf8"), original, "byte for byte");
    assert.deepEqual(snapshotsIn(dir), [], "a restored snapshot is gone");
    assert.match((await w.send("/dns undo box", { as: ADMIN }))!, /^ℹ️ \*box\*: no `\/dns fix` snapshot next to/);
  });

  it("a fix whose verification fails is rolled back to the original bytes", async () => {
    const plan = await w.send("/dns fix box", { as: ADMIN });
    assert.ok(plan!.includes(`→ \`${good.host}\``));
    // The candidate stops answering between the plan and the change.
    good.mode = "silent";
    const done = (await w.send(`/yes ${codeOf(plan)}`, { as: ADMIN }))!;
    assert.match(done, new RegExp(`^↩️ \\*box\\*: rolled back — \`getent hosts wa\\.test\` did not resolve after the change \\(getent hosts wa\\.test: (not found|exit \\d+)\\)\\. Back to \`${broken.host}\`, as it was\\.$`));
    assert.equal(readFileSync(resolv, "utf8"), original, "byte for byte");
    assert.deepEqual(snapshotsIn(dir), [], "nothing left to undo");
    const [row] = await w.store.audit.recent(1);
    assert.equal(row!.outcome, "error");
    assert.equal((JSON.parse(row!.args) as { result: string }).result, "rolled_back");
  });

  it("a fix needs the file as it was planned: changed meanwhile, nothing is written", async () => {
    const plan = await w.send("/dns fix box", { as: ADMIN });
    const edited = `${original}# edited by hand at 6 a.m.\n`;
    writeFileSync(resolv, edited);
    const done = (await w.send(`/yes ${codeOf(plan)}`, { as: ADMIN }))!;
    assert.match(done, /^⚠️ \*box\*: nothing changed — the file changed since the plan\./);
    assert.equal(readFileSync(resolv, "utf8"), edited);
    assert.deepEqual(snapshotsIn(dir), []);
  });

  it("a symlinked resolv.conf is left alone, and the answer says whose it is and where to change it", async () => {
    const nm = join(dir, "run/NetworkManager");
    mkdirSync(nm, { recursive: true });
    const target = join(nm, "resolv.conf");
    writeFileSync(target, `# Generated by NetworkManager\nnameserver ${broken.host}\n`);
    const link = join(dir, "linked-resolv.conf");
    symlinkSync(target, link);
    await w.close();
    w = harnessFor([box({ paths: { resolvConf: link, resolvedDropIn: join(dir, "resolved.conf.d") } })]);

    assert.match((await w.send("/dns check box", { as: OPERATOR }))!, new RegExp(`\\n🔗 \`${link}\` → \`${target}\` \\(NetworkManager\\): a symlink\\.\\n`));
    const reply = (await w.send("/dns fix box", { as: ADMIN }))!;
    assert.equal(
      reply,
      `🔗 *box*: \`${link}\` is a symlink to \`${target}\` (NetworkManager). /dns fix never overwrites a symlink: nothing changed. ` +
        `Set the servers in NetworkManager instead: \`nmcli connection modify <connection> ipv4.dns "${good.host},${silent.host}" ipv4.ignore-auto-dns yes\`, then \`nmcli connection up <connection>\`.`,
    );
    assert.doesNotMatch(reply, /\/yes/, "nothing to confirm");
    assert.ok(lstatSync(link).isSymbolicLink() && readlinkSync(link) === target);
    assert.equal(readFileSync(target, "utf8"), `# Generated by NetworkManager\nnameserver ${broken.host}\n`);
    assert.deepEqual(snapshotsIn(dir), []);
  });

  it("a link to systemd-resolved's stub is read as resolved's, and without resolvectl nothing is touched", async () => {
    const link = join(dir, "stub-resolv.conf");
    symlinkSync("../run/systemd/resolve/stub-resolv.conf", link);
    await w.close();
    w = harnessFor([box({ paths: { resolvConf: link, resolvedDropIn: join(dir, "resolved.conf.d") } })]);
    const check = (await w.send("/dns check box", { as: OPERATOR }))!;
    assert.match(check, new RegExp(`\\n🔗 \`${link}\` → systemd-resolved's stub: apps ask 127\\.0\\.0\\.53, resolved asks the uplink's servers\\.\\n⚠️ resolvectl is missing on this host\\.\\n`));
    const fix = (await w.send("/dns fix box", { as: ADMIN }))!;
    assert.equal(fix, `❌ *box*: \`${link}\` is systemd-resolved's (stub), but resolvectl is missing. Nothing changed.`);
    assert.equal(readlinkSync(link), "../run/systemd/resolve/stub-resolv.conf");
    assert.ok(!existsSync(join(dir, "resolved.conf.d")));
  });

  it("a host that hangs mid-fix: the answer comes within the command's time, and nothing is written", async () => {
    await w.close();
    w = harnessFor([box()], { commandTimeout: "12s", hostTimeout: "2s" });
    const plan = await w.send("/dns fix box", { as: ADMIN });
    sshd.freeze();
    try {
      const started = Date.now();
      const done = (await w.send(`/yes ${codeOf(plan)}`, { as: ADMIN }))!;
      const ms = Date.now() - started;
      assert.match(done, /^⚠️ \*box\*: nothing changed — the host did not answer in time\./);
      assert.ok(ms < 12_000, `answered in ${ms} ms`);
    } finally {
      sshd.thaw();
    }
    assert.equal(readFileSync(resolv, "utf8"), original);
    assert.deepEqual(snapshotsIn(dir), []);
  });

  describe("through sudo", { skip: sudoUsable ? false : "needs sudo and visudo" }, () => {
    before(async () => {
      const cmds = ["/usr/bin/cp", "/bin/cp", "/usr/bin/rm", "/bin/rm"].join(", ");
      sudoers = await installSudoers(`jaga-test-${randomBytes(4).toString("hex")}`, `${sshd.users.ok} ALL=(root) NOPASSWD: ${cmds}\n`, sshd.dir);
    });

    it("a login that is not root fixes and undoes through sudo -n; the file stays root's", async () => {
      await w.close();
      w = harnessFor([box({ ssh: sshd.target({ user: sshd.users.ok }), pm2Home: undefined, sudo: true })]);
      const done = (await w.send(`/yes ${codeOf(await w.send("/dns fix box", { as: ADMIN }))}`, { as: ADMIN }))!;
      assert.match(done, /^✅ \*box\*: nameservers/, done);
      const st = statSync(resolv);
      assert.deepEqual([st.uid, st.mode & 0o777], [0, 0o644], "written in place: owner and mode kept");
      const [snapshot] = snapshotsIn(dir);
      assert.equal(statSync(join(dir, snapshot!)).uid, 0, "the snapshot was made by root");
      assert.match(await getent(), RESOLVED);
      const undone = (await w.send(`/yes ${codeOf(await w.send("/dns undo box", { as: ADMIN }))}`, { as: ADMIN }))!;
      assert.match(undone, /^↩️ \*box\*: restored/, undone);
      assert.equal(readFileSync(resolv, "utf8"), original);
      assert.deepEqual(snapshotsIn(dir), []);
    });

    it("without sudo the same login cannot write, and nothing changes", async () => {
      await w.close();
      w = harnessFor([box({ ssh: sshd.target({ user: sshd.users.ok }), pm2Home: undefined, sudo: false })]);
      const done = (await w.send(`/yes ${codeOf(await w.send("/dns fix box", { as: ADMIN }))}`, { as: ADMIN }))!;
      assert.match(done, /^⚠️ \*box\*: nothing changed — cp -p -- .*Permission denied/, done);
      assert.equal(readFileSync(resolv, "utf8"), original);
      assert.deepEqual(snapshotsIn(dir), []);
    });

    it("a sudo that wants a password is said so, and nothing changes", async () => {
      await w.close();
      w = harnessFor([box({ ssh: sshd.target({ user: sshd.users.pw }), pm2Home: undefined, sudo: true })]);
      const done = (await w.send(`/yes ${codeOf(await w.send("/dns fix box", { as: ADMIN }))}`, { as: ADMIN }))!;
      assert.equal(done, "🔐 *box*: `sudo -n` wants a password. Allow the command without one (NOPASSWD in sudoers) or set `sudo: false` for this host.");
      assert.equal(readFileSync(resolv, "utf8"), original);
      assert.deepEqual(snapshotsIn(dir), []);
    });
  });
});
