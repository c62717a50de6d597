import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseMessage } from "../src/pipeline/parse.js";

describe("parseMessage", () => {
  const cmd = (text: string) => {
    const p = parseMessage(text);
    assert.equal(p.kind, "command", `expected a command from ${JSON.stringify(text)}`);
    return p;
  };

  it("accepts / and ! prefixes, any case, extra spaces", () => {
    assert.deepEqual(cmd("/status"), { kind: "command", name: "status", tokens: [], rest: "" });
    assert.deepEqual(cmd("  !RESTART    bot-kjp   stb "), { kind: "command", name: "restart", tokens: ["bot-kjp", "stb"], rest: "bot-kjp stb" });
  });

  it("strips WhatsApp formatting around tokens but keeps underscores inside names", () => {
    assert.deepEqual(cmd("*/restart* _bot_kjp_").tokens, ["bot_kjp"]);
    assert.equal(cmd("*/restart*").name, "restart");
    assert.deepEqual(cmd("~/logs~ ```api``` `5`").tokens, ["api", "5"]);
  });

  it("folds Unicode (NFKC) and removes zero-width characters", () => {
    assert.equal(cmd("／ｓｔａｔｕｓ").name, "status"); // full-width, as some keyboards type
    assert.deepEqual(cmd("/re\u200Bstart\u00A0bot\u200D-kjp\uFEFF").tokens, ["bot-kjp"]);
    assert.equal(cmd("/re\u200Bstart").name, "restart");
  });

  it("treats text without a prefix as chat, not a command", () => {
    assert.deepEqual(parseMessage("good morning all"), { kind: "chat" });
    assert.deepEqual(parseMessage(""), { kind: "chat" });
    assert.deepEqual(parseMessage("   \n "), { kind: "chat" });
  });

  it("rejects an empty command", () => {
    assert.deepEqual(parseMessage("/"), { kind: "invalid", key: "parse.empty" });
    assert.deepEqual(parseMessage(" ! "), { kind: "invalid", key: "parse.empty" });
  });

  it("rejects several commands in one message, on one line or several", () => {
    assert.equal(parseMessage("/status\n/restart bot-kjp").kind, "invalid");
    assert.equal(parseMessage("/status; /restart bot-kjp").kind, "invalid");
    assert.equal(parseMessage("/status && !flush").kind, "invalid");
  });

  it("rejects a message over the length limit before tokenising further", () => {
    const p = parseMessage(`/restart ${"a".repeat(10_000)}`);
    assert.equal(p.kind, "invalid");
    assert.equal((p as { key: string }).key, "parse.too_long");
  });

  it("keeps shell metacharacters as plain token text (validation rejects them later)", () => {
    assert.deepEqual(cmd("/restart bot-kjp; rm -rf /").tokens, ["bot-kjp;", "rm", "-rf", "/"]);
    assert.deepEqual(cmd("/restart $(reboot)").tokens, ["$(reboot)"]);
  });
});
