/**
 * The one masker (every written form of a NIK, long digit runs, secrets), NIK normalisation,
 * folding of bidi controls and formatting-only arguments, terminal escapes, the log hook on
 * object fields, the console's output, and a command whose own parse() throws.
 */
import assert from "node:assert/strict";
import { PassThrough, Writable } from "node:stream";
import { describe, it } from "node:test";
import { z } from "zod";
import { ConsoleTransport } from "../src/chat/console.js";
import { createLogger } from "../src/log.js";
import { checkNik, nikArg, nikTokens, normalizeNik } from "../src/nik.js";
import { freeText } from "../src/pipeline/args.js";
import { defineCommand } from "../src/pipeline/command.js";
import { normalize, parseMessage } from "../src/pipeline/parse.js";
import { redact, redactDeep, stripControls } from "../src/text.js";
import { harness } from "./helpers/harness.js";

describe("redact: NIKs in every written form", () => {
  const cases: [string, string][] = [
    ["3201011203880008", "3201••••••••0008"],
    ["3201-0112-0388-0008", "3201••••••••0008"],
    ["3174.0115.0590.0002", "3174••••••••0002"],
    ["3174 0115 0590 0002", "3174••••••••0002"],
    ["31 74 01 150590 0002", "3174••••••••0002"],
    ["317401.150590.0002", "3174••••••••0002"],
  ];
  for (const [typed, masked] of cases) {
    it(`masks ${typed}`, () => assert.equal(redact(`nik ${typed} blocked`), `nik ${masked} blocked`));
  }

  it("masks two NIKs pasted together and a NIK inside a longer digit string", () => {
    assert.equal(redact("32010112038800083174011505900002"), "3201••••••••0002");
    assert.equal(redact("id 99320101120388000877"), "id 9932••••••••0877");
  });

  it("leaves short numbers, dates, times, addresses and an 18-digit group id alone", () => {
    const text = "at 2026-12-01 17:57:09 from 127.0.0.1 load 0.52 0.31 pid 123456 chat 120363000000000000@g.us";
    assert.equal(redact(text), text);
  });

  it("masks inside every string of an object, arrays too, and Error messages", () => {
    const masked = redactDeep({ host: "3201-0112-0388-0008", n: 3, nested: { command: ["/3201011203880008"] } });
    assert.deepEqual(masked, { host: "3201••••••••0008", n: 3, nested: { command: ["/3201••••••••0008"] } });
    const err = redactDeep(new TypeError("bad 3174011505900002")) as Error;
    assert.ok(err instanceof TypeError);
    assert.equal(err.message, "bad 3174••••••••0002");
  });

  it("masks the log's object fields (host, command), not only its message", () => {
    const lines: string[] = [];
    const log = createLogger("info", new Writable({ write: (c: Buffer, _e, done) => (lines.push(c.toString()), done()) }));
    log.info({ host: "3201011203880008", command: "3174.0115.0590.0002", args: { nik: "31 74 01 150590 0002" } }, "ran 3201-0112-0388-0008");
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(entry.host, "3201••••••••0008");
    assert.equal(entry.command, "3174••••••••0002");
    assert.deepEqual(entry.args, { nik: "3174••••••••0002" });
    assert.equal(entry.msg, "ran 3201••••••••0008");
  });
});

describe("NIK normalisation", () => {
  it("reduces every written form to 16 digits before checking", () => {
    for (const typed of ["3174.0115.0590.0002", "3174-0115-0590-0002", "3174 0115 0590 0002", "3174011505900002"]) {
      assert.equal(normalizeNik(typed), "3174011505900002");
      assert.deepEqual(nikArg.safeParse(typed), { success: true, data: "3174011505900002" });
    }
    assert.equal(checkNik(normalizeNik("3174.0115.0590.0002")), null);
  });

  it("joins a NIK typed in spaced groups into one argument, and leaves the reason", () => {
    assert.deepEqual(nikTokens(["31", "74", "01", "150590", "0002", "fraud", "2024"]), { nik: "31 74 01 150590 0002", rest: ["fraud", "2024"] });
    assert.deepEqual(nikTokens(["3174011505900002", "12", "times"]), { nik: "3174011505900002", rest: ["12", "times"] });
    assert.deepEqual(nikTokens(["abc", "1"]), { nik: "abc", rest: ["1"] });
    assert.deepEqual(nikTokens([]), { nik: undefined, rest: [] });
  });
});

describe("clean text", () => {
  it("folds every bidi control, the isolates included, like U+202E", () => {
    for (const c of ["\u2066", "\u2067", "\u2068", "\u2069", "\u202A", "\u202B", "\u202C", "\u202D", "\u202E", "\u200E", "\u200F", "\u061C"]) {
      assert.equal(normalize(`/res${c}tart`), "/restart", `U+${c.codePointAt(0)!.toString(16)}`);
    }
    const p = parseMessage("/restart \u2066shop-api\u2069");
    assert.deepEqual(p, { kind: "command", name: "restart", tokens: ["shop-api"], rest: "shop-api" });
  });

  it("refuses an argument made only of formatting marks or invisible characters", () => {
    for (const arg of ["*", "~", "_", "```", "`", "**", "\u200B", "\u2066\u2069", "*\u200B*"]) {
      assert.deepEqual(parseMessage(`/flush ${arg}`), { kind: "invalid", key: "parse.folded" }, JSON.stringify(arg));
    }
    assert.deepEqual(parseMessage("/flush shop-api *"), { kind: "invalid", key: "parse.folded" });
    // Trailing whitespace is not an argument, and marks around a word are still folded.
    assert.deepEqual(parseMessage("/flush  \t").kind === "command" && parseMessage("/flush  \t"), { kind: "command", name: "flush", tokens: [], rest: "" });
    assert.deepEqual(parseMessage("*/flush* _shop-api_"), { kind: "command", name: "flush", tokens: ["shop-api"], rest: "shop-api" });
  });

  it("reads a path inside an argument as an argument, not a second command", () => {
    assert.deepEqual(parseMessage("/restart /etc/passwd"), { kind: "command", name: "restart", tokens: ["/etc/passwd"], rest: "/etc/passwd" });
    assert.equal(parseMessage("/status /restart").kind, "invalid");
  });

  it("strips terminal escapes and control characters: CSI, OSC title, other ESC, C1", () => {
    assert.equal(stripControls("a\u001B]0;pwned\u0007b"), "ab");
    assert.equal(stripControls("a\u001B]8;;http://x\u001B\\link\u001B]8;;\u001B\\b"), "alinkb");
    assert.equal(stripControls("\u001B[2J\u001B[1;1H\u001B[31mred\u001B[0m"), "red");
    assert.equal(stripControls("x\u009B2Jy\u0085z\u001Bcq"), "xyzq");
    assert.equal(stripControls("bell\u0007 back\u0008 del\u007F cr\r"), "bell back del cr");
    assert.equal(stripControls("line 1\nline\t2"), "line 1\nline\t2");
    assert.equal(normalize("/sta\u001B[2Jtus"), "/status");
  });

  it("cleans stored free text and states its limit", () => {
    const reason = freeText(10);
    assert.deepEqual(reason.safeParse("bad\u001B[2J guy"), { success: true, data: "bad guy" });
    assert.deepEqual(reason.safeParse("3174011505900002"), { success: false, error: reason.safeParse("3174011505900002").error });
    const r = freeText(500).safeParse("r".repeat(600));
    assert.equal(r.success, false);
    assert.deepEqual((r.error.issues[0] as { params?: unknown }).params, { max: 500, length: 600 });
  });

  it("prints no escape or control character on the console, replies and alerts alike", async () => {
    let printed = "";
    const out = new Writable({ write: (c: Buffer, _e, done) => ((printed += c.toString()), done()) });
    const console_ = new ConsoleTransport(new PassThrough(), out, "alerts");
    const message = { id: "1", chatId: "console", isGroup: false, senderId: "console", text: "", at: 0 };
    await console_.reply(message, "log: \u001B]0;title\u0007x \u001B[2Jy\u009B2Jz");
    await console_.send("alerts", "down\u001B[31m\nnow\u0007");
    assert.equal(printed, "log: x yz\n[alert] down\n[alert] now\n");
  });
});

describe("replies to odd input", () => {
  const h = harness({ language: "en", hosts: [{ name: "stb", local: true }] });

  it("calls a path an invalid app name, and -1 an invalid line count", async () => {
    assert.match((await h.send("/restart /etc/passwd"))!, /^❌ Invalid app name `\/etc\/passwd`/);
    assert.match((await h.send("/logs shop-api -1"))!, /^❌ `-1` is not a whole number from 1 to 200\./);
  });

  it("refuses a formatting-only argument to /flush, saying why", async () => {
    assert.match((await h.send("/flush *"))!, /only formatting marks/);
    assert.match((await h.send("/flush ```"))!, /only formatting marks/);
  });

  it("states the limit of a reason and accepts the dotted NIK, stored plain", async () => {
    assert.match((await h.send(`/block 3174011505900002 ${"r".repeat(600)}`))!, /`reason` is too long \(600 characters, at most 500\)/);
    const reply = (await h.send("/block 3174.0115.0590.0002 fraud \u001B[2J again"))!;
    assert.match(reply, /3174••••••••0002/);
    const stored = await h.store.blocked.active("3174011505900002");
    assert.equal(stored?.reason, "fraud again");
    assert.match((await h.send("/blocked 31 74 01 150590 0002"))!, /3174••••••••0002/);
  });

  it("shows a reason stored with escapes (an older row) without them", async () => {
    await h.store.blocked.block({ nik: "3201011203880008", reason: "x\u001B[2J\u001B]0;t\u0007y", blockedBy: "old", at: Date.now() });
    const reply = (await h.send("/blocked 3201-0112-0388-0008"))!;
    assert.match(reply, /3201••••••••0008/);
    assert.ok(reply.includes("xy"), reply);
    // eslint-disable-next-line no-control-regex -- what the test looks for
    assert.doesNotMatch(reply, /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/);
  });

  it("masks the audit's command and host columns", async () => {
    await h.send("/restart shop-api 3201-0112-0388-0008");
    await h.send("/3201011203880008");
    const rows = await h.store.audit.recent(2);
    for (const row of rows) assert.doesNotMatch(`${row.command} ${row.host} ${row.args}`, /3201011203880008|3201-0112-0388-0008/);
    assert.equal(rows[0]!.command, "3201••••••••0008");
  });

  it("turns a throw inside a command's parse() into an error id and an audit row", async () => {
    const thrower = defineCommand({
      name: "boom",
      summary: { id: "x", en: "x" },
      role: "viewer",
      args: z.object({}),
      parse() {
        throw new Error("parse bug");
      },
      run: () => Promise.resolve("never"),
    });
    const b = harness({ language: "en" }, { commands: [thrower] });
    try {
      const reply = (await b.send("/boom now"))!;
      const id = /Error id: `([^`]+)`/.exec(reply)?.[1];
      assert.ok(id, reply);
      const [row] = await b.store.audit.recent(1);
      assert.equal(row?.command, "boom");
      assert.equal(row?.outcome, "error");
      assert.equal(row?.errorId, id);
    } finally {
      await b.close();
    }
  });

  it("closes", () => h.close());
});
