/**
 * The lease's record of the commands running (src/standby/shared-runs.ts,
 * migrations/20261218080000_standby_runs.sql) against a real PostgreSQL and a real PostgREST,
 * through both paths, and through the real Pipeline.
 *
 * What must hold: a message is run once per lease, however often it is delivered; what an
 * earlier term left running comes back once, as cut off, to the next term — and to no one
 * without the lease; every write under an old epoch is refused and tells the keeper; the
 * command is stored masked; a database that does not answer delays a command by the patience
 * only; an instance that lost the lease runs nothing and says so; only the service role may
 * call any of it.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { z } from "zod";
import type { IncomingMessage } from "../src/chat/transport.js";
import { ManualClock, systemClock } from "../src/clock.js";
import { Inventory } from "../src/hosts/inventory.js";
import { silentLogger } from "../src/log.js";
import { defineCommand } from "../src/pipeline/command.js";
import { Directory } from "../src/pipeline/people.js";
import { Pipeline } from "../src/pipeline/pipeline.js";
import { postgrestDb } from "../src/standby/db.js";
import { FencedError, NotActiveError } from "../src/standby/errors.js";
import { recordedCommand, SharedRuns } from "../src/standby/shared-runs.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";
import { createSupabaseClient } from "../src/store/supabase/client.js";
import { defaultExecutorFactory } from "../src/main.js";
import { testConfig } from "./helpers/harness.js";
import { claim, release, standbyDatabase } from "./helpers/standby-db.js";
import { startTcpProxy } from "./helpers/tcp-proxy.js";

const sb = standbyDatabase();
const AT = 1_765_000_000_000;
const ADMIN = "6281200000001";

let seq = 0;
const message = (text: string, o: Partial<IncomingMessage> = {}): IncomingMessage => ({
  id: `3EB0${(++seq).toString(16).padStart(16, "0")}`,
  chatId: `${ADMIN}@s.whatsapp.net`,
  isGroup: false,
  senderId: ADMIN,
  text,
  at: AT,
  ...o,
});

for (const path of ["postgrest", "direct"] as const) {
  const db = () => (path === "postgrest" ? sb.viaPostgrest() : sb.viaDirect({ queryTimeoutMs: 2_000 }));

  describe(`the run ledger over ${path}`, () => {
    it("runs a message once; what a term left running is cut off once, for the next term", async () => {
      const lease = sb.leaseName();
      const d = db();
      const clock = new ManualClock(AT);
      const e1 = (await claim(d, lease, "a#1"))!;
      const a = new SharedRuns({ db: d, lease, instance: "a", epoch: () => e1, clock, log: silentLogger });
      const restart = message("/restart   bot-kjp\n");
      const block = message("/block 3201-0123-4567-0001 penipu");
      const done = message("/status");

      assert.equal(await a.begin(restart, restart.text), "run");
      assert.equal(await a.begin(restart, restart.text), "again", "delivered again: not run twice");
      assert.equal(await a.begin(block, block.text), "run");
      assert.equal(await a.begin(done, done.text), "run");
      await a.end(done, "ok");

      // a is gone (its lease handed over: what a kill -9 leaves is the same rows), b holds it.
      await release(d, lease, "a#1", e1);
      const e2 = (await claim(d, lease, "b#1"))!;
      assert.ok(e2 > e1);
      await clock.advance(9_000);
      const b = new SharedRuns({ db: d, lease, instance: "b", epoch: () => e2, clock, log: silentLogger });
      const cut = await b.cutOff();
      assert.deepEqual(
        cut.map((c) => ({ ...c, msgId: c.msgId === restart.id ? "restart" : c.msgId === block.id ? "block" : c.msgId })),
        [
          { msgId: "restart", chatId: restart.chatId, sender: ADMIN, command: "/restart bot-kjp", instance: "a", startedAt: AT },
          { msgId: "block", chatId: block.chatId, sender: ADMIN, command: recordedCommand(block.text), instance: "a", startedAt: AT },
        ],
        "the two left running, oldest first; /status had ended",
      );
      assert.doesNotMatch(JSON.stringify(cut), /3201.?0123.?4567.?0001/, "no NIK in the record");
      assert.deepEqual(await b.cutOff(), [], "told once");
      assert.equal(await b.begin(restart, restart.text), "again", "a's message, delivered to b after the takeover, is not run again");
    });

    it("refuses an old term's writes, and tells the keeper; without a term nothing reaches the database", async () => {
      const lease = sb.leaseName();
      const d = db();
      const e1 = (await claim(d, lease, "a#1"))!;
      await release(d, lease, "a#1", e1);
      const e2 = (await claim(d, lease, "b#1"))!;
      const fenced: string[] = [];
      const old = new SharedRuns({ db: d, lease, instance: "a", epoch: () => e1, onFenced: (x) => fenced.push(x), clock: systemClock, log: silentLogger });
      const m = message("/restart bot-kjp");
      assert.equal(await old.begin(m, m.text), "not active");
      await assert.rejects(old.cutOff(), FencedError);
      assert.equal(fenced.length, 2);
      const none = new SharedRuns({ db: d, lease, instance: "a", epoch: () => null, clock: systemClock, log: silentLogger });
      assert.equal(await none.begin(m, m.text), "not active");
      await assert.rejects(none.cutOff(), NotActiveError);
      const b = new SharedRuns({ db: d, lease, instance: "b", epoch: () => e2, clock: systemClock, log: silentLogger });
      assert.equal(await b.begin(m, m.text), "run", "the refused start left nothing behind");
    });
  });
}

describe("the run ledger in the pipeline", () => {
  const ran: string[] = [];
  const gates: (() => void)[] = [];
  const commands = [
    defineCommand({
      name: "poke",
      summary: { id: "uji", en: "test" },
      role: "viewer",
      args: z.object({}),
      run: () => {
        ran.push("poke");
        return Promise.resolve("poked");
      },
    }),
    defineCommand({
      name: "slow",
      summary: { id: "uji", en: "test" },
      role: "viewer",
      args: z.object({}),
      run: () => new Promise<string>((resolve) => gates.push(() => resolve("slow done"))),
    }),
  ];
  const config = testConfig({ language: "en", people: [{ phone: ADMIN, name: "Ana", role: "admin", language: "en" }], limits: { commandsPerMinute: 1000 } });
  const opened: { close(): Promise<void> }[] = [];
  const pipelineWith = (runs: SharedRuns, clock = systemClock) => {
    const store = openSqliteStore(":memory:");
    const hosts = Inventory.fromConfig(config.hosts, defaultExecutorFactory);
    const pipeline = new Pipeline({ commands, directory: new Directory(config), hosts, store, config, clock, log: silentLogger, services: { runs } });
    opened.push({
      close: async () => {
        pipeline.close();
        await pipeline.drain();
        await hosts.close();
        await store.close();
      },
    });
    return pipeline;
  };
  after(async () => {
    for (const o of opened) await o.close();
  });

  it("a message delivered twice runs once and is answered once; a running command is on record until it ends", async () => {
    const lease = sb.leaseName();
    const d = sb.viaPostgrest();
    const epoch = (await claim(d, lease, "a#1"))!;
    const runs = new SharedRuns({ db: d, lease, instance: "a", epoch: () => epoch, clock: systemClock, log: silentLogger });
    const pipeline = pipelineWith(runs);
    const poke = message("/poke");
    ran.length = 0;
    assert.equal(await pipeline.handle(poke), "poked");
    assert.equal(await pipeline.handle({ ...poke }), null, "the second delivery: silent");
    assert.deepEqual(ran, ["poke"]);

    const slow = message("/slow");
    const answer = pipeline.handle(slow);
    const deadline = Date.now() + 10_000;
    while (gates.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    // Taken over now, the slow one would be named: look from a later term without disturbing this one's lease.
    const running = await sb.stack.sql<{ command: string; ended_at: string | null }>("select command, ended_at from jaga.command_run where lease = $1 and msg_id = $2", [lease, slow.id]);
    assert.deepEqual(running, [{ command: "/slow", ended_at: null }]);
    gates.shift()!();
    assert.equal(await answer, "slow done");
    const until = Date.now() + 10_000;
    let ended: { outcome: string | null }[] = [];
    while (Date.now() < until) {
      ended = await sb.stack.sql<{ outcome: string | null }>("select outcome from jaga.command_run where lease = $1 and msg_id = $2", [lease, slow.id]);
      if (ended[0]?.outcome) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(ended, [{ outcome: "ok" }]);
  });

  it("an instance whose lease is gone runs nothing and says so", async () => {
    const lease = sb.leaseName();
    const d = sb.viaPostgrest();
    const e1 = (await claim(d, lease, "a#1"))!;
    await release(d, lease, "a#1", e1);
    await claim(d, lease, "b#1");
    let fenced = 0;
    const pipeline = pipelineWith(new SharedRuns({ db: d, lease, instance: "a", epoch: () => e1, onFenced: () => fenced++, clock: systemClock, log: silentLogger }));
    ran.length = 0;
    assert.match((await pipeline.handle(message("/poke")))!, /no longer the active one, so nothing was run/);
    assert.deepEqual(ran, []);
    assert.equal(fenced, 1, "the keeper is told");
  });

  it("a database that does not answer delays a command by the patience only, and it runs", async () => {
    const proxy = await startTcpProxy(Number(new URL(sb.stack.url).port));
    try {
      const lease = sb.leaseName();
      const epoch = (await claim(sb.viaPostgrest(), lease, "a#1"))!;
      const viaProxy = sb.track(postgrestDb(createSupabaseClient({ url: `http://127.0.0.1:${proxy.port}`, key: sb.stack.serviceRoleKey, timeoutMs: 60_000 }), "test"));
      const clock = new ManualClock(AT);
      const pipeline = pipelineWith(new SharedRuns({ db: viaProxy, lease, instance: "a", epoch: () => epoch, clock, log: silentLogger, patienceMs: 3_000 }), clock);
      proxy.setBlackhole(true);
      ran.length = 0;
      const answer = pipeline.handle(message("/poke"));
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(ran, [], "still waiting for the database");
      await clock.advance(3_000);
      assert.equal(await answer, "poked");
      assert.deepEqual(ran, ["poke"]);
    } finally {
      proxy.cut();
      await proxy.close();
    }
  });

  it("only the service role: not anon, not a signed-in admin, not a service client", async () => {
    const calls: [string, Record<string, unknown>][] = [
      ["jaga_run_begin", { p_name: "rls", p_epoch: 1, p_msg_id: "m", p_chat_id: "c", p_sender: "s", p_command: "/x", p_instance: "a", p_at: 1 }],
      ["jaga_run_end", { p_name: "rls", p_epoch: 1, p_msg_id: "m", p_outcome: "ok", p_at: 1 }],
      ["jaga_run_cut_off", { p_name: "rls", p_epoch: 1, p_at: 1 }],
    ];
    for (const token of [undefined, await sb.stack.userToken("admin"), await sb.stack.serviceClientToken("kjp-bot")]) {
      for (const [fn, args] of calls) {
        const { error } = await sb.stack.client(token).rpc(fn, args);
        assert.equal(error?.code, "42501", `${fn}, token ${token ? "user" : "anon"}`);
      }
    }
    const service = createSupabaseClient({ url: sb.stack.url, key: sb.stack.serviceRoleKey });
    assert.ok((await service.schema("jaga").from("command_run").select()).error, "schema jaga is not exposed");
  });
});
