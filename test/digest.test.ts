/**
 * The morning digest with an injected clock: once per day across restarts, caught up when Jaga
 * was down at the scheduled time (within 6 h), in Asia/Jakarta and in a second time zone.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, describe, it } from "node:test";
import { ManualClock } from "../src/clock.js";
import { startPm2, type TestPm2 } from "./helpers/pm2.js";
import { watchHarness, type WatchHarness } from "./helpers/watch.js";

const dir = mkdtempSync(join(tmpdir(), "jaga-digest-"));
let pm2: TestPm2 | undefined;
let w: WatchHarness | undefined;
after(async () => {
  await pm2?.stop();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await w?.close();
  w = undefined;
});

const digests = (h: WatchHarness) => h.alerts().filter((a) => a.startsWith("☀️"));

async function boot(file: string, at: string, timezone = "Asia/Jakarta", clock = new ManualClock(Date.parse(at))) {
  pm2 ??= await startPm2({ web: "healthy.js", "bot-kjp": "stderr.js" });
  w = watchHarness({ hosts: [pm2.hostConfig()], timezone }, { clock, file: join(dir, file) });
  return { clock, h: w };
}

describe("digest schedule", () => {
  it("sends at 07:00 Asia/Jakarta exactly once, also across a restart", async () => {
    const { clock, h } = await boot("once.db", "2026-11-22T00:00:00Z"); // 07:00 WIB
    assert.equal(await h.watch.digest.runIfDue(), true);
    assert.equal(await h.watch.digest.runIfDue(), false);
    await clock.advance(30 * 60_000);
    await h.close();
    w = undefined;

    const again = await boot("once.db", "2026-11-22T00:45:00Z");
    assert.equal(await again.h.watch.digest.runIfDue(), false, "restarted Jaga does not send it again");
    assert.equal(digests(again.h).length, 1);
    // The next morning it goes out again.
    await again.clock.advance(24 * 3_600_000);
    assert.equal(await again.h.watch.digest.runIfDue(again.clock.now()), true);
    assert.equal(digests(again.h).length, 2);
  });

  it("catches up when Jaga starts less than 6 h late, and skips it later than that", async () => {
    const late = await boot("late.db", "2026-11-23T02:30:00Z"); // 09:30 WIB: 2.5 h late
    assert.equal(await late.h.watch.digest.runIfDue(), true);
    await late.h.close();
    w = undefined;
    const tooLate = await boot("toolate.db", "2026-11-23T06:30:00Z"); // 13:30 WIB: 6.5 h late
    assert.equal(tooLate.h.watch.digest.due(), null);
    assert.equal(await tooLate.h.watch.digest.runIfDue(), false);
    const before = await boot("before.db", "2026-11-22T23:59:00Z"); // 06:59 WIB
    assert.equal(before.h.watch.digest.due(), null, "not before its time");
  });

  it("follows the configured time zone (America/New_York)", async () => {
    // 07:00 in New York on 22 Nov (EST, UTC-5) is 12:00Z; 07:00 WIB that day was long before.
    const early = await boot("ny.db", "2026-11-22T11:59:00Z", "America/New_York");
    assert.equal(early.h.watch.digest.due(), null);
    await early.clock.advance(60_000);
    assert.equal(early.h.watch.digest.due(), Date.parse("2026-11-22T12:00:00Z"));
    assert.equal(early.h.watch.digest.dayOf(early.clock.now()), "2026-11-22");
    assert.equal(await early.h.watch.digest.runIfDue(), true);
    assert.equal(early.h.store.watch.get("digest.lastSent"), "2026-11-22");
  });
});

describe("digest content", () => {
  it("sums up hosts, apps, restarts in 24 h and incidents, short enough for a phone", async () => {
    const { clock, h } = await boot("content.db", "2026-11-22T00:00:00Z");
    h.store.watch.recordRestarts("local", "bot-kjp", clock.now() - 3_600_000, 33);
    h.store.watch.recordRestarts("local", "bot-kjp", clock.now() - 30 * 3_600_000, 100); // older than 24 h
    const { incident } = await h.store.incidents.openOrGet({ host: "local", app: "bot-kjp", kind: "restart_storm", summary: "33 restarts", at: clock.now() - 3_600_000 });
    await h.store.incidents.openOrGet({ host: "local", app: "", kind: "disk", summary: "/ at 81%", at: clock.now() - 7_200_000 });
    await h.store.incidents.resolve(incident.id, clock.now() - 600_000);
    const text = await h.watch.digest.compose();
    assert.match(text, /^☀️ \*Jaga digest\* · Sun 22 Nov, 07:00/);
    assert.match(text, /\*local\* · load [\d.]+ · mem \d+% · disk \/ \d+%/);
    assert.match(text, /⚠️ `bot-kjp` online · ↻ 33\/24h/);
    assert.match(text, /✅ `web` online · ↻ 0\/24h/);
    assert.match(text, /Incidents in 24 h: 2 opened, 1 resolved, 1 still open\.\n• #2 💾 disk local/);
    assert.ok(text.length < 1500, `${text.length} chars`);
    // Live vitals move between two reads; the rest of /digest is the same text.
    const live = /load [\d.]+ · mem \d+% · disk [^\n]*|· \d+% · [\d.]+ (B|KB|MB|GB)/g;
    assert.equal((await h.send("/digest"))!.replace(live, ""), text.replace(live, ""));
  });
});
