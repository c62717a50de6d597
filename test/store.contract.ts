/**
 * The store contract: what every Store implementation (SQLite, Supabase, replicated) must do.
 * Imported by test/store.sqlite.test.ts and test/store.supabase.test.ts; {@link alertingContract}
 * is what only the local stores (they have an outbox) add.
 *
 * @example
 * storeContract("sqlite", async () => openSqliteStore(":memory:"));
 */
import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { OUTCOMES, type AlertFor, type AlertingIncidents, type AuditRecord, type Outbox, type ReplicationStatus, type Store } from "../src/store/store.js";

const T0 = Date.parse("2026-11-22T01:02:03.456Z");
let seq = 0;

const usedNiks = new Set<string>();

/** A valid NIK no other test of this run uses: Jakarta, woman born 15-01-1990, unique serial. */
export function freshNik(): string {
  for (;;) {
    const nik = `317401550190${String(randomInt(1, 10_000)).padStart(4, "0")}`;
    if (!usedNiks.has(nik)) {
      usedNiks.add(nik);
      return nik;
    }
  }
}

function uniqueHost(): string {
  return `h${++seq}-${randomInt(0, 1e6)}`;
}

export function storeContract(name: string, open: () => Promise<Store>, close?: (store: Store) => Promise<void>): void {
  describe(`store contract: ${name}`, () => {
    let store: Store;
    before(async () => {
      store = await open();
    });
    after(async () => {
      if (close) await close(store);
      else await store.close();
    });

    describe("audit", () => {
      it("keeps every field and lists newest first", async () => {
        const base: AuditRecord = {
          at: T0,
          actor: "6281234567890",
          actorName: "Budi",
          command: "restart",
          args: '{"app":"bot-kjp"}',
          host: "stb",
          outcome: "ok",
          durationMs: 412,
          errorId: null,
        };
        await store.audit.add(base);
        await store.audit.add({ ...base, at: T0 + 1000, command: "logs", host: null, outcome: "error", errorId: "AB12CD" });
        const [newest, older] = await store.audit.recent(2);
        assert.ok(newest && older);
        assert.equal(newest.command, "logs");
        assert.equal(newest.host, null);
        assert.equal(newest.errorId, "AB12CD");
        assert.equal(newest.at, T0 + 1000);
        const { id: _id, ...rest } = older;
        assert.deepEqual(rest, base);
        assert.ok(newest.id > older.id);
        assert.equal((await store.audit.recent(1)).length, 1);
      });

      it("takes every outcome the pipeline writes (limits and the life of a confirmation too)", async () => {
        const row = { at: T0 + 5000, actor: "console", actorName: "console", command: "flush", args: "{}", host: null, durationMs: 0, errorId: null };
        for (const [i, outcome] of OUTCOMES.entries()) await store.audit.add({ ...row, at: row.at + i, outcome });
        const recent = await store.audit.recent(OUTCOMES.length);
        assert.deepEqual(recent.map((r) => r.outcome).reverse(), [...OUTCOMES]);
      });
    });

    describe("incidents", () => {
      it("opens one incident per (host, app, kind) and returns it again while it is open", async () => {
        const host = uniqueHost();
        const a = await store.incidents.openOrGet({ host, app: "bot-kjp", kind: "restart_storm", summary: "6 restarts in 41 min", at: T0 });
        assert.equal(a.created, true);
        assert.equal(a.incident.state, "open");
        assert.equal(a.incident.summary, "6 restarts in 41 min");
        assert.equal(a.incident.openedAt, T0);
        assert.match(a.incident.uid, /^[0-9a-f-]{36}$/);
        const again = await store.incidents.openOrGet({ host, app: "bot-kjp", kind: "restart_storm", summary: "later", at: T0 + 5000 });
        assert.equal(again.created, false);
        assert.deepEqual(again.incident, a.incident);
        const otherApp = await store.incidents.openOrGet({ host, app: "api", kind: "restart_storm", summary: "", at: T0 });
        const hostWide = await store.incidents.openOrGet({ host, app: "", kind: "disk", summary: "91%", at: T0 });
        assert.equal(otherApp.created, true);
        assert.equal(hostWide.created, true);
        assert.notEqual(otherApp.incident.id, a.incident.id);
      });

      it("moves open -> acknowledged -> resolved, never back, and reopens as a new incident", async () => {
        const host = uniqueHost();
        const { incident } = await store.incidents.openOrGet({ host, app: "bot-kjp", kind: "cpu", summary: "", at: T0 });
        const acked = await store.incidents.ack(incident.id, "Budi", T0 + 60_000);
        assert.equal(acked?.state, "acknowledged");
        assert.equal(acked?.acknowledgedBy, "Budi");
        assert.equal(acked?.acknowledgedAt, T0 + 60_000);
        const ackedAgain = await store.incidents.ack(incident.id, "Sari", T0 + 70_000);
        assert.equal(ackedAgain?.acknowledgedBy, "Budi", "a second ack changes nothing");
        const still = await store.incidents.openOrGet({ host, app: "bot-kjp", kind: "cpu", summary: "", at: T0 + 80_000 });
        assert.equal(still.created, false, "an acknowledged incident is still the open one");
        const resolved = await store.incidents.resolve(incident.id, T0 + 3_600_000);
        assert.equal(resolved?.state, "resolved");
        assert.equal(resolved?.resolvedAt, T0 + 3_600_000);
        assert.equal((await store.incidents.resolve(incident.id, T0 + 9_999_999))?.resolvedAt, T0 + 3_600_000);
        assert.equal((await store.incidents.ack(incident.id, "Sari", T0 + 9_999_999))?.state, "resolved");
        const reopened = await store.incidents.openOrGet({ host, app: "bot-kjp", kind: "cpu", summary: "", at: T0 + 4_000_000 });
        assert.equal(reopened.created, true);
        assert.notEqual(reopened.incident.id, incident.id);
        assert.deepEqual((await store.incidents.get(incident.id))?.state, "resolved");
      });

      it("answers null for an unknown id", async () => {
        assert.equal(await store.incidents.get(987654321), null);
        assert.equal(await store.incidents.ack(987654321, "Budi", T0), null);
        assert.equal(await store.incidents.resolve(987654321, T0), null);
      });

      it("lists open incidents and the incidents of a window", async () => {
        const host = uniqueHost();
        const early = await store.incidents.openOrGet({ host, app: "a", kind: "restart_storm", summary: "", at: T0 - 86_400_000 });
        const late = await store.incidents.openOrGet({ host, app: "b", kind: "restart_storm", summary: "", at: T0 + 10_000 });
        const closedLate = await store.incidents.openOrGet({ host, app: "c", kind: "restart_storm", summary: "", at: T0 - 86_400_000 });
        await store.incidents.resolve(closedLate.incident.id, T0 + 20_000);
        const open = (await store.incidents.listOpen()).filter((i) => i.host === host).map((i) => i.app);
        assert.deepEqual(open, ["a", "b"]);
        const since = (await store.incidents.listSince(T0)).filter((i) => i.host === host).map((i) => i.app);
        assert.deepEqual(since.sort(), ["b", "c"]);
        assert.ok(early.created && late.created);
      });
    });

    describe("blocked_ktp", () => {
      it("blocks once; a duplicate is no error and returns the existing block", async () => {
        const nik = freshNik();
        const first = await store.blocked.block({ nik, reason: "fraud", blockedBy: "Budi", at: T0 });
        assert.equal(first.created, true);
        assert.deepEqual(
          { ...first.block, id: 0 },
          { id: 0, nik, reason: "fraud", blockedBy: "Budi", blockedAt: T0, unblockedAt: null, unblockedBy: null },
        );
        const dup = await store.blocked.block({ nik, reason: "again", blockedBy: "Sari", at: T0 + 1000 });
        assert.equal(dup.created, false);
        assert.equal(dup.block.blockedAt, T0, "already blocked since the first time");
        assert.equal(dup.block.blockedBy, "Budi");
        assert.equal((await store.blocked.active(nik))?.reason, "fraud");
      });

      it("unblocking keeps the history, and the NIK can be blocked again", async () => {
        const nik = freshNik();
        await store.blocked.block({ nik, reason: "fraud", blockedBy: "Budi", at: T0 });
        const closed = await store.blocked.unblock({ nik, by: "Sari", at: T0 + 60_000 });
        assert.equal(closed?.unblockedAt, T0 + 60_000);
        assert.equal(closed?.unblockedBy, "Sari");
        assert.equal(await store.blocked.active(nik), null);
        assert.equal(await store.blocked.unblock({ nik, by: "Sari", at: T0 + 70_000 }), null, "nothing to unblock");
        const again = await store.blocked.block({ nik, reason: "fraud again", blockedBy: "Budi", at: T0 + 120_000 });
        assert.equal(again.created, true);
        const history = await store.blocked.history(nik);
        assert.deepEqual(
          history.map((b) => [b.reason, b.unblockedAt]),
          [
            ["fraud again", null],
            ["fraud", T0 + 60_000],
          ],
        );
      });

      it("answers null for a NIK never blocked", async () => {
        const nik = freshNik();
        assert.equal(await store.blocked.active(nik), null);
        assert.deepEqual(await store.blocked.history(nik), []);
      });
    });
  });
}

/**
 * What the local stores (SQLite alone, SQLite replicated) add for the incident desk: an
 * incident change and its alert commit in one transaction, and incident numbers are
 * consecutive. `rows` counts what a change may leave behind besides the incident (the outbox,
 * the replication queue), so "neither" is checked everywhere.
 *
 * @example
 * alertingContract("sqlite", async () => openSqliteStore(":memory:"));
 */
/** What the alerting contract needs of a store: its incidents, the outbox their alerts go to, and what it replicates. */
export interface AlertingStore {
  readonly incidents: AlertingIncidents;
  readonly outbox: Pick<Outbox, "pending" | "backlog">;
  readonly replication?: Pick<ReplicationStatus, "backlog">;
  close(): Promise<void>;
}

export function alertingContract(name: string, open: () => Promise<AlertingStore>): void {
  describe(`alerting incidents: ${name}`, () => {
    let store: AlertingStore;
    before(async () => {
      store = await open();
    });
    after(async () => {
      await store.close();
    });

    const alertFor =
      (phase: string): AlertFor =>
      (i) => ({ chatId: "alerts", text: `#${i.id} ${phase} ${i.host}`, dedupeKey: `incident:${i.uid}:${phase}` });
    const queued = async () => (await store.outbox.pending(1000)).map((m) => m.text);
    const counts = async () => ({
      open: (await store.incidents.listOpen()).length,
      outbox: await store.outbox.backlog(),
      replication: (await store.replication?.backlog()) ?? 0,
    });

    it("queues the opening alert with the incident, once, numbered as the incident", async () => {
      const host = uniqueHost();
      const a = await store.incidents.openOrGet({ host, app: "web", kind: "restart_storm", summary: "", at: T0 }, alertFor("open"));
      assert.equal(a.created, true);
      let calls = 0;
      const again = await store.incidents.openOrGet({ host, app: "web", kind: "restart_storm", summary: "", at: T0 + 1 }, (i) => {
        calls++;
        return alertFor("open")(i);
      });
      assert.equal(again.created, false);
      assert.equal(calls, 0, "no alert for an incident already open");
      assert.deepEqual((await queued()).filter((t) => t.endsWith(host)), [`#${a.incident.id} open ${host}`]);
    });

    it("a throw inside the transaction leaves neither incident nor alert nor replication row", async () => {
      const host = uniqueHost();
      const before = await counts();
      await assert.rejects(
        store.incidents.openOrGet({ host, app: "web", kind: "cpu", summary: "", at: T0 }, () => {
          throw new Error("disk I/O error");
        }),
        /disk I\/O error/,
      );
      assert.deepEqual(await counts(), before);
      const { incident } = await store.incidents.openOrGet({ host, app: "web", kind: "cpu", summary: "", at: T0 }, alertFor("open"));
      await assert.rejects(
        store.incidents.resolve(incident.id, T0 + 1, () => {
          throw new Error("disk I/O error");
        }),
      );
      assert.equal((await store.incidents.get(incident.id))?.state, "open", "the failed resolve changed nothing");
      const r = await store.incidents.resolve(incident.id, T0 + 2, alertFor("resolved"));
      assert.equal(r?.state, "resolved");
      assert.ok((await queued()).includes(`#${incident.id} resolved ${host}`));
    });

    it("null (a muted target) records the incident and queues nothing", async () => {
      const host = uniqueHost();
      const before = await counts();
      const { incident, created } = await store.incidents.openOrGet({ host, app: "", kind: "disk", summary: "91%", at: T0 }, () => null);
      assert.equal(created, true);
      const after = await counts();
      assert.equal(after.open, before.open + 1);
      assert.equal(after.outbox, before.outbox);
      assert.equal(await store.incidents.notify(incident.id, T0, () => null), false);
      assert.equal(await store.incidents.notify(incident.id, T0, alertFor("remind:1")), true);
      assert.equal(await store.incidents.notify(incident.id, T0, alertFor("remind:1")), false, "a key is queued once");
      assert.equal(await store.incidents.notify(987654321, T0, alertFor("remind:1")), false, "no such incident");
    });

    it("keeps the evidence with the incident and a timeline of what happened to it", async () => {
      const host = uniqueHost();
      const evidence = ["Likely cause: port 3000 is already in use", "Error: listen EADDRINUSE: address already in use :::3000"];
      const { incident } = await store.incidents.openOrGet({ host, app: "web", kind: "restart_storm", summary: "6", at: T0, evidence }, alertFor("open"));
      // Written by the opening transaction: read back at once, no other write in between.
      assert.deepEqual((await store.incidents.timeline(incident.id))?.evidence, evidence);
      assert.equal(await store.incidents.notify(incident.id, T0 + 1_800_000, () => null), false);
      assert.equal(await store.incidents.notify(incident.id, T0 + 1_800_000, alertFor("remind:1")), true);
      await store.incidents.ack(incident.id, "Oki", T0 + 2_100_000);
      await store.incidents.ack(incident.id, "Sari", T0 + 2_200_000); // already acknowledged: no event
      assert.equal(await store.incidents.addEvent(incident.id, { at: T0 + 2_160_000, kind: "action", by: "Oki", detail: "/restart web " + host }), true);
      assert.equal(await store.incidents.addEvent(987654321, { at: T0, kind: "action", by: "Oki", detail: "/x" }), false);
      await store.incidents.resolve(incident.id, T0 + 4_000_000, alertFor("resolved"), 1_800_000);
      await store.incidents.resolve(incident.id, T0 + 5_000_000, alertFor("resolved"), 1); // already resolved: no event
      const story = await store.incidents.timeline(incident.id);
      assert.deepEqual(story?.events, [
        { at: T0, kind: "opened", by: null, detail: null },
        { at: T0 + 1_800_000, kind: "reminded", by: null, detail: null },
        { at: T0 + 2_100_000, kind: "acknowledged", by: "Oki", detail: null },
        { at: T0 + 2_160_000, kind: "action", by: "Oki", detail: "/restart web " + host },
        { at: T0 + 4_000_000, kind: "resolved", by: null, detail: "1800000" },
      ]);
      assert.equal(await store.incidents.timeline(987654321), null);
      // A condition that ended (a host answering again) resolves without a quiet time; no evidence is an empty list.
      const bare = (await store.incidents.openOrGet({ host, app: "", kind: "unreachable", summary: "", at: T0 })).incident;
      await store.incidents.resolve(bare.id, T0 + 10);
      assert.deepEqual(await store.incidents.timeline(bare.id), {
        evidence: [],
        events: [
          { at: T0, kind: "opened", by: null, detail: null },
          { at: T0 + 10, kind: "resolved", by: null, detail: null },
        ],
      });
    });

    it("a rolled-back opening leaves no evidence and no event behind", async () => {
      const host = uniqueHost();
      await assert.rejects(
        store.incidents.openOrGet({ host, app: "web", kind: "memory", summary: "", at: T0, evidence: ["load 9"] }, () => {
          throw new Error("disk I/O error");
        }),
      );
      const { incident } = await store.incidents.openOrGet({ host, app: "web", kind: "memory", summary: "", at: T0 + 1, evidence: ["load 1"] });
      assert.deepEqual(await store.incidents.timeline(incident.id), { evidence: ["load 1"], events: [{ at: T0 + 1, kind: "opened", by: null, detail: null }] });
    });

    it("numbers incidents consecutively, whatever happens between them", async () => {
      const host = uniqueHost();
      const key = { host, app: "web", kind: "restart_storm", summary: "", at: T0 };
      const first = (await store.incidents.openOrGet(key, alertFor("open"))).incident;
      // What used to burn ids: raising an open incident again (every restart of a storming app) …
      for (let n = 0; n < 20; n++) await store.incidents.openOrGet({ ...key, at: T0 + n }, alertFor("open"));
      // … and a transaction that rolled back.
      await assert.rejects(
        store.incidents.openOrGet({ ...key, app: "api" }, () => {
          throw new Error("boom");
        }),
      );
      await store.incidents.resolve(first.id, T0 + 100, alertFor("resolved"));
      const second = (await store.incidents.openOrGet({ ...key, at: T0 + 200 }, alertFor("open"))).incident;
      const third = (await store.incidents.openOrGet({ ...key, app: "api" })).incident;
      assert.deepEqual([second.id, third.id], [first.id + 1, first.id + 2]);
    });
  });
}
