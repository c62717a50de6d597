/**
 * The hostile corpus (test/fixtures/hostile.json: NIKs in every written form, formatting-only
 * arguments, Unicode and bidi tricks, terminal escapes, shell metacharacters, option injection,
 * path traversal, oversized input, hostile durations and ids) through the whole pipeline, against
 * a real PM2 whose app logs hostile lines, with every argv the executor runs, every log line and
 * every store row recorded.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { commands } from "../commands/index.js";
import { ConsoleTransport } from "../src/chat/console.js";
import type { IncomingMessage } from "../src/chat/transport.js";
import { systemClock } from "../src/clock.js";
import type { ExecOptions, Executor } from "../src/hosts/executor.js";
import { Inventory } from "../src/hosts/inventory.js";
import { LocalExecutor } from "../src/hosts/local.js";
import { createLogger } from "../src/log.js";
import { Directory } from "../src/pipeline/people.js";
import { Pipeline } from "../src/pipeline/pipeline.js";
import { openSqliteStore, type SqliteStore } from "../src/store/sqlite/index.js";
import { createWatch, type WatchServices } from "../src/watch/index.js";
import { testConfig } from "./helpers/harness.js";
import { ROOT, startPm2, waitFor, type TestPm2 } from "./helpers/pm2.js";

interface Entry {
  text: string;
  expect: "reply" | "silent";
  /** False only for the positive controls, which must reach the executor. */
  safe: boolean;
  from: "admin" | "stranger";
  group: boolean;
  note: string;
}
const corpus = JSON.parse(readFileSync(join(ROOT, "test/fixtures/hostile.json"), "utf8")) as { niks: string[]; messages: Entry[] };
const ADMIN = "628111000009";

/** Runs every argv on the real local executor, and keeps it. */
class RecordingExecutor implements Executor {
  readonly kind = "local" as const;
  readonly argvs: string[][] = [];
  private readonly inner = new LocalExecutor();
  run(argv: readonly string[], options?: ExecOptions) {
    this.argvs.push([...argv]);
    return this.inner.run(argv, options);
  }
  close() {
    return this.inner.close();
  }
}

/** The NIKs of the corpus, in any written form (separators, formatting marks and invisible characters ignored). */
function fullNik(text: string): string | undefined {
  const squashed = text.normalize("NFKC").replace(/[\s.\-_*~`\u00AD\u200B-\u206F\uFEFF]/g, "");
  return corpus.niks.find((n) => squashed.includes(n));
}
// C0 (but tab and newline), DEL, C1: nothing of it may reach a terminal.
// eslint-disable-next-line no-control-regex -- what the test looks for
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/;
const DESTRUCTIVE = /^(flush|restart|reload|stop|delete|kill|reset)$/;

let pm2: TestPm2;
let store: SqliteStore;
let hosts: Inventory;
let watch: WatchServices;
let pipeline: Pipeline;
const executor = new RecordingExecutor();
const logLines: string[] = [];
const printed: string[] = [];
const results: { entry: Entry; reply: string | null; argvs: string[][] }[] = [];

before(async () => {
  pm2 = await startPm2({ "shop-api": "escapes.js" });
  const config = testConfig({
    language: "en",
    people: [{ phone: ADMIN, name: "Ana", role: "admin", language: "en" }],
    hosts: [pm2.hostConfig("stb")],
    watch: { dns: { enabled: false }, cpu: { for: "1d" } },
    // The corpus is ~900 messages from one admin in a few seconds: the rate limit has its own tests.
    limits: { commandsPerMinute: 1000 },
  });
  store = openSqliteStore(":memory:");
  hosts = Inventory.fromConfig(config.hosts, () => executor);
  const alert = (text: string, dedupeKey: string) => store.outbox.enqueue({ chatId: "alerts", text, dedupeKey, at: Date.now() });
  watch = createWatch({ config, hosts, incidents: store.incidents, state: store.watch, alert, alerts: { chatId: "alerts", queued: () => undefined }, clock: systemClock, log: createLogger("silent") });
  const log = createLogger("debug", new Writable({ write: (chunk: Buffer, _e, done) => (logLines.push(chunk.toString()), done()) }));
  pipeline = new Pipeline({ commands, directory: new Directory(config), hosts, store, config, clock: systemClock, log, services: { watch } });
  const out = new Writable({ write: (chunk: Buffer, _e, done) => (printed.push(chunk.toString()), done()) });
  const console_ = new ConsoleTransport(new PassThrough(), out, "alerts");
  await waitFor(async () => (await pm2.jlist()).some((p) => p.name === "shop-api" && p.pm2_env.status === "online"), 10_000, "shop-api online");
  await waitFor(() => readFileSync(join(pm2.home, "logs", "shop-api-error.log"), "utf8").includes("NIK"), 10_000, "shop-api to log");

  let seq = 0;
  for (const entry of corpus.messages) {
    const sender = entry.from === "admin" ? ADMIN : "628999999999";
    const message: IncomingMessage = { id: `h${++seq}`, chatId: entry.group ? "120363000000000000@g.us" : sender, isGroup: entry.group, senderId: sender, text: entry.text, at: Date.now() };
    const before = executor.argvs.length;
    const reply = await pipeline.handle(message);
    if (reply !== null) await console_.reply(message, reply);
    results.push({ entry, reply, argvs: executor.argvs.slice(before) });
  }
});
after(async () => {
  await watch?.stop();
  await hosts?.close();
  await store?.close();
  await pm2?.stop();
});

describe("the hostile corpus", () => {
  it("holds at least 300 messages of every kind", () => {
    assert.ok(corpus.messages.length >= 300, String(corpus.messages.length));
    for (const kind of ["nik", "folded", "unicode", "escape", "meta", "option", "big", "duration", "id", "control", "confirm"]) {
      assert.ok(corpus.messages.some((m) => m.note === kind), kind);
    }
  });

  it("answers or ignores every message as designed", () => {
    for (const { entry, reply } of results) {
      if (entry.expect === "silent") assert.equal(reply, null, JSON.stringify(entry.text));
      else assert.ok(reply && reply.trim() !== "", `no answer to ${JSON.stringify(entry.text)}`);
    }
  });

  it("never runs a destructive pm2 action for a formatting-only, folded-away or hostile argument", () => {
    for (const { entry, argvs } of results) {
      if (!entry.safe) continue;
      const destructive = argvs.filter((a) => a.some((x) => DESTRUCTIVE.test(x)));
      assert.deepEqual(destructive, [], `${JSON.stringify(entry.text)} ran ${JSON.stringify(destructive)}`);
    }
    for (const { entry, reply } of results.filter((r) => r.entry.note === "folded")) {
      assert.match(reply!, /formatting marks|too many|Invalid|invalid|Missing|Usage/i, JSON.stringify(entry.text));
    }
  });

  it("runs nothing destructive that was only planned: every /flush of all apps and every /unblock waits for its /yes", () => {
    const planned = results.filter((r) => r.reply?.startsWith("⚠️ *Confirm /"));
    assert.ok(planned.some((r) => r.reply!.startsWith("⚠️ *Confirm /flush*")), "a bare /flush is planned");
    assert.ok(planned.some((r) => r.reply!.startsWith("⚠️ *Confirm /unblock*")), "an /unblock of a blocked NIK is planned");
    for (const { entry, argvs } of planned) {
      assert.deepEqual(argvs.filter((a) => a.some((x) => DESTRUCTIVE.test(x))), [], JSON.stringify(entry.text));
    }
    const rows = store.db.prepare<[], { outcome: string }>("SELECT outcome FROM audit WHERE outcome = 'planned'").all();
    assert.equal(rows.length, planned.length);
  });

  it("confirms nothing with a made-up, malformed or someone else's code", () => {
    for (const { entry, reply } of results.filter((r) => r.entry.note === "confirm" && r.entry.from === "admin")) {
      assert.doesNotMatch(reply!, /emptied|unblocked \(was|restarted on/, JSON.stringify(entry.text));
    }
    const confirmed = store.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM audit WHERE outcome = 'confirmed'").get()!;
    assert.equal(confirmed.n, 0);
  });

  it("lets the positive controls through (the recorder sees what runs)", () => {
    for (const { entry, argvs } of results.filter((r) => !r.entry.safe)) {
      assert.ok(
        argvs.some((a) => a.some((x) => DESTRUCTIVE.test(x))),
        `${JSON.stringify(entry.text)} should have reached pm2: ${JSON.stringify(argvs)}`,
      );
    }
  });

  it("passes no chat-typed text to pm2 except app names that exist", () => {
    for (const { entry, argvs } of results) {
      for (const argv of argvs) {
        // Jaga's own fixed wrapper comes first; after the pm2 binary, only a verb, an existing app and Jaga's options.
        const at = argv.findIndex((a) => a.endsWith("/pm2"));
        if (at < 0) {
          // The other programs: the host's vitals (a fixed script over fixed paths) and `stat` of log files.
          if (argv[0] === "stat") assert.deepEqual(argv.slice(0, 4), ["stat", "-c", "%s", "--"], JSON.stringify(argv));
          else assert.match(argv[2] ?? "", /^cat \/proc\/loadavg /, JSON.stringify(argv));
          const rest = argv.slice(4);
          // eslint-disable-next-line no-control-regex -- ESC must not reach a program
          assert.deepEqual(rest.filter((a) => !a.startsWith("/") || /[;&|`$<>\u001B]|\.\.\//.test(a)), [], JSON.stringify(argv));
          continue;
        }
        const pm2Args = argv.slice(at + 1);
        for (const arg of pm2Args) assert.match(arg, /^(shop-api|[a-z]+|\d+|--nostream|--lines|--err)$/, `${JSON.stringify(entry.text)} → ${JSON.stringify(argv)}`);
      }
    }
  });

  it("shows no full NIK in any reply", () => {
    for (const { entry, reply } of results) if (reply) assert.equal(fullNik(reply), undefined, `${JSON.stringify(entry.text)} → ${reply}`);
    assert.ok(results.some((r) => r.reply?.includes("••••••••")), "masked NIKs are shown");
  });

  it("writes no full NIK in any log line", () => {
    assert.ok(logLines.length > corpus.messages.length / 2, "the log was written");
    for (const line of logLines) assert.equal(fullNik(line), undefined, line);
  });

  it("stores no full NIK in any audit column, store key or stored text (but the blocks' own nik column)", () => {
    const tables = store.db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all();
    let audited = 0;
    for (const { name } of tables) {
      const rows = store.db.prepare<[], Record<string, unknown>>(`SELECT * FROM "${name}"`).all();
      if (name === "audit") audited = rows.length;
      for (const row of rows) {
        for (const [column, value] of Object.entries(row)) {
          if (column === "nik" || typeof value !== "string") continue;
          assert.equal(fullNik(value), undefined, `${name}.${column}: ${value}`);
        }
      }
    }
    assert.ok(audited > corpus.messages.length / 2, `audit rows: ${audited}`);
    const keys = store.db.prepare<[], { key: string }>("SELECT key FROM watch_state").all().map((r) => r.key);
    assert.ok(!keys.some((k) => /mute:\d/.test(k)), JSON.stringify(keys));
  });

  it("puts no control character in any reply, whatever the transport (an app's own log lines included)", () => {
    for (const { entry, reply } of results) if (reply) assert.doesNotMatch(reply, CONTROL, JSON.stringify(entry.text));
  });

  it("prints no control character or escape sequence on the console", () => {
    assert.ok(printed.length > 300);
    for (const text of printed) assert.doesNotMatch(text, CONTROL, JSON.stringify(text));
    assert.ok(printed.some((t) => t.includes("payment failed")), "the app's hostile log lines were shown, cleaned");
  });
});

describe("/mute and /unmute only for what exists", () => {
  const send = (text: string) =>
    pipeline.handle({ id: `mu${text}`, chatId: ADMIN, isGroup: false, senderId: ADMIN, text, at: Date.now() });

  it("refuses an app no host runs, and stores nothing", async () => {
    assert.equal(await send("/mute nosuchapp 30m"), "❓ `nosuchapp` is not a known host or app. Hosts: *stb*.");
    assert.equal(await send("/unmute nosuchapp"), "❓ `nosuchapp` is not a known host or app. Hosts: *stb*.");
    assert.equal(store.watch.get("mute:nosuchapp"), undefined);
  });

  it("mutes a real app or host, and says the date as well as the time", async () => {
    assert.match((await send("/mute shop-api 7d"))!, /^🔕 Alerts for `shop-api` muted until [A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2}, \d{2}:\d{2}\.$/);
    assert.match((await send("/mute stb 30m"))!, /^🔕 Alerts for `stb` muted until /);
    assert.equal(await send("/unmute shop-api"), "🔔 Alerts for `shop-api` are back on.");
    assert.equal(await send("/unmute stb"), "🔔 Alerts for `stb` are back on.");
  });
});
