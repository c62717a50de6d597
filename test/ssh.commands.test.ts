/**
 * Every foundation command through the real pipeline, with the host reached over a real sshd
 * on 127.0.0.1, and a real PM2 on the far side (its PM2_HOME set as the host's `pm2Home`).
 * Plus the fleet cases: an unreachable host in /status, an app found on two hosts.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { harness, type Harness } from "./helpers/harness.js";
import { startPm2, waitFor, type TestPm2 } from "./helpers/pm2.js";
import { freePort, startSshd, type TestSshd } from "./helpers/sshd.js";

const OPERATOR = "628111000002";
const people = [{ phone: OPERATOR, name: "Oki", role: "operator", language: "en" }];

let sshd: TestSshd;
let pm2: TestPm2;
let h: Harness;
let deadPort: number;
const sshHost = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  ssh: sshd.target(extra),
  pm2Home: pm2.home,
  pm2Bin: pm2.bin,
});
const op = (text: string) => h.send(text, { as: OPERATOR });
const pidOf = async (name: string) => (await pm2.jlist()).find((p) => p.name === name)?.pid;

before(async () => {
  [sshd, pm2] = await Promise.all([startSshd(), startPm2({ healthy: "healthy.js", noisy: "stderr.js" })]);
  deadPort = await freePort();
  h = harness({ language: "en", people, hosts: [sshHost("vps")] });
});
after(async () => {
  await h?.close();
  await Promise.allSettled([pm2?.stop(), sshd?.stop()]);
});

describe("foundation commands over SSH", () => {
  it("/status shows the remote apps and the host's vitals", async () => {
    const reply = (await h.send("/status"))!;
    assert.match(reply, /^\*vps\* · load [\d.]+ [\d.]+ [\d.]+ \(\d+ cores\) · mem \d+% .* · disk \/ \d+%/);
    assert.match(reply, /✅ `healthy` online/);
    assert.match(reply, /`noisy` online/);
  });

  it("/restart really restarts the remote app", async () => {
    const before = await pidOf("healthy");
    const reply = (await op("/restart healthy"))!;
    const after = await pidOf("healthy");
    assert.notEqual(after, before);
    assert.match(reply, new RegExp(`restarted on \\*vps\\*: online, pid ${after}`));
  });

  it("/logs shows the remote app's error lines", async () => {
    await waitFor(async () => /ENOTFOUND/.test((await op("/logs noisy 5")) ?? ""), 10_000, "noisy to log");
    const reply = (await op("/logs noisy 5 vps"))!;
    assert.match(reply, /error lines of `noisy` on \*vps\*/);
    assert.match(reply, /ENOTFOUND web\.whatsapp\.com/);
  });

  it("/flush empties the remote app's logs", async () => {
    assert.match((await op("/flush noisy"))!, /Logs of .*noisy.* on \*vps\* emptied/);
  });

  it("/stop asks, and after `/yes` really stops the remote app; /start brings it back", async () => {
    const status = async () => (await pm2.jlist()).find((p) => p.name === "noisy")?.pm2_env.status;
    const plan = (await op("/stop noisy"))!;
    assert.match(plan, /^⚠️ \*Confirm \/stop\*\n⏹️ Stop `noisy` on \*vps\*/);
    assert.equal(await status(), "online", "nothing stopped before the confirmation");
    const code = /Reply `\/yes (\d{4})`/.exec(plan)![1]!;
    assert.match((await op(`/yes ${code}`))!, /^⏹️ `noisy` stopped on \*vps\*: stopped/);
    assert.equal(await status(), "stopped");
    assert.match((await op("/start noisy"))!, /^▶️ `noisy` started on \*vps\*: online, pid \d+/);
    assert.equal(await status(), "online");
  });

  it("/whoami and /audit answer, and the audit names the SSH host", async () => {
    assert.match((await op("/whoami"))!, /Oki/);
    const audit = (await h.send("/audit"))!;
    assert.match(audit, /restart/);
    assert.match(audit, /vps/);
  });
});

describe("fleet over SSH", () => {
  it("/status answers for every host in config order; a dead one gets its own line with the reason", async () => {
    const fleet = harness({
      language: "en",
      hosts: [sshHost("vps"), sshHost("stb", { port: deadPort }), sshHost("api", { hostKey: sshd.otherFingerprint })],
    });
    try {
      const reply = (await fleet.send("/status"))!;
      const sections = reply.split("\n\n");
      assert.equal(sections.length, 3, reply);
      assert.match(sections[0]!, /^\*vps\* · load/);
      assert.match(sections[0]!, /`healthy` online/);
      assert.match(sections[1]!, /^⛔ \*stb\*: 127\.0\.0\.1:\d+ refused the connection/);
      assert.match(sections[2]!, /^🚨 \*api\*: HOST KEY MISMATCH/);
      assert.ok(sections[2]!.includes(sshd.fingerprint) && sections[2]!.includes(sshd.otherFingerprint));
    } finally {
      await fleet.close();
    }
  });

  it("an app on two hosts: Jaga asks which, and the named host works", async () => {
    const fleet = harness({ language: "en", people, hosts: [sshHost("vps"), sshHost("stb")] });
    try {
      const reply = (await fleet.send("/restart healthy", { as: OPERATOR }))!;
      assert.equal(reply, "`healthy` runs on several hosts: vps, stb. Say which: `/restart healthy <host>`.");
      assert.match((await fleet.send("/restart healthy stb", { as: OPERATOR }))!, /restarted on \*stb\*/);
    } finally {
      await fleet.close();
    }
  });

  it("an app on one reachable host is found even when another host is down", async () => {
    const fleet = harness({ language: "en", people, hosts: [sshHost("stb", { port: deadPort }), sshHost("vps")] });
    try {
      assert.match((await fleet.send("/logs noisy 3", { as: OPERATOR }))!, /on \*vps\*/);
    } finally {
      await fleet.close();
    }
  });
});
