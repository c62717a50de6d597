/**
 * `/diag` through the real pipeline, on this machine and over a real sshd on 127.0.0.1, with a
 * real PM2: `web` listening on a port, `clash` crash-looping on the same port (Node's own
 * EADDRINUSE), `leaky` crash-looping with a NIK and a token in its error line. Findings first,
 * the app in trouble with its restarts and classified error line, the port named by the PM2
 * app holding it, SSH's own connections counted; tools missing from a host's PATH reported as
 * missing; a kernel log a non-root login may not read said so; hung tools cut off by the
 * host's `timeout`, all sections at once; a frozen host costing its own line within its
 * deadline; a broken shell, garbage and cut-short output read as what they are; masking.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { formatDiag } from "../commands/diag.js";
import { JagaError } from "../src/errors.js";
import { LocalExecutor } from "../src/hosts/local.js";
import { translator } from "../src/i18n/index.js";
import { diagProbe, parseDiag, type HostDiag } from "../src/ops/diag.js";
import { runProbe, type ProbeOutput } from "../src/ops/probe.js";
import { harness, testConfig, type Harness } from "./helpers/harness.js";
import { APPS, PM2_BIN, startPm2, waitFor, type TestPm2 } from "./helpers/pm2.js";
import { freePort, startSshd, type TestSshd } from "./helpers/sshd.js";

const run = promisify(execFile);
const VIEWER = "628111000007";
const people = [{ phone: VIEWER, name: "Vi", role: "viewer", language: "en" }];
const NIK = "3174015501900001";
const TOKEN = "sk_live_abcdef123456";
const LEAK = `payment failed for NIK ${NIK} token=${TOKEN}`;

let sshd: TestSshd;
let pm2: TestPm2;
let h: Harness;
let appPort: number;
const dir = mkdtempSync(join(tmpdir(), "jaga-diag-"));
const PATH = process.env.PATH;

const canConnect = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect({ port, host: "127.0.0.1" });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });

const restartsOf = async (name: string) => (await pm2.jlist()).find((p) => p.name === name)?.pm2_env.restart_time ?? 0;

before(async () => {
  appPort = await freePort();
  [sshd, pm2] = await Promise.all([
    startSshd(),
    startPm2({
      web: { script: "listen.js", env: { PORT: String(appPort), HOST: "127.0.0.1" } },
      leaky: { script: "crashloop.js", env: { CRASH_MESSAGE: LEAK } },
    }),
  ]);
  await waitFor(() => canConnect(appPort), 10_000, "web to listen");
  // Only once web holds the port: `clash` binds the same one and dies of it, again and again.
  await run(PM2_BIN, ["start", join(APPS, "listen.js"), "--name", "clash"], {
    env: { ...process.env, PM2_HOME: pm2.home, PM2_DISCRETE_MODE: "true", PORT: String(appPort), HOST: "127.0.0.1" },
  });
  await waitFor(async () => (await restartsOf("clash")) >= 2 && (await restartsOf("leaky")) >= 2, 15_000, "two crash loops");
  h = harness({
    language: "en",
    people,
    watch: { dns: { name: "localhost" } },
    hosts: [pm2.hostConfig("local"), { name: "vps", ssh: sshd.target(), pm2Home: pm2.home, pm2Bin: pm2.bin }],
  });
});
after(async () => {
  process.env.PATH = PATH;
  await h?.close();
  await Promise.allSettled([pm2?.stop(), sshd?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

const LEVELS = ["🔴", "🟠", "🟡", "ℹ️"];

/** A reply's parts: title, findings (each with its detail lines), the compact area lines by name. */
function parts(reply: string) {
  const lines = reply.split("\n");
  const first = lines.findIndex((l) => /^\*\w+\* /.test(l));
  const findings = lines.slice(1, first < 0 ? undefined : first);
  const areas = first < 0 ? [] : lines.slice(first);
  const area = (name: string) => areas.find((l) => l.startsWith(`*${name}*`));
  return { title: lines[0]!, findings, areas, area };
}

/** A symlink farm of these tools only, found where this machine keeps them. */
function toolDir(name: string, tools: string[]): string {
  const bin = join(dir, name);
  mkdirSync(bin, { recursive: true });
  for (const tool of tools) {
    const real = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"].map((d) => join(d, tool)).find((p) => existsSync(p));
    if (real && !existsSync(join(bin, tool))) symlinkSync(real, join(bin, tool));
  }
  return bin;
}

/** Everything the diagnosis itself needs, nothing it only reports on. */
const BASICS = ["sh", "cat", "grep", "sed", "head", "tail", "cut", "awk", "mawk", "gawk", "df", "date", "nproc", "readlink", "timeout", "getent", "tr", "ls", "sleep"];

describe("/diag", () => {
  for (const host of ["local", "vps"]) {
    it(`puts findings first: the crash loop with its restarts and classified line, the port named by the PM2 app holding it (${host})`, async () => {
      const reply = (await h.send(`/diag ${host}`))!;
      const { title, findings, areas, area } = parts(reply);
      assert.match(title, new RegExp(`^🩺 \\*${host}\\* · up \\d+[smhd]( \\d+[smh])? · read in \\d+\\.\\d s$`));
      // Worst first: each finding's level is never better than the one after it.
      const ranks = findings.filter((l) => !l.startsWith("   ")).map((l) => LEVELS.findIndex((i) => l.startsWith(i)));
      assert.ok(ranks.length > 0 && ranks.every((r) => r >= 0), reply);
      assert.deepEqual(ranks, [...ranks].sort((a, b) => a - b), reply);
      assert.ok(findings[0]!.startsWith("🔴 `clash`") || findings[0]!.startsWith("🔴 `leaky`"), reply);

      const at = findings.findIndex((l) => l.startsWith("🔴 `clash`"));
      const m = new RegExp(`^🔴 \`clash\` (?:errored|stopped|waiting restart|launching|online for \\d+s) · (\\d+) restarts · EADDRINUSE :${appPort} held by \`web\`$`).exec(findings[at]!);
      assert.ok(m, reply);
      assert.ok(Number(m[1]) >= 2, reply);
      // Node's own report of the failed listen, the line that names the port.
      assert.equal(findings[at + 1], `   \`Error: listen EADDRINUSE: address already in use 127.0.0.1:${appPort}\``, reply);

      assert.deepEqual(
        areas.map((l) => /^\*(\w+)\*/.exec(l)?.[1]),
        ["Apps", "Ports", "Load", "Disk", "DNS", "Kernel", "Journal"],
        reply,
      );
      assert.match(area("Apps")!, /✅ `web` ↻ 0/);
      assert.match(area("Ports")!, new RegExp(`:${appPort} 127\\.0\\.0\\.1 \`web\` ⇄\\d+`));
      if (host === "vps") {
        // Jaga's own pooled connection to this sshd is one of SSH's established connections.
        const ssh = new RegExp(`:${sshd.port} 127\\.0\\.0\\.1 \`sshd\` ⇄(\\d+)`).exec(area("Ports")!);
        assert.ok(ssh && Number(ssh[1]) >= 1, reply);
      }
      assert.match(area("Load")!, /^\*Load\* [\d.]+ [\d.]+ [\d.]+ \/ \d+ cores · CPU pressure (\d+%|n\/a) · mem \d+% of [\d.]+ [KMGT]B · swap/);
      assert.match(area("Disk")!, /^\*Disk\* \/ \d+%/);
      assert.match(area("DNS")!, /^\*DNS\* `localhost` ✅ · /);
      assert.ok(reply.length <= 1500, `${reply.length} characters`);
    });
  }

  it("masks what an app logs: a NIK and a token in its error line", async () => {
    const reply = (await h.send("/diag local"))!;
    const { findings } = parts(reply);
    const at = findings.findIndex((l) => l.startsWith("🔴 `leaky`"));
    assert.match(findings[at]!, /^🔴 `leaky` \S.* · \d+ restarts$/, reply);
    assert.equal(findings[at + 1], "   `Error: payment failed for NIK 3174••••••••0001 token=«secret»`", reply);
    assert.ok(!reply.includes(NIK) && !reply.includes(TOKEN), reply);
  });

  it("a host without journalctl, systemctl, dmesg and ss: each is a finding, the rest is read", async () => {
    const bare = await startSshd({ env: { PATH: toolDir("bin-bare", BASICS) } });
    const fleet = harness({ language: "en", watch: { dns: { name: "localhost" } }, hosts: [{ name: "bare", ssh: bare.target(), pm2Home: pm2.home, pm2Bin: pm2.bin }] });
    try {
      const reply = (await fleet.send("/diag"))!;
      const { findings, area } = parts(reply);
      const missing = findings.find((l) => l.startsWith("ℹ️ missing on this host: "));
      assert.ok(missing, reply);
      assert.deepEqual(new Set(missing.slice("ℹ️ missing on this host: ".length).split(", ")), new Set(["`dmesg`", "`journalctl`", "`systemctl`", "`ss`"]));
      assert.equal(area("Kernel"), "*Kernel* dmesg missing");
      assert.equal(area("Journal"), "*Journal* journalctl missing · failed units: systemctl missing");
      // Without ss the listeners come from /proc, still named by their PM2 app.
      assert.match(area("Ports")!, new RegExp(`:${appPort} 127\\.0\\.0\\.1 \`web\``));
      assert.match(area("Load")!, /^\*Load\* /);
      assert.match(area("DNS")!, /`localhost` ✅/);
    } finally {
      await fleet.close();
      await bare.stop();
    }
  });

  it("a login that may not read the kernel log says so (not root, kernel.dmesg_restrict)", { skip: process.getuid?.() !== 0 || readFileSync("/proc/sys/kernel/dmesg_restrict", "utf8").trim() !== "1" }, async () => {
    const plain = await startSshd({ users: ["plain"] });
    const home = join(dir, "no-pm2");
    const fleet = harness({ language: "en", watch: { dns: { name: "localhost" } }, hosts: [{ name: "box", ssh: plain.target({ user: plain.users.plain! }), pm2Home: home, pm2Bin: pm2.bin }] });
    try {
      const reply = (await fleet.send("/diag"))!;
      const { findings, area } = parts(reply);
      assert.ok(findings.includes(`🔴 PM2 is not running on *box* (PM2_HOME \`${home}\`). Check \`pm2Home\` in the config.`), reply);
      assert.ok(findings.some((l) => /^ℹ️ kernel log unreadable for this login \(not root, kernel\.dmesg_restrict\): dmesg: .*(not permitted|denied)/i.test(l)), reply);
      assert.equal(area("Kernel"), "*Kernel* unreadable (not root)");
      assert.ok(findings.includes("ℹ️ who holds the ports is not visible to this login (not root)"), reply);
      assert.equal(area("Apps"), undefined, "no PM2, no apps line");
    } finally {
      await fleet.close();
      await plain.stop();
    }
  });

  it("hung tools are cut off by the host's timeout, every section at once, and leave nothing running", async () => {
    const shims = join(dir, "bin-hung");
    mkdirSync(shims, { recursive: true });
    // A unique duration, to find these sleeps in /proc afterwards.
    for (const tool of ["dmesg", "journalctl"]) {
      writeFileSync(join(shims, tool), "#!/bin/sh\nexec sleep 29.517\n");
      chmodSync(join(shims, tool), 0o755);
    }
    const fleet = harness({ language: "en", hostTimeout: "3s", watch: { dns: { name: "localhost" } }, hosts: [pm2.hostConfig("local")] });
    process.env.PATH = `${shims}:${PATH}`;
    try {
      const started = Date.now();
      const reply = (await fleet.send("/diag"))!;
      const took = Date.now() - started;
      // Each is stopped after 2 s; one after the other would take 4 s.
      assert.ok(took >= 1_900 && took < 3_000, `took ${took} ms`);
      const { findings, area } = parts(reply);
      const slow = findings.find((l) => l.startsWith("ℹ️ no answer within 2 s, stopped: "));
      assert.ok(slow, reply);
      assert.deepEqual(new Set(slow.slice("ℹ️ no answer within 2 s, stopped: ".length).split(", ")), new Set(["`dmesg`", "`journalctl`"]));
      assert.equal(area("Kernel"), "*Kernel* ?");
      assert.match(area("Journal")!, /^\*Journal\* \? · /);
      assert.match(area("Disk")!, /^\*Disk\* \/ \d+%/, "the other sections are whole");
      const sleeping = readdirSync("/proc")
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            return readFileSync(`/proc/${p}/cmdline`, "utf8") === "sleep\u000029.517\u0000";
          } catch {
            return false;
          }
        });
      assert.deepEqual(sleeping, []);
    } finally {
      process.env.PATH = PATH;
      await fleet.close();
    }
  });

  it("a host whose shell prints garbage: the parts that came are shown, the rest named", async () => {
    const shims = join(dir, "bin-garbage");
    mkdirSync(shims, { recursive: true });
    writeFileSync(join(shims, "sh"), "#!/bin/sh\necho 'not a diagnosis'\n");
    chmodSync(join(shims, "sh"), 0o755);
    const fleet = harness({ language: "en", watch: { dns: { name: "localhost" } }, hosts: [pm2.hostConfig("local")] });
    process.env.PATH = `${shims}:${PATH}`;
    try {
      const reply = (await fleet.send("/diag"))!;
      const { findings, area } = parts(reply);
      // PM2 answers over its own socket, so the apps are still known.
      assert.match(area("Apps")!, /`web` ↻ 0/);
      assert.ok(findings.includes("ℹ️ host checks not read: the diagnosis printed nothing readable (no output)"), reply);
      assert.ok(findings.includes("ℹ️ listening ports not read"), reply);
      assert.equal(area("Load"), undefined);
    } finally {
      process.env.PATH = PATH;
      await fleet.close();
    }
  });

  it("a frozen host costs its own 'no answer' line within hostTimeout; the other host's section is whole", async () => {
    const frozen = await startSshd();
    const fleet = harness({
      language: "en",
      hostTimeout: "2s",
      watch: { dns: { name: "localhost" } },
      hosts: [pm2.hostConfig("local"), { name: "stb", ssh: frozen.target(), pm2Home: pm2.home, pm2Bin: pm2.bin }],
    });
    try {
      assert.match((await fleet.send("/diag stb"))!, /^🩺 \*stb\*/); // connected and warm
      frozen.freeze();
      const started = Date.now();
      const reply = (await fleet.send("/diag"))!;
      const took = Date.now() - started;
      const [first, second, ...rest] = reply.split("\n\n");
      assert.deepEqual(rest, []);
      assert.match(first!, /^🩺 \*local\*/);
      assert.match(first!, /\n🔴 `clash`/);
      assert.match(first!, /\n\*Apps\* .*\n\*Ports\* .*\n\*Load\* .*\n\*Disk\* .*\n\*DNS\* .*\n\*Kernel\* .*\n\*Journal\* /);
      assert.equal(second, "⏳ *stb*: no answer in 2 s.");
      assert.ok(took < 3_000, `took ${took} ms`);
    } finally {
      frozen.thaw();
      await fleet.close();
      await frozen.stop();
    }
  });

  it("is for operators; Indonesian by default", async () => {
    assert.match((await h.send("/diag", { as: VIEWER }))!, /^🚫 `\/diag` needs the role \*operator\*/);
    const id = harness({ watch: { dns: { name: "localhost" } }, hosts: [pm2.hostConfig()] });
    try {
      const reply = (await id.send("/diag"))!;
      assert.match(reply, /^🩺 \*local\* · hidup \S+.* · dibaca dalam [\d.]+ dtk\n/);
      assert.match(reply, /· \d+ restart · EADDRINUSE :\d+ dipegang `web`/);
      assert.match(reply, /\n\*Aplikasi\* /);
    } finally {
      await id.close();
    }
  });
});

describe("the diagnosis parser", () => {
  let raw: ProbeOutput;
  before(async () => {
    const r = await runProbe(new LocalExecutor(), { ...diagProbe, parse: (o) => o }, ["2", "localhost", "/"], { timeoutMs: 10_000 });
    assert.equal(r.kind, "ok");
    raw = (r as { value: ProbeOutput }).value;
  });
  const output = (stdout: string, o: Partial<ProbeOutput> = {}): ProbeOutput => ({ stdout, stderr: "", code: 0, truncated: false, missing: [], ...o });

  it("reads a whole run: every section, nothing unread", () => {
    const r = parseDiag(raw);
    assert.equal(r.complete, true);
    assert.deepEqual(r.unread, []);
    assert.ok(r.system && r.system.cores >= 1 && r.system.memTotalBytes > 0);
    assert.equal(r.disks[0]?.mount, "/");
    assert.equal(r.dns?.state, "resolves");
  });

  it("nothing readable is a clear error, never an empty report", () => {
    assert.throws(() => parseDiag(output("", { stderr: "sh: 1: Syntax error: end of file unexpected\n", code: 2 })), /the diagnosis printed nothing readable \(sh: 1: Syntax error: end of file unexpected\)/);
    assert.throws(() => parseDiag(output("<html>502 Bad Gateway</html>\n")), /printed nothing readable \(no output\)/);
  });

  it("output cut short: what arrived is read, the rest named unread", () => {
    const cut = raw.stdout.slice(0, Math.floor(raw.stdout.length / 2));
    const r = parseDiag(output(cut, { truncated: true }));
    assert.equal(r.complete, false);
    const ended = new Set([...cut.matchAll(/^(\w+)\|__end__$/gm)].map((m) => m[1]));
    assert.ok(r.unread.length > 0);
    for (const s of r.unread) assert.ok(!ended.has(s), `${s} ended yet unread`);
    const text = formatDiag(translator("en"), {
      host: "stb",
      diag: {
        tookMs: 1200,
        toolSeconds: 2,
        report: { kind: "ok", value: r },
        pm2: { state: "failed", error: new JagaError("pm2.not_running", { host: "stb", home: "/home/deploy/.pm2" }) },
        ports: { kind: "no_answer", error: new Error("link dropped") },
        errors: new Map(),
      } satisfies HostDiag,
      config: testConfig({}),
      incidents: [],
      stoppedBy: () => undefined,
      now: Date.now(),
    });
    assert.match(text, new RegExp(`\\nℹ️ not read in time: ${r.unread.join(", ")}\\n`));
    assert.match(text, /\n🔴 PM2 is not running on \*stb\*/);
  });

  it("garbled sections are empty, not wrong: no made-up numbers", () => {
    const r = parseDiag(
      output(
        [
          "sys|load lots of it",
          "sys|__end__",
          "disk|blocks",
          "disk|Filesystem 1024-blocks Used Available Capacity Mounted on",
          "disk|/dev/vda 100 ninety 7 93% /",
          "disk|__end__",
          "conn|est many",
          "conn|__end__",
          "kernel|oom Killed process abc (node)",
          "kernel|__end__",
          "journal|line 2024-05-02T02:14:03+0700 box x: y",
          "journal|__end__",
          "psi|cpu some avg10=x",
          "psi|__end__",
          "units|Failed to list units: Access denied",
          "units|__end__",
          "dns|getent maybe",
          "dns|__end__",
          "nosuch|line",
        ].join("\n"),
      ),
    );
    assert.equal(r.system, null);
    assert.deepEqual(r.disks, []);
    assert.equal(r.connections, null);
    assert.equal(r.kernel.state, "unread", "no `read` line: not read");
    assert.equal(r.journal.state, "unread", "no count: not read");
    assert.deepEqual(r.pressure, { available: false });
    assert.deepEqual(r.units.units, []);
    assert.equal(r.dns, null);
    assert.equal(r.complete, false);
    assert.deepEqual(r.unread, ["resolv"]);
  });
});

describe("findings", () => {
  const t = translator("en");
  const now = Date.parse("2026-05-02T03:00:00Z");
  const bootS = 86_000; // the host has been up for a day
  const hostNow = now;
  const oomAt = hostNow - (bootS - 80_000) * 1000; // 80 000 s after boot: 6000 s ago, 01:20 UTC
  const box = (extra: string[] = []) =>
    parseDiag({
      stdout: [
        "sys|load 5.10 3.00 2.00 3/200 999",
        "sys|cores 2",
        "sys|MemTotal: 2048000 kB",
        "sys|MemAvailable: 1024000 kB",
        "sys|SwapTotal: 1000000 kB",
        "sys|SwapFree: 200000 kB",
        `sys|uptime ${bootS}.00 100.00`,
        `sys|now ${hostNow / 1000}`,
        "sys|__end__",
        "psi|cpu some avg10=40.00 avg60=42.00 avg300=30.00 total=1",
        "psi|__end__",
        "disk|blocks",
        "disk|Filesystem 1024-blocks Used Available Capacity Mounted on",
        "disk|/dev/vda1 30000000 27900000 2100000 93% /",
        "disk|/dev/vdb1 10000000 1000000 9000000 10% /var",
        "disk|inodes",
        "disk|Filesystem Inodes IUsed IFree IUse% Mounted on",
        "disk|/dev/vda1 100 12 88 12% /",
        "disk|/dev/vdb1 100 95 5 95% /var",
        "disk|__end__",
        "conn|est 40",
        "conn|tw 3",
        "conn|cw 250",
        "conn|port 0BBA 12",
        "conn|__end__",
        "kernel|read",
        `kernel|oom [${80_000}.123456] Out of memory: Killed process 2215 (node) total-vm:1234kB, anon-rss:900000kB`,
        "kernel|err [85000.5] EXT4-fs error (device vdb1): ext4_find_entry:1463: inode #2: comm nginx: reading directory lblock 0",
        "kernel|__end__",
        "journal|count 12",
        "journal|line 2026-05-02T09:59:01+0700 box nginx[812]: bind() to 0.0.0.0:80 failed (98: Address already in use)",
        "journal|__end__",
        "units|nginx.service loaded failed failed A high performance web server",
        "units|__end__",
        "dns|getent 2",
        "dns|__jaga_ns__",
        "dns|nameserver 127.0.0.53",
        "dns|__end__",
        "resolv|link ../run/systemd/resolve/stub-resolv.conf",
        "resolv|note # This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).",
        "resolv|__end__",
        ...extra,
        "__jaga_diag__ done",
      ].join("\n"),
      stderr: "",
      code: 0,
      truncated: false,
      missing: [],
    });
  const proc = (name: string, status: string, restarts: number, startedAt: number, pid: number | null) => ({
    name, pmId: 0, pid, status, startedAt, restarts, unstableRestarts: 0, cpu: 0, memory: 0, execMode: "fork_mode", outLog: null, errLog: null,
  });

  it("worst first, each with what an expert needs: the storm and its port's holder, the disk, the OOM kill and the app PM2 started after it", () => {
    const text = formatDiag(t, {
      host: "stb",
      diag: {
        tookMs: 900,
        toolSeconds: 5,
        report: { kind: "ok", value: box() },
        pm2: { state: "ok", processes: [proc("bot-kjp", "errored", 183, oomAt + 1_500, null), proc("web", "online", 0, now - 86_000_000, 3100)] },
        ports: { kind: "ok", value: { source: "ss", missing: [], pm2: "ok", ports: [{ port: 3002, addresses: ["[::]"], holders: [{ pid: 3100, name: "node /srv/web/server.js", comm: "node", app: "web", chain: [3100] }] }] } },
        errors: new Map([["bot-kjp", ["Error: listen EADDRINUSE: address already in use :::3002", "  code: 'EADDRINUSE',"]]]),
      },
      config: testConfig({ timezone: "Asia/Jakarta", watch: { dns: { name: "web.whatsapp.com" } } }),
      incidents: [{ id: 12, uid: "u12", host: "stb", app: "bot-kjp", kind: "restart_storm", summary: "", state: "open", openedAt: now - 600_000, acknowledgedAt: null, acknowledgedBy: null, resolvedAt: null }],
      stoppedBy: () => undefined,
      now,
    });
    assert.deepEqual(text.split("\n"), [
      "🩺 *stb* · up 23h 53m · read in 0.9 s",
      "🔴 `bot-kjp` errored · 183 restarts · EADDRINUSE :3002 held by `web` · #12",
      "   `Error: listen EADDRINUSE: address already in use :::3002`",
      "🔴 load 5.10 on 2 cores",
      "🔴 disk / 93% of 29 GB",
      "🔴 inodes /var 95%: no new files once full, whatever the free space",
      "🔴 `web.whatsapp.com` does not resolve",
      "🟠 swap 80% in use (of 977 MB)",
      "🟠 CPU pressure 42%: tasks wait for a core",
      "🟠 250 connections in CLOSE_WAIT: an app does not close its sockets",
      "🟠 OOM kill 08:20 `node` (pid 2215), then PM2 started `bot-kjp` again",
      "🟠 kernel errors since boot: 1",
      "   `EXT4-fs error (device vdb1): ext4_find_entry:1463: inode #2: comm nginx: reading directory lblock 0`",
      "🟠 failed units: `nginx.service`",
      "🟡 journal errors since boot: 12",
      "   `09:59 nginx[812]: bind() to 0.0.0.0:80 failed (98: Address already in use)`",
      "*Apps* ❌ `bot-kjp` ↻ 183 ⚠️ · ✅ `web` ↻ 0",
      "*Ports* :3002 [::] `web` ⇄12 · 40 established",
      "*Load* 5.10 3.00 2.00 / 2 cores · CPU pressure 42% · mem 50% of 2.0 GB · swap 80%",
      "*Disk* / 93% (inodes 12%) · /var 10% (inodes 95%)",
      "*DNS* `web.whatsapp.com` ❌ · 127.0.0.53 · resolv.conf: systemd-resolved",
      "*Kernel* since boot: OOM kills 1, errors 1",
      "*Journal* errors since boot: 12 · failed units: nginx.service",
    ]);
  });

  it("one host's answer stays phone-sized: the compact lines go before any finding does", () => {
    const many = Array.from({ length: 40 }, (_, i) => proc(`app-${i}`, "errored", i, now - 1_000, null));
    const text = formatDiag(t, {
      host: "stb",
      diag: {
        tookMs: 900,
        toolSeconds: 5,
        report: { kind: "ok", value: box() },
        pm2: { state: "ok", processes: many },
        ports: { kind: "ok", value: { source: "ss", missing: [], pm2: "ok", ports: [] } },
        errors: new Map(many.map((p) => [p.name, [`Error: ${"x".repeat(300)}`]])),
      },
      config: testConfig({}),
      incidents: [],
      stoppedBy: () => undefined,
      now,
    });
    assert.ok(text.length <= 1500, `${text.length}`);
    assert.match(text, /^🩺 \*stb\*.*\n🔴 `app-0` errored · 0 restarts\n/);
    assert.match(text, /\n… and \d+ more$/);
    assert.doesNotMatch(text, /\n\*Apps\*/, "the compact lines went first");
  });
});
