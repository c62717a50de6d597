import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fit } from "../commands/logs.js";
import { formatBytes, formatDuration, parseDuration } from "../src/duration.js";
import { closest, echo, redact } from "../src/text.js";

describe("redact", () => {
  it("masks NIKs, keeping the province code and the last four digits", () => {
    assert.equal(redact("NIK 3174015501900001 diblokir"), "NIK 3174••••••••0001 diblokir");
    assert.equal(redact("typo 317401550190001 and 31740155019000012"), "typo 3174••••••••0001 and 3174••••••••0012");
    assert.equal(redact("ids 12345, phone 6281234567890 and 123456789012345678 stay"), "ids 12345, phone 6281234567890 and 123456789012345678 stay");
  });

  it("masks tokens, JWTs and key=value secrets", () => {
    const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.abcdefghijklmnop";
    assert.equal(redact(`key ${jwt}`), "key «jwt»");
    assert.equal(redact("Authorization: Bearer abcdef123456"), "Authorization: Bearer «secret»");
    assert.equal(redact("DB_PASSWORD=hunter22 token: s3cr3tvalue"), "DB_PASSWORD=«secret» token: «secret»");
    // Masking twice changes nothing, even inside a chat code span.
    assert.equal(redact(redact("`token=sk_live_abcdef123456`")), "`token=«secret»`");
  });
});

describe("closest", () => {
  it("suggests near names, best first, and nothing for far ones", () => {
    assert.deepEqual(closest("bot-kpj", ["bot-kjp", "api-blast", "web"]), ["bot-kjp"]);
    assert.deepEqual(closest("api", ["api-blast", "web"]), ["api-blast"]);
    assert.deepEqual(closest("zzzzzz", ["bot-kjp", "web"]), []);
  });
});

describe("echo", () => {
  it("keeps user input on one short line with no backticks", () => {
    assert.equal(echo("a`b\nc"), "a b c");
    assert.equal(echo("x".repeat(100)).length, 40);
  });
});

describe("durations and sizes", () => {
  it("parses the forms people write", () => {
    assert.equal(parseDuration("30s"), 30_000);
    assert.equal(parseDuration("5m"), 300_000);
    assert.equal(parseDuration("1h"), 3_600_000);
    assert.equal(parseDuration(45), 45_000);
    assert.equal(parseDuration("soon"), undefined);
  });
  it("formats for a phone screen", () => {
    assert.equal(formatDuration(3 * 3600_000 + 12 * 60_000 + 5000), "3h 12m");
    assert.equal(formatDuration(2 * 86400_000 + 4 * 3600_000), "2d 4h");
    assert.equal(formatBytes(512), "512 B");
    assert.equal(formatBytes(4.2 * 1024 * 1024), "4.2 MB");
  });
});

describe("fit (logs in one message)", () => {
  it("keeps the newest lines that fit, cutting long lines and defusing code fences", () => {
    const lines = Array.from({ length: 200 }, (_, i) => `line ${i} ${"x".repeat(400)}`);
    const { kept, trimmed } = fit(lines);
    assert.equal(trimmed, true);
    assert.equal(kept.at(-1)!.startsWith("line 199 "), true);
    assert.ok(kept.every((l) => l.length <= 300));
    assert.ok(kept.join("\n").length <= 3_500);
    assert.deepEqual(fit(["a ``` b"]), { kept: ["a ''' b"], trimmed: false });
  });
});
