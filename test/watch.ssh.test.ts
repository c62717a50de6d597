/**
 * Watching a host over the real sshd: PM2's list asked of the daemon's socket through an OpenSSH
 * streamlocal channel on the pooled connection, so a storm on the far side is found without a
 * process started there — and without the apps' log lines crossing the link.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startPm2, waitFor, type TestPm2 } from "./helpers/pm2.js";
import { startSshd, type TestSshd } from "./helpers/sshd.js";
import { traced, watchHarness, type Traffic, type WatchHarness } from "./helpers/watch.js";

let sshd: TestSshd;
let pm2: TestPm2;
let w: WatchHarness;
const traffic: Traffic = { runs: [], sockets: [] };
const dir = mkdtempSync(join(tmpdir(), "jaga-watch-ssh-"));
const flag = join(dir, "crash");

before(async () => {
  // crashy is healthy until the flag: known to the watcher before its first crash.
  [sshd, pm2] = await Promise.all([startSshd(), startPm2({ web: "healthy.js", crashy: { script: "crash-on-flag.js", env: { FLAG_FILE: flag } } })]);
  w = watchHarness({ hosts: [{ name: "stb", ssh: sshd.target(), pm2Home: pm2.home, pm2Bin: pm2.bin }] }, { executor: (made) => traced(made, traffic) });
});
after(async () => {
  await w?.close();
  await Promise.allSettled([pm2?.stop(), sshd?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe("watching over SSH", () => {
  it("finds a remote crash loop in the daemon's list and alerts with the cause; the apps' logs never cross the link", async () => {
    const watcher = w.watch.watchers[0]!;
    assert.equal(watcher.pm2Period, 2_000, "the list comes from the socket over SSH too");
    await watcher.tick();
    writeFileSync(flag, "");
    const restarts = async () => (await pm2.jlist()).find((p) => p.name === "crashy")!.pm2_env.restart_time;
    await waitFor(async () => (await restarts()) >= 3, 15_000, "three restarts");
    await watcher.tick();
    const alert = w.alerts().find((a) => a.startsWith("🔁 *Restart storm* · `crashy` on *stb*"));
    assert.ok(alert, w.alerts().join("\n---\n"));
    assert.match(alert, /Likely cause: port 3000 is already in use/);
    assert.match(alert, /\n\*Actions:\* 1 `\/logs crashy stb` · 2 `\/restart crashy stb` · 3 `\/stop crashy stb`\n/);
    assert.equal(w.alerts().filter((a) => a.startsWith("🔁")).length, 1);
    assert.deepEqual(new Set(traffic.sockets.map((s) => s.path)), new Set([join(pm2.home, "rpc.sock")]), "the bus is never opened");
    assert.ok(!traffic.sockets.some((s) => s.text.includes("healthy tick")), "web's log lines stay on the host");
  });

  it("asks the remote PM2 daemon over its socket, and says so when none runs there", async () => {
    const reply = (await w.send("/status"))!;
    assert.match(reply, /`web` online/);
    const empty = watchHarness({ hosts: [{ name: "bare", ssh: sshd.target(), pm2Home: `${pm2.home}-nothing-here`, pm2Bin: pm2.bin }] });
    try {
      assert.match((await empty.send("/status"))!, /PM2 is not running on \*bare\*/);
    } finally {
      await empty.close();
    }
  });

  it("reads the remote host's vitals and calls it unreachable when sshd goes away", async () => {
    const watcher = w.watch.watchers[0]!;
    await watcher.tick();
    assert.ok(watcher.lastVitals && watcher.lastVitals.disks.length > 0);
    await sshd.stop();
    const asked = traffic.sockets.length;
    for (let i = 0; i < 3; i++) await watcher.tick();
    assert.ok(w.alerts().some((a) => a.startsWith("📡 *Host unreachable* · *stb*")), w.alerts().join("\n---\n"));
    assert.equal(traffic.sockets.length, asked, "a host that does not answer is not asked for its list");
  });
});
