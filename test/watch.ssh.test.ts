/**
 * Watching a host over the real sshd: PM2's event bus reached through an OpenSSH streamlocal
 * channel on the pooled connection, so a storm on the far side is alerted without polling.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { APPS, startPm2, waitFor, type TestPm2 } from "./helpers/pm2.js";
import { startSshd, type TestSshd } from "./helpers/sshd.js";
import { watchHarness, type WatchHarness } from "./helpers/watch.js";

let sshd: TestSshd;
let pm2: TestPm2;
let w: WatchHarness;

before(async () => {
  [sshd, pm2] = await Promise.all([startSshd(), startPm2({ web: "healthy.js" })]);
  w = watchHarness({ hosts: [{ name: "stb", ssh: sshd.target(), pm2Home: pm2.home, pm2Bin: pm2.bin }] });
});
after(async () => {
  await w?.close();
  await Promise.allSettled([pm2?.stop(), sshd?.stop()]);
});

describe("watching over SSH", () => {
  it("hears a remote crash loop on PM2's bus and alerts with the cause", async () => {
    const watcher = w.watch.watchers[0]!;
    watcher.bus!.start();
    await watcher.tick();
    await waitFor(() => watcher.bus!.connected, 10_000, "bus over ssh");
    await pm2.cli("start", join(APPS, "crashloop.js"), "--name", "crashy");
    await waitFor(() => w.alerts().some((a) => a.startsWith("🔁 *Restart storm* · `crashy` on *stb*")), 15_000, "storm alert");
    const alert = w.alerts().find((a) => a.startsWith("🔁"))!;
    assert.match(alert, /Likely cause: port 3000 is already in use/);
    assert.match(alert, /\n\*Actions:\* 1 `\/logs crashy stb` · 2 `\/restart crashy stb` · 3 `\/stop crashy stb`\n/);
    assert.equal(w.alerts().filter((a) => a.startsWith("🔁")).length, 1);
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
    for (let i = 0; i < 3; i++) await watcher.tick();
    assert.ok(w.alerts().some((a) => a.startsWith("📡 *Host unreachable* · *stb*")), w.alerts().join("\n---\n"));
  });
});
