/** The evidence an incident keeps: masked, cleaned, bounded, the cause kept first. */
import assert from "node:assert/strict";
import { it } from "node:test";
import { boundEvidence, EVIDENCE_MAX_BYTES, EVIDENCE_MAX_LINES, resolverLines } from "../src/watch/evidence.js";

it("masks NIKs and tokens and removes terminal escapes", () => {
  assert.deepEqual(boundEvidence(["nik 3174015501900001 token=abcd1234efgh", "\u001B[31mred\u001B[0m", ""]), [
    "nik 3174••••••••0001 token=«secret»",
    "red",
  ]);
});

it("keeps the cause lines and the newest of the rest, at most 40 lines and 4 KB", () => {
  const lines = ["Likely cause: x", "port 3000: node", ...Array.from({ length: 100 }, (_, i) => `line ${i}`)];
  const kept = boundEvidence(lines, 2);
  assert.equal(kept.length, EVIDENCE_MAX_LINES);
  assert.deepEqual(kept.slice(0, 3), ["Likely cause: x", "port 3000: node", "line 62"]);
  assert.equal(kept.at(-1), "line 99");
  const long = boundEvidence(Array.from({ length: 40 }, (_, i) => `${i} ${"x".repeat(400)}`));
  assert.ok(Buffer.byteLength(long.join("\n")) <= EVIDENCE_MAX_BYTES);
  assert.ok(long.every((l) => l.length <= 300));
  assert.match(long.at(-1)!, /^39 /);
});

it("reads the resolver lines of a resolv.conf", () => {
  assert.deepEqual(resolverLines("# generated\nnameserver 127.0.0.53\n\noptions edns0 trust-ad\nsearch lan\n"), [
    "nameserver 127.0.0.53",
    "options edns0 trust-ad",
    "search lan",
  ]);
});
