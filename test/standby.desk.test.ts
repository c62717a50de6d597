/**
 * The shared incident desk (src/standby/shared-incidents.ts, migrations/20261217080000_standby_desk.sql)
 * against a real PostgreSQL and a real PostgREST, through both paths Jaga has.
 *
 * What must hold: the embedded store's alerting contract (an incident change and its alert commit
 * together or not at all, consecutive numbers, evidence and timeline); a write under an epoch that
 * is no longer the lease's is refused and changes nothing; a render that lost a race is rendered
 * again from what is there; and the instance that takes over continues the old one's incidents —
 * a real IncidentDesk on each side — with no second opening alert, the same number, and the
 * resolution threaded under the opening alert the old one queued, all in the shared outbox.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../src/clock.js";
import { silentLogger } from "../src/log.js";
import { FencedError, type SharedDb } from "../src/standby/db.js";
import { NotActiveError } from "../src/standby/shared-auth.js";
import { SharedIncidents } from "../src/standby/shared-incidents.js";
import { SharedOutbox } from "../src/standby/shared-outbox.js";
import { createSupabaseClient } from "../src/store/supabase/client.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";
import type { AlertFor } from "../src/store/store.js";
import { IncidentDesk } from "../src/watch/desk.js";
import { claim, release, standbyDatabase } from "./helpers/standby-db.js";
import { alertingContract } from "./store.contract.js";

const sb = standbyDatabase();
const { viaPostgrest, leaseName } = sb;
const viaDirect = () => sb.viaDirect({ queryTimeoutMs: 2_000 });

const T0 = Date.parse("2026-12-02T01:02:03.456Z");
const alertFor =
  (phase: string): AlertFor =>
  (i) => ({ chatId: "alerts", text: `#${i.id} ${phase} ${i.host}`, dedupeKey: `incident:${i.uid}:${phase}` });

for (const path of ["postgrest", "direct"] as const) {
  const db = () => (path === "postgrest" ? viaPostgrest() : viaDirect());

  // The lease is held for the contract's whole run: every write goes under its epoch.
  alertingContract(`shared over ${path}`, async () => {
    const d = db();
    const lease = leaseName();
    const epoch = (await claim(d, lease, "contract#1"))!;
    return { incidents: new SharedIncidents({ db: d, lease, epoch: () => epoch }), outbox: new SharedOutbox({ db: d, lease, epoch: () => epoch }), close: () => Promise.resolve() };
  });

  describe(`shared incidents over ${path}`, () => {
    it("refuses every write under an older epoch, in the database, and changes nothing; no term, no write at all", async () => {
      const lease = leaseName();
      const d = db();
      const e1 = (await claim(d, lease, "a#1"))!;
      const fenced: string[] = [];
      const a = new SharedIncidents({ db: d, lease, epoch: () => e1, onFenced: (m) => fenced.push(m) });
      const outbox = new SharedOutbox({ db: d, lease, epoch: () => e1 });
      const { incident } = await a.openOrGet({ host: "stb", app: "bot-kjp", kind: "restart_storm", summary: "6", at: T0 }, alertFor("open"));
      await release(d, lease, "a#1", e1);
      const e2 = (await claim(d, lease, "b#1"))!;
      assert.ok(e2 > e1);

      await assert.rejects(a.ack(incident.id, "Oki", T0 + 1, alertFor("ack")), FencedError);
      await assert.rejects(a.resolve(incident.id, T0 + 2, alertFor("resolved")), FencedError);
      await assert.rejects(a.notify(incident.id, T0 + 3, alertFor("remind:1")), FencedError);
      await assert.rejects(a.addEvent(incident.id, { at: T0 + 4, kind: "action", by: "Oki", detail: "/stop bot-kjp" }), FencedError);
      await assert.rejects(a.openOrGet({ host: "stb", app: "", kind: "disk", summary: "", at: T0 + 5 }, alertFor("open")), FencedError);
      assert.equal(fenced.length, 5, "every refusal tells the keeper");

      const b = new SharedIncidents({ db: d, lease, epoch: () => e2 });
      assert.equal((await b.get(incident.id))?.state, "open", "nothing changed");
      assert.deepEqual(await b.listOpen(), [incident]);
      assert.deepEqual((await b.timeline(incident.id))?.events.map((e) => e.kind), ["opened"]);
      const bOutbox = new SharedOutbox({ db: d, lease, epoch: () => e2 });
      assert.deepEqual((await bOutbox.pending(10)).map((m) => m.text), [`#${incident.id} open stb`], "only the opening alert was queued");
      void outbox;

      const none = new SharedIncidents({ db: d, lease, epoch: () => null });
      await assert.rejects(none.openOrGet({ host: "stb", app: "x", kind: "cpu", summary: "", at: T0 }), NotActiveError);
      await assert.rejects(none.ack(incident.id, "Oki", T0), NotActiveError);
      assert.equal((await none.get(incident.id))?.id, incident.id, "reads need no term");
    });

    it("a render that lost a race is rendered again from what is there (the number taken, the state changed)", async () => {
      const lease = leaseName();
      const d = db();
      const epoch = (await claim(d, lease, "a#1"))!;
      const two = new SharedIncidents({ db: d, lease, epoch: () => epoch });
      // `one` talks to the database through a door that lets `two` open an incident first, once,
      // between `one`'s render and its write: the number `one` rendered is taken by then.
      let race: (() => Promise<unknown>) | null = null;
      const door: SharedDb = Object.assign(Object.create(d) as SharedDb, {
        value: async <T>(fn: string, args: Parameters<SharedDb["value"]>[1]) => {
          if (fn === "jaga_incident_open" && race) {
            const first = race;
            race = null;
            await first();
          }
          return d.value<T>(fn, args);
        },
      });
      const one = new SharedIncidents({ db: door, lease, epoch: () => epoch });
      const outbox = new SharedOutbox({ db: d, lease, epoch: () => epoch });
      const rendered: number[] = [];
      const counting: AlertFor = (i) => {
        rendered.push(i.id);
        return alertFor("open")(i);
      };
      assert.equal((await one.openOrGet({ host: "stb", app: "a", kind: "cpu", summary: "", at: T0 }, counting)).incident.id, 1);
      race = () => two.openOrGet({ host: "stb", app: "c", kind: "cpu", summary: "", at: T0 }, alertFor("open"));
      const b = (await one.openOrGet({ host: "stb", app: "b", kind: "cpu", summary: "", at: T0 }, counting)).incident;
      const c = (await two.listOpen()).find((i) => i.app === "c")!;
      assert.deepEqual(rendered, [1, 2, 3], "rendered as #2, found #2 taken, rendered again as #3");
      assert.deepEqual([c.id, b.id], [2, 3], "consecutive, each number once");
      assert.deepEqual((await outbox.pending(10)).map((m) => m.text), ["#1 open stb", "#2 open stb", "#3 open stb"], "each alert names the number its incident got");

      // An ack rendered from an incident another writer resolved meanwhile is not written.
      await two.resolve(c.id, T0 + 10, alertFor("resolved"));
      const acked = await one.ack(c.id, "Oki", T0 + 11, alertFor("ack"));
      assert.equal(acked?.state, "resolved", "comes back as it is");
      assert.ok(!(await outbox.pending(10)).some((m) => m.text === `#${c.id} ack stb`), "no ack alert for a resolved incident");
    });
  });
}

describe("an instance that takes over continues the old one's incidents", () => {
  it("no second opening alert, the same number, reminders and the resolution threaded under the old one's opening alert", async () => {
    const lease = leaseName();
    const d = viaPostgrest();
    const clock = new ManualClock(T0);
    const deskOf = (epoch: () => number | null) => {
      const local = openSqliteStore(":memory:");
      return new IncidentDesk({
        incidents: new SharedIncidents({ db: d, lease, epoch }),
        state: local.watch,
        alerts: { chatId: "alerts", queued: () => undefined },
        clock,
        log: silentLogger,
        language: "en",
        resolveAfterMs: 10 * 60_000,
        remindEveryMs: 30 * 60_000,
      });
    };
    const e1 = (await claim(d, lease, "box-a#1"))!;
    const a = deskOf(() => e1);
    const key = { host: "stb", app: "bot-kjp", kind: "restart_storm" };
    const opened = await a.raise(key, { summary: "6 restarts in 41 min" });

    // box-a dies; box-b takes the next term and its desk sees the same condition.
    await release(d, lease, "box-a#1", e1);
    const e2 = (await claim(d, lease, "box-b#1"))!;
    const b = deskOf(() => e2);
    await clock.advance(31 * 60_000);
    const again = await b.raise(key, { summary: "9 restarts in 72 min" });
    assert.equal(again.id, opened.id, "the same incident, the same number");
    assert.equal(again.uid, opened.uid);
    await clock.advance(11 * 60_000);
    assert.deepEqual((await b.sweep()).map((i) => i.id), [opened.id]);

    const rows = await new SharedOutbox({ db: d, lease, epoch: () => e2 }).pending(20);
    const head = `incident:${opened.uid}:open`;
    assert.deepEqual(
      rows.map((m) => m.dedupeKey),
      [head, `incident:${opened.uid}:remind:1`, `incident:${opened.uid}:resolved`],
      "one opening alert (the old term's), then the new term's reminder and resolution",
    );
    assert.ok(rows.slice(1).every((m) => m.thread === head), "threaded under the opening alert");
    const story = await new SharedIncidents({ db: d, lease, epoch: () => e2 }).timeline(opened.id);
    assert.deepEqual(story?.events.map((e) => e.kind), ["opened", "reminded", "resolved"]);
  });
});

describe("who may call the desk", () => {
  it("only the service role: not anon, not a signed-in admin, not a service client", async () => {
    const calls: [string, Record<string, unknown>][] = [
      ["jaga_incident_peek", { p_name: "rls", p_host: "h", p_app: "", p_kind: "cpu" }],
      ["jaga_incident_open", { p_name: "rls", p_epoch: 1, p_host: "h", p_app: "", p_kind: "cpu", p_uid: "00000000-0000-4000-8000-000000000000", p_id: 1, p_summary: "", p_at: 1 }],
      ["jaga_incident_change", { p_name: "rls", p_epoch: 1, p_id: 1, p_op: "ack", p_version: 1, p_at: 1 }],
      ["jaga_incident_select", { p_name: "rls", p_what: "open" }],
      ["jaga_incident_timeline", { p_name: "rls", p_id: 1 }],
    ];
    for (const token of [undefined, await sb.stack.userToken("admin"), await sb.stack.serviceClientToken("kjp-bot")]) {
      for (const [fn, args] of calls) {
        const { error } = await sb.stack.client(token).rpc(fn, args);
        assert.equal(error?.code, "42501", `${fn}, token ${token ? "user" : "anon"}`);
      }
    }
    const service = createSupabaseClient({ url: sb.stack.url, key: sb.stack.serviceRoleKey });
    assert.equal((await service.rpc("jaga_incident_select", { p_name: "rls", p_what: "open" })).error, null);
    assert.ok((await service.schema("jaga").from("incident").select()).error, "schema jaga is not exposed");
  });
});
