/**
 * The pipeline's steps (src/pipeline/steps/) and the mechanisms behind them, one `describe`
 * each, through the real Pipeline and an in-memory SQLite store. Time is a ManualClock (no
 * sleeping); commands are small fakes made with `defineCommand` that record what really ran in
 * `ran`, so every "refused" is also proven to have run nothing. What this proves:
 *
 * - compose: order in and out, a step that answers ends the turn, `next()` twice is an error;
 * - boundary: a throw in a command's parse, plan or run is a reply with an error id and an
 *   "error" audit row carrying that id, never an unhandled rejection;
 * - identify: strangers get silence, are counted, leave no audit row, and are logged at most
 *   once a minute (then with how many were left out);
 * - limit: the per-minute rate (answered once, then silence), the in-flight bounds per sender
 *   and in total, and the console's exemption;
 * - confirmations: plan, code, `/yes`, `ya`, someone else's code, a wrong code, `/no`, expiry
 *   (and on close), a null plan, and the audit trail planned → confirmed → ok;
 * - authorise: `commands.<name>.role` and `.people` (by name and phone), the console, and an
 *   unknown command name in the config;
 * - guard: the restart window per app, the console included, failures not counted, `--force`
 *   for admins only (and confirmed first when the command is destructive);
 * - mask: NIKs in a command's reply.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { z } from "zod";
import type { IncomingMessage } from "../src/chat/transport.js";
import { ManualClock } from "../src/clock.js";
import { JagaError } from "../src/errors.js";
import { Inventory } from "../src/hosts/inventory.js";
import { translator } from "../src/i18n/index.js";
import { createLogger } from "../src/log.js";
import { defaultExecutorFactory } from "../src/main.js";
import { appName } from "../src/pipeline/args.js";
import { defineCommand, type Command } from "../src/pipeline/command.js";
import { Directory } from "../src/pipeline/people.js";
import { Pipeline } from "../src/pipeline/pipeline.js";
import { compose, finish, type Step, type Turn } from "../src/pipeline/turn.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";
import { harness, testConfig, type Harness } from "./helpers/harness.js";

// ---------------------------------------------------------------------------------------------
// People, fake commands, helpers
// ---------------------------------------------------------------------------------------------

const VIEWER = "628111000001";
const OPERATOR = "628111000002";
const ADMIN = "628111000003";
const OPERATOR2 = "628111000004";
const STRANGER = "628999000001";
const people = [
  { phone: VIEWER, name: "Vera", role: "viewer", language: "en" },
  { phone: OPERATOR, name: "Oki", role: "operator", language: "en" },
  { phone: ADMIN, name: "Ana", role: "admin", language: "en" },
  { phone: OPERATOR2, name: "Tono", role: "operator", language: "en" },
];
/** 2026-03-01 07:00 in Asia/Jakarta (the default time zone). */
const T0 = Date.parse("2026-03-01T00:00:00Z");

/** What the fake commands really ran, in order. */
const ran: string[] = [];
/** Apps whose `bounce`/`rebuild` fails with a JagaError (an unknown app: PM2 never reached). */
const failing = new Set<string>();
/** Resolvers of the `slow` commands now running. */
const gates: (() => void)[] = [];

const summary = { id: "uji", en: "test" };

const echo = defineCommand({
  name: "echo",
  summary,
  role: "viewer",
  args: z.object({ word: z.string().optional() }),
  positional: ["word"],
  run(_ctx, { word }) {
    ran.push(`echo ${word ?? "-"}`);
    return Promise.resolve(`echo: ${word ?? "-"}`);
  },
});

const poke = defineCommand({
  name: "poke",
  summary,
  role: "operator",
  args: z.object({}),
  run(ctx) {
    ran.push(`poke by ${ctx.sender.name}`);
    return Promise.resolve("poked");
  },
});

const secret = defineCommand({
  name: "secret",
  summary,
  role: "admin",
  args: z.object({}),
  run(ctx) {
    ran.push(`secret by ${ctx.sender.name}`);
    return Promise.resolve("secret done");
  },
});

const wipe = defineCommand({
  name: "wipe",
  summary,
  usage: "<what>",
  role: "operator",
  args: z.object({ what: z.string() }),
  positional: ["what"],
  destructive: { plan: (_ctx, { what }) => Promise.resolve(what === "nothing" ? null : `Would wipe ${what} on local.`) },
  run(_ctx, { what }) {
    ran.push(`wipe ${what}`);
    return Promise.resolve(`wiped ${what}`);
  },
});

/** Throws where its argument says: in its own parse, in plan() or in run(). */
const boom = defineCommand({
  name: "boom",
  summary,
  role: "viewer",
  args: z.object({ where: z.string() }),
  parse(tokens) {
    if (tokens[0] === "parse") throw new Error("parse broke");
    return { where: tokens[0] };
  },
  destructive: {
    plan: (_ctx, { where }) => (where === "plan" ? Promise.reject(new Error("plan broke")) : Promise.resolve(null)),
  },
  run(_ctx, { where }) {
    if (where === "run") return Promise.reject(new Error("run broke"));
    ran.push(`boom ${where}`);
    return Promise.resolve("no boom");
  },
});

/** Runs until the test opens its gate. */
const slow = defineCommand({
  name: "slow",
  summary,
  role: "viewer",
  args: z.object({}),
  async run(ctx) {
    await new Promise<void>((resolve) => gates.push(resolve));
    ran.push(`slow by ${ctx.sender.name}`);
    return "slow done";
  },
});

/** `<app> [--force]`, as the real restart reads it. */
function appAndForce(tokens: string[]): Record<string, unknown> {
  const rest = tokens.filter((t) => t !== "--force");
  return { app: rest[0], ...(tokens.includes("--force") ? { force: true } : {}) };
}
const restartArgs = z.object({ app: appName, force: z.boolean().optional() });

/** A restart as the guard sees it. */
const bounce = defineCommand({
  name: "bounce",
  summary,
  usage: "<app> [--force]",
  role: "operator",
  args: restartArgs,
  parse: appAndForce,
  restarts: ({ app }) => app,
  run(_ctx, { app, force }) {
    if (failing.has(app)) return Promise.reject(new JagaError("app.unknown", { app, where: "*local*" }));
    ran.push(`bounce ${app}${force ? " --force" : ""}`);
    return Promise.resolve(`bounced ${app}`);
  },
});

/** A restart that is destructive too: its plan comes first. */
const rebuild = defineCommand({
  name: "rebuild",
  summary,
  usage: "<app> [--force]",
  role: "operator",
  args: restartArgs,
  parse: appAndForce,
  restarts: ({ app }) => app,
  destructive: { plan: (_ctx, { app }) => Promise.resolve(`Would rebuild ${app}.`) },
  run(_ctx, { app, force }) {
    ran.push(`rebuild ${app}${force ? " --force" : ""}`);
    return Promise.resolve(`rebuilt ${app}`);
  },
});

let hangs = 0;
const hanging = () => hangs;
/** A restart that never answers: it ends only when its time is up. */
const hang = defineCommand({
  name: "hang",
  summary,
  role: "operator",
  args: z.object({ app: appName }),
  positional: ["app"],
  restarts: ({ app }) => app,
  run(ctx) {
    hangs++;
    return new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason as Error), { once: true }));
  },
});

const NIK = "3201011203880008";
const NIK_DASHED = "3201-0112-0388-0008";
const MASKED = "3201••••••••0008";
const leak = defineCommand({
  name: "leak",
  summary,
  role: "viewer",
  args: z.object({}),
  run() {
    return Promise.resolve(`found ${NIK} and ${NIK_DASHED}`);
  },
});

const fakes: readonly Command[] = [echo, poke, secret, wipe, boom, slow, bounce, rebuild, hang, leak];

/** A harness over the fake commands, on a ManualClock; `raw` is merged over the people and `en`. */
function setup(raw: Record<string, unknown> = {}): { h: Harness; clock: ManualClock } {
  const clock = new ManualClock(T0);
  const h = harness({ language: "en", people, ...raw }, { clock, commands: fakes });
  return { h, clock };
}

/** Audit rows oldest first (the store gives newest first). */
async function rows(h: Harness, n = 100) {
  return (await h.store.audit.recent(n)).reverse();
}

/** Yields to the event loop until `cond` holds (no timers, no sleeping). */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), `never happened: ${what}`);
}

function codeOf(reply: string | null): string {
  const m = /`\/yes (\d{4})`/.exec(reply ?? "");
  assert.ok(m, `no confirmation code in: ${reply}`);
  return m[1]!;
}

/** A 4-digit code that is not `code`. */
const otherCode = (code: string) => String(((Number(code) - 1000 + 1) % 9000) + 1000);

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
before(() => process.on("unhandledRejection", onUnhandled));
after(async () => {
  await new Promise((r) => setImmediate(r));
  process.off("unhandledRejection", onUnhandled);
  assert.deepEqual(unhandled, [], "no promise may be left rejected without a handler");
});
beforeEach(() => {
  ran.length = 0;
  failing.clear();
});

// ---------------------------------------------------------------------------------------------

describe("compose", () => {
  const turn = (): Turn => ({
    message: { id: "m1", chatId: "console", isGroup: false, senderId: "console", text: "/x", at: T0 },
    started: T0,
    controller: new AbortController(),
    t: translator("en"),
    label: "",
  });

  it("runs the steps in order, each wrapping the rest", async () => {
    const seen: string[] = [];
    const step =
      (name: string): Step =>
      async (_turn, next) => {
        seen.push(`${name}>`);
        await next();
        seen.push(`<${name}`);
      };
    await compose([step("a"), step("b"), step("c")])(turn());
    assert.deepEqual(seen, ["a>", "b>", "c>", "<c", "<b", "<a"]);
  });

  it("a step that does not call next ends the turn; the outer steps see its answer", async () => {
    const seen: string[] = [];
    let outerSaw: string | null | undefined;
    const outer: Step = async (t, next) => {
      await next();
      outerSaw = t.result?.text;
    };
    const stop: Step = (t) => {
      seen.push("stop");
      finish(t, "denied", "no");
      return Promise.resolve();
    };
    const never: Step = () => {
      seen.push("never");
      return Promise.resolve();
    };
    const t = turn();
    await compose([outer, stop, never])(t);
    assert.deepEqual(seen, ["stop"]);
    assert.equal(outerSaw, "no");
    assert.deepEqual(t.result, { text: "no", outcome: "denied" });
  });

  it("calling next twice is an error, and the rest does not run a second time", async () => {
    let inner = 0;
    const twice: Step = async (_t, next) => {
      await next();
      await next();
    };
    const count: Step = () => {
      inner++;
      return Promise.resolve();
    };
    await assert.rejects(compose([twice, count])(turn()), /step 0 called next\(\) twice/);
    assert.equal(inner, 1);
  });
});

// ---------------------------------------------------------------------------------------------

describe("boundary: nothing thrown escapes", () => {
  let h: Harness;
  before(() => ({ h } = setup()));
  after(() => h.close());

  const ERROR = /^❌ Something went wrong on my side\. Error id: `([0-9A-Z]{6})`$/;

  for (const where of ["parse", "plan", "run"]) {
    it(`a throw in the command's ${where} is a reply with an error id and an "error" audit row with that id`, async () => {
      const reply = await h.send(`/boom ${where}`, { as: VIEWER });
      const m = ERROR.exec(reply ?? "");
      assert.ok(m, reply ?? "null");
      const [row] = await h.store.audit.recent(1);
      assert.equal(row?.command, "boom");
      assert.equal(row?.actor, VIEWER);
      assert.equal(row?.outcome, "error");
      assert.equal(row?.errorId, m[1]);
      assert.deepEqual(ran, []);
    });
  }

  it("the same command runs when nothing throws (the fake is not broken)", async () => {
    assert.equal(await h.send("/boom fine", { as: VIEWER }), "no boom");
    assert.deepEqual(ran, ["boom fine"]);
    assert.equal((await h.store.audit.recent(1))[0]?.errorId, null);
  });

  it("no unhandled rejection came of it", async () => {
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(unhandled, []);
  });
});

// ---------------------------------------------------------------------------------------------

describe("identify: strangers get silence", () => {
  const clock = new ManualClock(T0);
  const lines: { msg: string; suppressed?: number; sender?: string }[] = [];
  const log = createLogger(
    "debug",
    new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l) as { msg: string });
        done();
      },
    }),
  );
  const config = testConfig({ language: "en", people });
  const store = openSqliteStore(":memory:");
  const hosts = Inventory.fromConfig(config.hosts, defaultExecutorFactory);
  const pipeline = new Pipeline({ commands: fakes, directory: new Directory(config), hosts, store, config, clock, log });
  let seq = 0;
  const from = (senderId: string, text: string, isGroup = false): Promise<string | null> => {
    const message: IncomingMessage = { id: `s${++seq}`, chatId: isGroup ? "120363000000000000@g.us" : senderId, isGroup, senderId, text, at: clock.now() };
    return pipeline.handle(message);
  };
  const ignored = () => lines.filter((l) => l.msg.includes("ignored"));
  after(async () => {
    pipeline.close();
    await pipeline.drain();
    await hosts.close();
    await store.close();
  });

  it("no reply in a direct chat or in a group, counted, no audit row, nothing run", async () => {
    assert.equal(await from(STRANGER, "/echo hi"), null);
    assert.equal(await from(STRANGER, "/echo hi", true), null);
    assert.equal(await from(STRANGER, "hello there"), null, "not even the /help hint");
    assert.equal(pipeline.counters.ignoredSenders, 3);
    assert.deepEqual(await store.audit.recent(10), []);
    assert.deepEqual(ran, []);
    // The control: a known person is answered and audited.
    assert.equal(await from(VIEWER, "/echo hi"), "echo: hi");
    assert.equal((await store.audit.recent(10)).length, 1);
  });

  it("50 messages within a minute log one line; a minute on, the next says how many were left out", async () => {
    await clock.advance(5 * 60_000);
    const before = ignored().length;
    const counted = pipeline.counters.ignoredSenders;
    for (let i = 0; i < 50; i++) {
      assert.equal(await from(`62899900${String(i).padStart(4, "0")}`, "/echo spam", i % 2 === 0), null);
      await clock.advance(1_000);
    }
    assert.equal(pipeline.counters.ignoredSenders, counted + 50);
    assert.equal(ignored().length - before, 1, JSON.stringify(ignored()));
    assert.equal(ignored().at(-1)?.suppressed, 2, "the first test's two left-out lines, told once its window was over");

    await clock.advance(11_000); // 61 s after the first
    assert.equal(await from(STRANGER, "/echo again"), null);
    const fresh = ignored().slice(before);
    assert.equal(fresh.length, 2);
    assert.equal(fresh[1]!.suppressed, 49);
    assert.match(fresh[1]!.msg, /ignored \(49 more like this left out\)$/);
    assert.equal(fresh[1]!.sender, STRANGER);
    assert.equal((await store.audit.recent(100)).length, 1, "still only the known person's row");
  });
});

// ---------------------------------------------------------------------------------------------

describe("limit: commands a minute", () => {
  let h: Harness;
  let clock: ManualClock;
  before(() => ({ h, clock } = setup({ limits: {} }))); // the defaults: 10 a minute
  after(() => h.close());

  it("the 11th is answered once with when to try again; 12th–20th are silent and not audited", async () => {
    assert.equal(await h.send("/echo 1", { as: OPERATOR }), "echo: 1");
    await clock.advance(15_000);
    for (let i = 2; i <= 10; i++) assert.equal(await h.send(`/echo ${i}`, { as: OPERATOR }), `echo: ${i}`);
    // The oldest (at T0) leaves the window at T0 + 60 s: 45 s from now.
    assert.equal(await h.send("/echo 11", { as: OPERATOR }), "⏳ Too many commands: at most 10 a minute. Try again in 45 s.");
    const audited = (await rows(h)).length;
    for (let i = 12; i <= 20; i++) assert.equal(await h.send(`/echo ${i}`, { as: OPERATOR }), null, `message ${i}`);
    assert.equal(ran.length, 10);
    const all = await rows(h);
    assert.equal(all.length, audited, "silent refusals write no audit row");
    assert.equal(all.at(-1)?.outcome, "limited");
    assert.equal(all.filter((r) => r.outcome === "ok").length, 10);
    assert.equal(h.pipeline.counters.limited, 10);
  });

  it("another person is not limited by it", async () => {
    assert.equal(await h.send("/echo other", { as: VIEWER }), "echo: other");
  });

  it("as the window slides, commands run again (and the next refusal is answered again)", async () => {
    await clock.advance(45_000); // the first leaves the window
    assert.equal(await h.send("/echo back", { as: OPERATOR }), "echo: back");
    assert.equal(await h.send("/echo more", { as: OPERATOR }), "⏳ Too many commands: at most 10 a minute. Try again in 15 s.");
    await clock.advance(15_000);
    for (let i = 0; i < 9; i++) assert.equal(await h.send(`/echo again${i}`, { as: OPERATOR }), `echo: again${i}`);
  });

  it("unknown commands count too", async () => {
    await clock.advance(60_000);
    for (let i = 0; i < 10; i++) assert.match((await h.send("/nosuch", { as: VIEWER }))!, /Unknown command|nosuch/i);
    assert.match((await h.send("/echo x", { as: VIEWER }))!, /^⏳ Too many commands/);
  });

  it("the console is never limited", async () => {
    for (let i = 0; i < 50; i++) assert.equal(await h.send(`/echo c${i}`), `echo: c${i}`);
  });
});

describe("limit: commands in flight", () => {
  let h: Harness;
  before(() => ({ h } = setup({ limits: { inFlightPerSender: 2, inFlight: 3 } })));
  after(async () => {
    while (gates.length) gates.shift()!();
    await h.close();
  });
  const open = () => gates.shift()!();

  it("per sender: the 3rd at once is refused; total: across senders too; slots free on completion", async () => {
    const a = h.send("/slow", { as: OPERATOR });
    const b = h.send("/slow", { as: OPERATOR });
    await until(() => gates.length === 2, "two slow commands running");
    assert.equal(await h.send("/slow", { as: OPERATOR }), "⏳ 2 of your commands are still running. Wait for one to finish.");

    const c = h.send("/slow", { as: VIEWER });
    await until(() => gates.length === 3, "a third slow command running");
    assert.equal(await h.send("/echo x", { as: ADMIN }), "⏳ Jaga is running 3 commands. Try again in a moment.");
    assert.deepEqual(ran, []);

    open();
    assert.equal(await a, "slow done");
    assert.equal(await h.send("/echo now", { as: ADMIN }), "echo: now", "a slot freed up");
    const d = h.send("/slow", { as: OPERATOR });
    await until(() => gates.length === 3, "the sender's freed slot taken again");
    assert.equal(await h.send("/slow", { as: OPERATOR }), "⏳ 2 of your commands are still running. Wait for one to finish.");

    open();
    open();
    open();
    assert.deepEqual(await Promise.all([b, c, d]), ["slow done", "slow done", "slow done"]);
    assert.equal(await h.send("/echo free", { as: OPERATOR }), "echo: free");
    assert.equal((await rows(h)).filter((r) => r.outcome === "limited").length, 3);
  });

  it("the console is not bound by it", async () => {
    const many = Array.from({ length: 5 }, () => h.send("/slow"));
    await until(() => gates.length === 5, "five console commands running at once");
    while (gates.length) open();
    assert.deepEqual(await Promise.all(many), Array(5).fill("slow done"));
  });
});

// ---------------------------------------------------------------------------------------------

describe("confirmations", () => {
  let h: Harness;
  let clock: ManualClock;
  beforeEach(() => ({ h, clock } = setup()));
  afterEach(() => h.close());
  const op = (text: string) => h.send(text, { as: OPERATOR });
  const ASK = /^⚠️ \*Confirm \/wipe\*\nWould wipe cache on local\.\nReply `\/yes (\d{4})` within 1m to go ahead, `\/no` to cancel\.$/;

  it("shows the plan and a code, runs nothing until the same sender's /yes <code>; audit planned → confirmed → ok", async () => {
    const asked = await op("/wipe cache");
    assert.match(asked ?? "", ASK);
    const code = codeOf(asked);
    assert.deepEqual(ran, []);

    assert.equal(await h.send(`/yes ${code}`, { as: OPERATOR2 }), `❓ Code \`${code}\` matches nothing waiting for your confirmation. Nothing was changed.`);
    assert.equal(await h.send(`/yes ${code}`, { as: ADMIN }), `❓ Code \`${code}\` matches nothing waiting for your confirmation. Nothing was changed.`);
    const wrong = otherCode(code);
    assert.equal(await op(`/yes ${wrong}`), `❓ Code \`${wrong}\` matches nothing waiting for your confirmation. Nothing was changed.`);
    assert.equal(await op("/yes"), `Which one? Reply \`/yes ${code}\`.`);
    assert.equal(await op("/yes 12"), "❌ A confirmation code is 4 digits, e.g. `/yes 4821`.");
    assert.deepEqual(ran, []);

    assert.equal(await op(`/yes ${code}`), "wiped cache");
    assert.deepEqual(ran, ["wipe cache"]);
    assert.deepEqual(
      (await rows(h)).map((r) => [r.command, r.outcome, r.actor]),
      [
        ["wipe", "planned", OPERATOR],
        ["wipe", "confirmed", OPERATOR],
        ["wipe", "ok", OPERATOR],
      ],
    );
    assert.equal((await rows(h))[2]!.args, JSON.stringify({ what: "cache" }));
    // Used up: the same code again confirms nothing.
    assert.match((await op(`/yes ${code}`))!, /matches nothing/);
    assert.deepEqual(ran, ["wipe cache"]);
  });

  it("`ya <code>` without the slash confirms too", async () => {
    const code = codeOf(await op("/wipe cache"));
    assert.equal(await op(`ya ${code}`), "wiped cache");
    assert.deepEqual(ran, ["wipe cache"]);
  });

  it("/yes with nothing waiting says so", async () => {
    assert.equal(await op("/yes"), "Nothing is waiting for your confirmation.");
  });

  it("/no cancels: nothing runs, audit 'cancelled', the code is gone", async () => {
    const code = codeOf(await op("/wipe cache"));
    assert.equal(await op("/no"), "🚫 `/wipe` cancelled. Nothing was changed.");
    assert.equal((await h.store.audit.recent(1))[0]?.outcome, "cancelled");
    assert.match((await op(`/yes ${code}`))!, /matches nothing/);
    assert.deepEqual(ran, []);
  });

  it("another person's /no cancels nothing of mine", async () => {
    const code = codeOf(await op("/wipe cache"));
    assert.equal(await h.send("/no", { as: OPERATOR2 }), "Nothing is waiting for your confirmation.");
    assert.equal(await op(`/yes ${code}`), "wiped cache");
  });

  it("still confirmable just before `confirm.within`; expires at it: audit 'expired', a late /yes runs nothing", async () => {
    const first = codeOf(await op("/wipe cache"));
    await clock.advance(59_999);
    assert.equal(await op(`/yes ${first}`), "wiped cache");

    ran.length = 0;
    const code = codeOf(await op("/wipe cache"));
    await clock.advance(60_000); // asked at 07:00:59.999 in Jakarta, expired at 07:01:59.999
    const last = (await h.store.audit.recent(1))[0];
    assert.equal(last?.outcome, "expired");
    assert.equal(last?.command, "wipe");
    assert.equal(last?.actor, OPERATOR);
    assert.equal(await op(`/yes ${code}`), `⌛ Code \`${code}\` expired at 07:01. Nothing was changed; send the command again.`);
    assert.equal(await op("/yes"), "Nothing is waiting for your confirmation.");
    assert.deepEqual(ran, []);
    assert.deepEqual(
      (await rows(h)).map((r) => r.outcome),
      ["planned", "confirmed", "ok", "planned", "expired"],
      "the late /yes leaves no row and nothing ran after the first /yes",
    );
  });

  it("a plan() of null runs at once, without a confirmation", async () => {
    assert.equal(await op("/wipe nothing"), "wiped nothing");
    assert.deepEqual(ran, ["wipe nothing"]);
    assert.deepEqual((await rows(h)).map((r) => r.outcome), ["ok"]);
  });

  it("roles are checked again at /yes: the plan is the sender's own", async () => {
    const code = codeOf(await op("/wipe cache"));
    assert.match((await h.send(`/yes ${code}`, { as: VIEWER }))!, /matches nothing/);
    assert.deepEqual(ran, []);
  });

  it("pipeline.close() expires what waits (audit 'expired') and runs nothing", async () => {
    codeOf(await op("/wipe cache"));
    codeOf(await h.send("/wipe logs", { as: OPERATOR2 }));
    h.pipeline.close();
    await h.pipeline.drain();
    const expired = (await rows(h)).filter((r) => r.outcome === "expired");
    assert.deepEqual(expired.map((r) => r.actor).sort(), [OPERATOR, OPERATOR2].sort());
    assert.deepEqual(ran, []);
  });
});

// ---------------------------------------------------------------------------------------------

describe("authorise: per-command rules", () => {
  it("commands.<name>.role raises the role needed: an operator is refused, an admin runs", async () => {
    const { h } = setup({ commands: { poke: { role: "admin" } } });
    try {
      assert.equal(await h.send("/poke", { as: OPERATOR }), "🚫 `/poke` needs the role *admin*; yours is *operator*.");
      assert.equal((await h.store.audit.recent(1))[0]?.outcome, "denied");
      assert.equal(await h.send("/poke", { as: ADMIN }), "poked");
      assert.equal(await h.send("/poke"), "poked", "the console");
      assert.deepEqual(ran, ["poke by Ana", "poke by console"]);
    } finally {
      await h.close();
    }
  });

  it("without a rule the command's own role holds (the control)", async () => {
    const { h } = setup();
    try {
      assert.equal(await h.send("/poke", { as: OPERATOR }), "poked");
      assert.equal(await h.send("/poke", { as: VIEWER }), "🚫 `/poke` needs the role *operator*; yours is *viewer*.");
    } finally {
      await h.close();
    }
  });

  it("commands.<name>.people: exactly those listed (by name or phone, any role), and the console", async () => {
    const { h } = setup({ commands: { secret: { people: ["Oki", "0811-1000-001"] } } });
    const NOT_LISTED = "🚫 `/secret` is only for the people listed for it in the config.";
    try {
      assert.equal(await h.send("/secret", { as: OPERATOR }), "secret done", "Oki, an operator, by name");
      assert.equal(await h.send("/secret", { as: VIEWER }), "secret done", "Vera, a viewer, by phone");
      assert.equal(await h.send("/secret", { as: ADMIN }), NOT_LISTED, "an admin not listed");
      assert.equal(await h.send("/secret", { as: OPERATOR2 }), NOT_LISTED);
      assert.equal(await h.send("/secret"), "secret done", "the console");
      assert.deepEqual(ran, ["secret by Oki", "secret by Vera", "secret by console"]);
      assert.deepEqual(
        (await rows(h)).map((r) => r.outcome),
        ["ok", "ok", "denied", "denied", "ok"],
      );
    } finally {
      await h.close();
    }
  });

  it("people and role together: listed and of that role", async () => {
    const { h } = setup({ commands: { secret: { people: ["Oki", "Vera"], role: "operator" } } });
    try {
      assert.equal(await h.send("/secret", { as: OPERATOR }), "secret done");
      assert.equal(await h.send("/secret", { as: VIEWER }), "🚫 `/secret` needs the role *operator*; yours is *viewer*.");
      assert.deepEqual(ran, ["secret by Oki"]);
    } finally {
      await h.close();
    }
  });

  it("an unknown command name under `commands` stops the pipeline from being built", () => {
    assert.throws(() => setup({ commands: { nosuch: { role: "admin" } } }), /commands\.nosuch: no such command/);
  });
});

// ---------------------------------------------------------------------------------------------

describe("guard: the restart window", () => {
  let h: Harness;
  let clock: ManualClock;
  beforeEach(() => ({ h, clock } = setup({ limits: { restartsPerApp: 3, restartWindow: "10m", commandsPerMinute: 1000 } })));
  afterEach(() => h.close());
  const op = (text: string) => h.send(text, { as: OPERATOR });
  const refused = (app: string, command = "bounce") =>
    `🛑 \`${app}\` was restarted 3× through Jaga in the last 10m. Jaga will not be the restart storm: check \`/logs ${app}\` first. An admin can force it: \`/${command} ${app} --force\`.`;

  it("the 4th restart of one app within the window is refused and does not run; another app is not affected", async () => {
    for (let i = 0; i < 3; i++) {
      assert.equal(await op("/bounce api"), "bounced api");
      await clock.advance(60_000);
    }
    assert.equal(await op("/bounce api"), refused("api"));
    assert.equal(await h.send("/bounce api", { as: ADMIN }), refused("api"), "an admin without --force too");
    assert.equal(await op("/bounce web"), "bounced web");
    assert.deepEqual(ran, ["bounce api", "bounce api", "bounce api", "bounce web"]);
    assert.equal((await rows(h)).filter((r) => r.outcome === "denied").length, 2);
  });

  it("holds for the console too", async () => {
    for (let i = 0; i < 3; i++) assert.equal(await h.send("/bounce api"), "bounced api");
    assert.equal(await h.send("/bounce api"), refused("api"));
    assert.equal(ran.length, 3);
  });

  it("after the window has passed it runs again", async () => {
    for (let i = 0; i < 3; i++) assert.equal(await op("/bounce api"), "bounced api");
    await clock.advance(10 * 60_000 - 1);
    assert.equal(await op("/bounce api"), refused("api"));
    await clock.advance(1);
    assert.equal(await op("/bounce api"), "bounced api");
    assert.equal(ran.length, 4);
  });

  it("a restart that fails with a JagaError (unknown app) does not count", async () => {
    failing.add("api");
    for (let i = 0; i < 5; i++) assert.equal(await op("/bounce api"), "❓ No app `api` on *local*.");
    failing.clear();
    for (let i = 0; i < 3; i++) assert.equal(await op("/bounce api"), "bounced api");
    assert.equal(await op("/bounce api"), refused("api"));
  });

  it("a restart that timed out counts (PM2 may have restarted it)", async () => {
    for (let i = 0; i < 3; i++) {
      const p = op("/hang api");
      await until(() => hanging() === i + 1, "the hang command running");
      await clock.advance(30_000);
      assert.equal(await p, "⏱️ `/hang` gave no answer within 30 s and was stopped.");
    }
    assert.deepEqual((await rows(h)).map((r) => r.outcome), ["timeout", "timeout", "timeout"]);
    assert.equal(await op("/bounce api"), refused("api"));
  });

  it("--force past the guard: denied to an operator, run for an admin", async () => {
    for (let i = 0; i < 3; i++) assert.equal(await op("/bounce api"), "bounced api");
    assert.equal(await op("/bounce api --force"), "🚫 `--force` on `/bounce` is for admins only.");
    assert.equal(await h.send("/bounce api --force", { as: ADMIN }), "bounced api");
    assert.deepEqual(ran, ["bounce api", "bounce api", "bounce api", "bounce api --force"]);
  });

  it("a failed forced restart does not make an earlier one stop counting", async () => {
    for (let i = 0; i < 3; i++) assert.equal(await op("/bounce api"), "bounced api");
    failing.add("api");
    assert.equal(await h.send("/bounce api --force", { as: ADMIN }), "❓ No app `api` on *local*.");
    failing.clear();
    assert.equal(await op("/bounce api"), refused("api"), "still three restarts in the window");
    assert.equal(ran.length, 3);
  });

  it("a destructive restart: refused at once when guarded (no plan); --force by an admin is planned first", async () => {
    for (let i = 0; i < 3; i++) assert.equal(await op("/bounce api"), "bounced api");
    assert.equal(await op("/rebuild api"), refused("api", "rebuild"));
    assert.equal(await op("/rebuild api --force"), "🚫 `--force` on `/rebuild` is for admins only.");
    const asked = await h.send("/rebuild api --force", { as: ADMIN });
    assert.match(asked ?? "", /^⚠️ \*Confirm \/rebuild\*\nWould rebuild api\./);
    assert.equal(ran.length, 3, "nothing before the /yes");
    assert.equal(await h.send(`/yes ${codeOf(asked)}`, { as: ADMIN }), "rebuilt api");
    assert.deepEqual(ran.slice(3), ["rebuild api --force"]);
  });

  it("a plan asked while under the limit is refused at /yes if the limit was reached meanwhile", async () => {
    const asked = await op("/rebuild api");
    for (let i = 0; i < 3; i++) assert.equal(await op("/bounce api"), "bounced api");
    assert.equal(await op(`/yes ${codeOf(asked)}`), refused("api", "rebuild"));
    assert.equal(ran.length, 3);
  });
});

// ---------------------------------------------------------------------------------------------

describe("mask: the last word on every reply", () => {
  let h: Harness;
  before(() => ({ h } = setup()));
  after(() => h.close());

  it("a command's reply shows no NIK in full, plain or dashed", async () => {
    const reply = (await h.send("/leak", { as: VIEWER }))!;
    assert.ok(!reply.includes(NIK) && !reply.includes(NIK_DASHED), reply);
    assert.equal(reply, `found ${MASKED} and ${MASKED}`);
  });

  it("a step's own answer too (an unknown command named like a NIK)", async () => {
    const reply = (await h.send(`/${NIK}`, { as: VIEWER }))!;
    assert.ok(!reply.includes(NIK), reply);
    assert.ok(reply.includes(MASKED), reply);
    const [row] = await h.store.audit.recent(1);
    assert.ok(row && !row.command.includes(NIK), row?.command);
  });
});
