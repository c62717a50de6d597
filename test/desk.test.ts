/**
 * The incident desk on the real embedded store (SQLite in memory) with a manual clock: an
 * incident and its alert commit together or not at all, numbers are consecutive, muted targets
 * get incidents without alerts, reminders go once per bucket, the cause is gathered only for a
 * new incident. Failures inside the transaction are real SQLite errors (a trigger that aborts
 * the outbox insert), not mocks.
 */
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { ManualClock } from "../src/clock.js";
import { silentLogger } from "../src/log.js";
import { openSqliteStore, type SqliteStore } from "../src/store/sqlite/index.js";
import { IncidentDesk } from "../src/watch/desk.js";

const T0 = Date.parse("2026-11-22T01:00:00Z");
const STORM = { host: "stb", app: "bot-kjp", kind: "restart_storm" };

let store: SqliteStore;
let clock: ManualClock;
let kicks: number;

beforeEach(() => {
  store = openSqliteStore(":memory:");
  clock = new ManualClock(T0);
  kicks = 0;
});
afterEach(async () => {
  await store.close();
});

function desk(): IncidentDesk {
  return new IncidentDesk({
    incidents: store.incidents,
    state: store.watch,
    alerts: { chatId: "alerts", queued: () => void kicks++ },
    clock,
    log: silentLogger,
    language: "en",
    resolveAfterMs: 30 * 60_000,
    remindEveryMs: 30 * 60_000,
  });
}

const outbox = () => store.db.prepare<[], { text: string; dedupe_key: string }>("SELECT text, dedupe_key FROM outbox ORDER BY id").all();
const incidents = () => store.db.prepare<[], { id: number; state: string }>("SELECT id, state FROM incidents ORDER BY id").all();
/** A real write failure inside the transaction, after the alert row is written (as a full disk at commit would). */
const breakOutbox = () => store.db.exec(`CREATE TEMP TRIGGER outbox_fails AFTER INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk full'); END`);
const repairOutbox = () => store.db.exec(`DROP TRIGGER outbox_fails`);

describe("incident desk", () => {
  it("opens an incident and queues its alert in one transaction: a failure leaves neither", async () => {
    const d = desk();
    breakOutbox();
    await assert.rejects(d.raise(STORM, { summary: "6 restarts in 41s" }), /disk full/);
    assert.deepEqual(incidents(), [], "no incident without its alert");
    assert.deepEqual(outbox(), []);
    assert.equal(kicks, 0);

    repairOutbox();
    const incident = await d.raise(STORM, { summary: "6 restarts in 41s", describe: () => Promise.resolve(["Likely cause: port 3000"]) });
    assert.equal(incident.id, 1, "the failed attempt burnt no number");
    assert.deepEqual(outbox(), [
      {
        text: "🔁 *Restart storm* · `bot-kjp` on *stb*\n6 restarts in 41s\nLikely cause: port 3000\n*Actions:* 1 `/logs bot-kjp stb` · 2 `/restart bot-kjp stb` · 3 `/stop bot-kjp stb`\nIncident #1 · reply with a number, or `/do 1 <n>` · `/ack 1`",
        dedupe_key: `incident:${incident.uid}:open`,
      },
    ]);
    assert.equal(kicks, 1, "the pump is woken once the alert is committed");
  });

  it("gathers the cause only for a new incident, before writing, and alerts without it when it fails", async () => {
    const d = desk();
    let described = 0;
    const describeApp = () => {
      described++;
      assert.deepEqual(incidents(), [], "nothing is written before the cause is gathered");
      return Promise.reject(new Error("pm2 logs timed out"));
    };
    for (let n = 0; n < 5; n++) await d.raise(STORM, { summary: "storm", describe: describeApp });
    assert.equal(described, 1);
    assert.deepEqual(
      outbox().map((m) => m.text),
      ["🔁 *Restart storm* · `bot-kjp` on *stb*\nstorm\n*Actions:* 1 `/logs bot-kjp stb` · 2 `/restart bot-kjp stb` · 3 `/stop bot-kjp stb`\nIncident #1 · reply with a number, or `/do 1 <n>` · `/ack 1`"],
    );
    // A restarted Jaga knows the open incident from the store: no second cause, no second alert.
    await desk().raise(STORM, { summary: "storm", describe: describeApp });
    assert.equal(described, 1);
    assert.equal(outbox().length, 1);
  });

  it("numbers incidents consecutively through storms, resolutions and restarts", async () => {
    let d = desk();
    const ids: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (let n = 0; n < 10; n++) ids.push((await d.raise(STORM, { summary: "storm" })).id);
      await d.raise({ host: "stb", app: "", kind: "dns" }, { summary: "dns" });
      await d.clear({ host: "stb", app: "", kind: "dns" });
      await clock.advance(31 * 60_000);
      await d.sweep();
      d = desk(); // a restart between rounds
    }
    assert.deepEqual([...new Set(ids)], [1, 3, 5]);
    assert.deepEqual(
      incidents().map((i) => i.id),
      [1, 2, 3, 4, 5, 6],
    );
    assert.ok(incidents().every((i) => i.state === "resolved"));
  });

  it("records an incident of a muted target without an alert, and resolves it without one", async () => {
    store.watch.set("mute:bot-kjp", T0 + 3 * 3_600_000);
    const d = desk();
    const incident = await d.raise(STORM, { summary: "storm" });
    assert.deepEqual(incidents(), [{ id: incident.id, state: "open" }]);
    await clock.advance(31 * 60_000);
    await d.raise(STORM, { summary: "storm" }); // a reminder would be due
    await clock.advance(31 * 60_000);
    await d.sweep();
    assert.deepEqual(incidents(), [{ id: incident.id, state: "resolved" }]);
    assert.deepEqual(outbox(), []);
    assert.equal(kicks, 0);
  });

  it("resolves and queues the resolved alert in one transaction: a failure leaves it open, the next sweep resolves it", async () => {
    const d = desk();
    const incident = await d.raise(STORM, { summary: "storm" });
    await clock.advance(31 * 60_000);
    breakOutbox();
    await assert.rejects(d.sweep(), /disk full/);
    assert.deepEqual(incidents(), [{ id: incident.id, state: "open" }]);
    assert.equal(outbox().length, 1, "only the opening alert");
    repairOutbox();
    await d.sweep();
    assert.deepEqual(incidents(), [{ id: incident.id, state: "resolved" }]);
    assert.deepEqual(outbox().at(-1), {
      text: "✅ Resolved: #1 Restart storm · `bot-kjp` on *stb* — quiet for 31m (lasted 31m).",
      dedupe_key: `incident:${incident.uid}:resolved`,
    });
    assert.equal((await d.sweep()).length, 0, "resolved once");
    assert.equal(outbox().length, 2);
  });

  it("reminds once per bucket while open and unacknowledged, also across a restart", async () => {
    let d = desk();
    const incident = await d.raise(STORM, { summary: "storm" });
    const reminders = () => outbox().filter((m) => m.text.startsWith("⏰"));
    for (let n = 0; n < 3; n++) await d.raise(STORM, { summary: "storm" });
    assert.equal(reminders().length, 0, "none in the first bucket");
    await clock.advance(31 * 60_000);
    for (let n = 0; n < 3; n++) await d.raise(STORM, { summary: "storm" });
    d = desk();
    await d.raise(STORM, { summary: "storm" });
    assert.deepEqual(
      reminders().map((m) => m.dedupe_key),
      [`incident:${incident.uid}:remind:1`],
    );
    assert.equal(reminders()[0]!.text, "⏰ Still happening: #1 Restart storm · `bot-kjp` on *stb* — for 31m. storm");
    await clock.advance(30 * 60_000);
    await d.raise(STORM, { summary: "storm" });
    assert.equal(reminders().length, 2, "one more in the next bucket");
    await store.incidents.ack(incident.id, "Budi", clock.now());
    await clock.advance(30 * 60_000);
    await d.raise(STORM, { summary: "storm" });
    assert.equal(reminders().length, 2, "none once acknowledged");
  });
});
