/**
 * Every foundation command through the real pipeline, against a real PM2 daemon running
 * fixture apps (healthy, crash-looping, writing to stderr).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { z } from "zod";
import { defineCommand } from "../src/pipeline/command.js";
import { commands as allCommands } from "../commands/index.js";
import { harness, type Harness } from "./helpers/harness.js";
import { ROOT, startPm2, waitFor, type TestPm2 } from "./helpers/pm2.js";
import { alive } from "./helpers/sshd.js";

const VIEWER = "628111000001";
const OPERATOR = "628111000002";
const ADMIN_EN = "628111000003";
const people = [
  { phone: VIEWER, name: "Vera", role: "viewer", language: "id" },
  { phone: OPERATOR, name: "Oki", role: "operator", language: "en" },
  { phone: ADMIN_EN, name: "Ana", role: "admin", language: "en" },
];

let pm2: TestPm2;
let h: Harness;
const restarts = async () => Object.fromEntries((await pm2.jlist()).map((p) => [p.name, p.pm2_env.restart_time]));
const pidOf = async (name: string) => (await pm2.jlist()).find((p) => p.name === name)?.pid;
const as = (who: string) => (text: string) => h.send(text, { as: who });
const op = as(OPERATOR);

before(async () => {
  pm2 = await startPm2({ healthy: "healthy.js", crashloop: "crashloop.js", noisy: "stderr.js" });
  h = harness({ language: "en", people, hosts: [pm2.hostConfig()], watch: { dns: { name: "localhost" } } });
  await waitFor(async () => (await restarts()).crashloop! >= 1, 10_000, "crashloop to restart");
});
after(async () => {
  await h?.close();
  await pm2?.stop();
});

describe("/status", () => {
  it("shows each app's real state and the host's load, memory and disk", async () => {
    const reply = (await h.send("/status"))!;
    assert.match(reply, /^\*local\* · load [\d.]+ [\d.]+ [\d.]+ \(\d+ cores\) · mem \d+% .* · disk \/ \d+%/);
    assert.match(reply, /✅ `healthy` online · up \d+s · ↻ 0 · \d+% · [\d.]+ MB/);
    assert.match(reply, /`noisy` online/);
    const crash = reply.split("\n").find((l) => l.includes("`crashloop`"));
    const count = (await restarts()).crashloop!;
    assert.ok(crash && /↻ \d+/.test(crash), reply);
    assert.ok(Number(/↻ (\d+)/.exec(crash)![1]) >= 1 && Number(/↻ (\d+)/.exec(crash)![1]) <= count);
  });

  it("answers in Indonesian by default", async () => {
    const reply = (await h.send("/status", { as: VIEWER }))!;
    assert.match(reply, /aktif \d+/);
  });

  it("refuses an unknown host with the list of known ones", async () => {
    assert.equal(await op("/status stb"), "❓ Unknown host `stb`. Known hosts: local.");
  });
});

describe("/restart", () => {
  it("really restarts the app and reports its new pid", async () => {
    const before = await pidOf("healthy");
    const count = (await restarts()).healthy!;
    const reply = (await op("/restart healthy"))!;
    const after = await pidOf("healthy");
    assert.notEqual(after, before);
    assert.equal((await restarts()).healthy, count + 1);
    assert.equal(reply, `🔄 \`healthy\` restarted on *local*: online, pid ${after}, ↻ ${count + 1}.`);
  });

  it("accepts the host explicitly", async () => {
    assert.match((await op("/restart healthy local"))!, /restarted on \*local\*/);
  });

  it("answers an unknown app with 'did you mean' and restarts nothing", async () => {
    const snapshot = await restarts();
    const reply = await op("/restart helthy");
    assert.equal(reply, "❓ No app `helthy` on *local*.\nDid you mean `healthy`?");
    assert.deepEqual(withoutCrashloop(await restarts()), withoutCrashloop(snapshot));
  });

  for (const attempt of ["/restart bot-kjp; rm -rf /", "/restart healthy;reboot", "/restart $(reboot)", "/restart healthy|sh", "/restart ../../etc"]) {
    it(`runs nothing for the injection attempt ${JSON.stringify(attempt)}`, async () => {
      const snapshot = await restarts();
      const reply = (await op(attempt))!;
      assert.match(reply, /^❌ (Too many arguments|Invalid app name)/);
      assert.match(reply, /Usage: `\/restart <app> \[host\] \[--force\]`/);
      assert.deepEqual(withoutCrashloop(await restarts()), withoutCrashloop(snapshot));
    });
  }

  it("treats backticks as WhatsApp formatting: `id` is just an app name that does not exist", async () => {
    const snapshot = await restarts();
    assert.equal(await op("/restart `id`"), "❓ No app `id` on *local*.");
    assert.deepEqual(withoutCrashloop(await restarts()), withoutCrashloop(snapshot));
  });

  it("is refused to a viewer, and nothing restarts", async () => {
    const snapshot = await restarts();
    assert.equal(await h.send("/restart healthy", { as: VIEWER }), "🚫 `/restart` butuh peran *operator*; peran Anda *viewer*.");
    assert.deepEqual(withoutCrashloop(await restarts()), withoutCrashloop(snapshot));
  });

  it("asks for the app when it is missing", async () => {
    assert.equal(await op("/restart"), "❌ Missing `app`.\nUsage: `/restart <app> [host] [--force]`");
  });
});

describe("/logs", () => {
  it("shows the app's real last error lines, NIKs masked", async () => {
    await waitFor(() => existsSync(join(pm2.home, "logs", "noisy-error.log")) && statSync(join(pm2.home, "logs", "noisy-error.log")).size > 0);
    const reply = (await op("/logs noisy 4"))!;
    const lines = reply.split("\n");
    assert.equal(lines[0], "📄 Last 4 error lines of `noisy` on *local*:");
    assert.equal(lines[1], "```");
    assert.equal(lines.length, 7);
    assert.match(reply, /getaddrinfo ENOTFOUND web\.whatsapp\.com/);
    assert.match(reply, /NIK 3174••••••••0001/);
    assert.doesNotMatch(reply, /3174015501900001/);
  });

  it("shows a crash loop's stack, without PM2's decoration", async () => {
    const reply = (await op("/logs crashloop"))!;
    assert.match(reply, /Error: crashloop: fatal error after start/);
    assert.match(reply, /EADDRINUSE/);
    assert.doesNotMatch(reply, /\d+\|crashloo/);
    assert.doesNotMatch(reply, /\[TAILING\]/);
  });

  it("defaults to 20 lines, caps at 200, and fits one message", async () => {
    await waitFor(async () => (await op("/logs noisy"))!.startsWith("📄 Last 20 "));
    assert.equal(await op("/logs noisy 500"), "❌ `500` is not a whole number from 1 to 200.\nUsage: `/logs <app> [lines] [host]`");
    const big = (await op("/logs noisy 200"))!;
    assert.ok(big.length <= 4_000, `reply is ${big.length} chars`);
  });

  it("takes lines and host in either order", async () => {
    assert.match((await op("/logs noisy local 3"))!, /^📄 Last 3 error lines of `noisy` on \*local\*/);
  });
});

describe("/flush", () => {
  it("empties one app's logs and says how much was freed", async () => {
    const errLog = join(pm2.home, "logs", "crashloop-error.log");
    await waitFor(() => existsSync(errLog) && statSync(errLog).size > 0);
    const reply = (await op("/flush crashloop"))!;
    assert.match(reply, /^🧹 Logs of `crashloop` on \*local\* emptied: [\d.]+ (B|KB|MB) freed\.$/);
    assert.doesNotMatch(reply, / 0 B freed/);
  });

  it("empties every app's logs on a host named alone", async () => {
    await waitFor(() => statSync(join(pm2.home, "logs", "noisy-error.log")).size > 1000);
    const plan = (await op("/flush local"))!;
    assert.match(plan, /^⚠️ \*Confirm \/flush\*\n🧹 Empties the PM2 logs of these apps \(cannot be undone\):\n\*local\*: `healthy`, `crashloop`, `noisy`\nReply `\/yes (\d{4})`/);
    assert.ok(statSync(join(pm2.home, "logs", "noisy-error.log")).size > 1000, "nothing emptied before the confirmation");
    const code = /\/yes (\d{4})/.exec(plan)![1]!;
    const reply = (await op(`/yes ${code}`))!;
    assert.match(reply, /^🧹 Logs of all apps on \*local\* emptied: [\d.]+ (KB|MB) freed\.$/);
    assert.ok(statSync(join(pm2.home, "logs", "noisy-error.log")).size < 1000);
  });
});

describe("/dns check", () => {
  it("resolves the configured name on the host the way its apps do, and lists the nameservers", async () => {
    const reply = (await op("/dns check"))!;
    assert.match(reply, /^🌐 \*local\*: `localhost` ✅ resolves · nameservers \S+/);
    // The same check (each server's time aside): `/dns <host>` is `/dns check <host>`.
    const untimed = (r: string | null) => r?.replace(/\d+ ms/g, "… ms");
    assert.equal(untimed(await op("/dns local")), untimed(reply));
    assert.match((await op("/dns frob"))!, /^❌ Invalid value for `action`/);
    assert.match((await op("/dns fix"))!, /^🚫/, "fixing is an admin's");
    assert.match((await h.send("/dns check", { as: VIEWER }))!, /^🚫/);
  });
});

describe("/whoami, /help, /audit", () => {
  it("/whoami names the person and role", async () => {
    assert.equal(await op("/whoami"), "👤 *Oki* (628111000002) · role *operator* · language en");
  });

  it("/help lists only what the role may run, with usage", async () => {
    const viewer = (await h.send("/help", { as: VIEWER }))!;
    assert.match(viewer, /`\/status \[host\]`/);
    assert.doesNotMatch(viewer, /\/restart|\/audit|\/flush/);
    const admin = (await h.send("/help", { as: ADMIN_EN }))!;
    for (const c of ["/status", "/restart <app> [host]", "/flush", "/logs <app> [lines] [host]", "/whoami", "/audit [n]"]) {
      assert.ok(admin.includes(`\`${c}`), `help lacks ${c}`);
    }
  });

  it("/help follows the config's per-command rules, and marks what asks for a /yes", async () => {
    const ruled = harness({ language: "en", people, hosts: [pm2.hostConfig()], commands: { restart: { role: "admin" }, logs: { people: ["Vera"] } } });
    try {
      const vera = (await ruled.send("/help", { as: VIEWER }))!;
      assert.match(vera, /`\/logs <app> \[lines\] \[host\]`/);
      const oki = (await ruled.send("/help", { as: OPERATOR }))!;
      assert.doesNotMatch(oki, /\/restart|\/logs/);
      assert.match(oki, /`\/flush \[app\] \[host\]` — Empty PM2 logs ⚠️/);
      assert.match(oki, /⚠️ asks first: reply \/yes <code> to go ahead, \/no to cancel\./);
      assert.match((await ruled.send("/logs noisy", { as: OPERATOR }))!, /^🚫 `\/logs` is only for the people listed for it in the config\.$/);
      assert.match((await ruled.send("/restart healthy", { as: OPERATOR }))!, /^🚫 `\/restart` needs the role \*admin\*; yours is \*operator\*\.$/);
      assert.match((await ruled.send("/logs noisy 3", { as: VIEWER }))!, /^📄 3 baris error terakhir `noisy`/);
    } finally {
      await ruled.close();
    }
  });

  it("/audit shows recent commands to admins only", async () => {
    await op("/whoami");
    assert.match((await op("/audit"))!, /^🚫/);
    const reply = (await h.send("/audit 3", { as: ADMIN_EN }))!;
    const lines = reply.split("\n");
    assert.equal(lines[0], "🧾 Last 3 commands:");
    assert.match(lines[1]!, /Oki `\/audit` → denied/);
    assert.match(lines[2]!, /Oki `\/whoami` → ok/);
  });

  it("records who, what, where, outcome and duration for every command", async () => {
    await op("/restart healthy");
    await op("/restart $(reboot)");
    const [invalid, ok] = await h.store.audit.recent(2);
    assert.deepEqual(
      { actor: ok!.actor, name: ok!.actorName, command: ok!.command, host: ok!.host, outcome: ok!.outcome, args: JSON.parse(ok!.args) as unknown },
      { actor: OPERATOR, name: "Oki", command: "restart", host: "local", outcome: "ok", args: { app: "healthy" } },
    );
    assert.ok(ok!.durationMs > 0);
    assert.equal(invalid!.outcome, "invalid");
    assert.equal(invalid!.command, "restart");
  });
});

describe("bad input", () => {
  it("ignores strangers entirely and counts them", async () => {
    const before = h.pipeline.counters.ignoredSenders;
    assert.equal(await h.send("/restart healthy", { as: "628999999999" }), null);
    assert.equal(await h.send("/status", { as: "628999999999", group: true }), null);
    assert.equal(h.pipeline.counters.ignoredSenders, before + 2);
  });

  it("stays silent on group chatter but points the way in a direct chat", async () => {
    assert.equal(await h.send("pagi semua", { as: OPERATOR, group: true }), null);
    assert.equal(await op("hello"), "Send */help* for the list of commands.");
  });

  it("answers an unknown command with suggestions", async () => {
    assert.equal(await op("/restrat healthy"), "❓ Unknown command `/restrat`.\nDid you mean */restart*?");
    assert.equal(await op("/xyzzy"), "❓ Unknown command `/xyzzy`.\nSend */help* for the list of commands.");
  });

  it("answers an empty command, several commands, and a 10 kB message", async () => {
    assert.equal(await op("/"), "Empty command. Send */help* for the list.");
    assert.equal(await op("/status\n/restart healthy"), "❌ One command per message, please. Nothing was run.");
    assert.match((await op(`/restart ${"x".repeat(10_000)}`))!, /^❌ Message too long \(10009 characters, at most 1000\)/);
  });

  it("accepts decorated input from a phone keyboard", async () => {
    assert.match((await op("*/Restart*  _healthy_\u200B"))!, /restarted on \*local\*/);
  });
});

describe("hosts that misbehave", () => {
  const dir = mkdtempSync(join(tmpdir(), "jaga-misc-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("says PM2 is not running (and starts no daemon) when PM2_HOME is wrong", async () => {
    const empty = join(dir, "empty-home");
    const x = harness({ language: "en", hosts: [{ ...pm2.hostConfig(), pm2Home: empty }] });
    try {
      assert.match((await x.send("/status"))!, new RegExp(`PM2 is not running on \\*local\\* \\(PM2_HOME \`${empty}\`\\)`));
      assert.match((await x.send("/restart healthy"))!, /^PM2 is not running on \*local\*/);
      assert.equal(existsSync(join(empty, "rpc.sock")), false);
    } finally {
      await x.close();
    }
  });

  it("says 'no PM2 apps' for a daemon with none", async () => {
    const bare = await startPm2({});
    await bare.cli("ping");
    const x = harness({ language: "en", hosts: [bare.hostConfig()] });
    try {
      assert.match((await x.send("/status"))!, /\nNo PM2 apps on \*local\*\.$/);
      assert.equal(await x.send("/restart healthy"), "No PM2 apps on *local*.");
    } finally {
      await x.close();
      await bare.stop();
    }
  });

  it("says how to set pm2Bin when pm2 is not found", async () => {
    const x = harness({ language: "en", hosts: [{ ...pm2.hostConfig(), pm2Bin: "pm2-not-installed" }] });
    try {
      assert.match((await x.send("/restart healthy"))!, /^`pm2-not-installed` was not found on \*local\*\. Set `pm2Bin`/);
    } finally {
      await x.close();
    }
  });

  it("stops a command that hangs, kills what it started, and keeps serving", async () => {
    const x = harness({ language: "en", commandTimeout: 1, hosts: [{ ...pm2.hostConfig(), pm2Bin: join(ROOT, "test/fixtures/bin/hang-pm2") }] });
    try {
      const started = Date.now();
      assert.equal(await x.send("/restart healthy"), "⏱️ `/restart` gave no answer within 1 s and was stopped.");
      assert.ok(Date.now() - started < 5_000);
      const pid = Number(readFileSync(join(pm2.home, "hang.pid"), "utf8"));
      await waitFor(() => !alive(pid), 5_000, "hanging pm2 to be killed");
      assert.equal((await x.store.audit.recent(1))[0]!.outcome, "timeout");
      assert.match((await x.send("/whoami"))!, /^👤/);
    } finally {
      await x.close();
    }
  });

  it("survives a command that crashes: the user gets an error id, the log the detail", async () => {
    const boom = defineCommand({
      name: "boom",
      summary: { id: "x", en: "x" },
      role: "viewer",
      args: z.object({}),
      run: () => Promise.reject(new TypeError("cannot read properties of undefined")),
    });
    const x = harness({ language: "en" }, { commands: [...allCommands, boom] });
    try {
      const reply = (await x.send("/boom"))!;
      const id = /Error id: `([A-Z0-9]+)`/.exec(reply)?.[1];
      assert.ok(id, reply);
      assert.doesNotMatch(reply, /cannot read/);
      assert.equal((await x.store.audit.recent(1))[0]!.errorId, id);
      assert.match((await x.send("/whoami"))!, /^👤/);
    } finally {
      await x.close();
    }
  });
});

function withoutCrashloop(r: Record<string, number>): Record<string, number> {
  const { crashloop: _, ...rest } = r;
  return rest;
}

