/**
 * Quoting, proved through a real sshd and the remote user's real shell: any string in argv
 * arrives as exactly one argument, byte for byte (fast-check generates the strings).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { shellQuote } from "../src/hosts/quote.js";
import { SshExecutor } from "../src/hosts/ssh/index.js";
import { startSshd, type TestSshd } from "./helpers/sshd.js";

/** Prints every argument NUL-terminated, as hex: what the far side received, byte for byte. */
const ECHO_HEX = 'printf "%s\\000" "$@" | od -An -v -tx1';

/**
 * These tests prove quoting, not speed: the deadlines only catch a hang, so they are far past
 * anything load can cause. The handshake (the CPU-heavy part) happens once, in before(), under
 * its own deadline, so it never eats into a round trip's.
 */
const HANG_MS = 120_000;

let sshd: TestSshd;
let ssh: SshExecutor;
before(async () => {
  sshd = await startSshd();
  ssh = new SshExecutor({ name: "box", target: sshd.target(), connectTimeoutMs: HANG_MS });
  await ssh.connect();
});
after(async () => {
  await ssh?.close();
  await sshd?.stop();
});

async function roundTrip(args: string[]): Promise<string[]> {
  const r = await ssh.run(["sh", "-c", ECHO_HEX, "sh", ...args], { timeoutMs: HANG_MS });
  assert.equal(r.timedOut, false, "no answer within the hang deadline");
  assert.equal(r.code, 0, r.stderr);
  // Arguments hold no NUL, so each 00 byte ends exactly one argument.
  const bytes = r.stdout.split(/\s+/).filter(Boolean);
  const out: string[] = [];
  let cur = "";
  for (const b of bytes) {
    if (b === "00") {
      out.push(cur);
      cur = "";
    } else cur += b;
  }
  return out;
}
const hex = (s: string) => Buffer.from(s, "utf8").toString("hex");

/** Strings heavy in what shells care about, mixed with arbitrary Unicode. */
const nasty = fc.string({
  unit: fc.oneof(
    fc.constantFrom("'", '"', "\\", "$", "(", ")", "`", "\n", "\r", "\t", " ", "*", "?", "[", "]", "~", "!", "#", ";", "&", "|", "<", ">", "{", "}", "=", "%", "-", "é", "🙂", "\u00a0", "\u202e"),
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
  ),
  maxLength: 40,
});
/** What a shell word can carry: no NUL, and valid UTF-16 (so it has a UTF-8 form). */
const noNul = nasty.filter((s) => !s.includes("\0") && Buffer.from(s, "utf8").toString("utf8") === s);

describe("shellQuote through the real sshd", () => {
  it("known hard cases arrive as one byte-identical argument each", async () => {
    const cases = ["", " ", "a b", "$(touch /tmp/jaga-pwned)", "`id`", "'", "''", "'\"'", "; rm -rf /", "*", "~", "line\nbreak", "tab\there", "é🙂中文", "-n", "--", "$HOME", "\\", "!"];
    assert.deepEqual(await roundTrip(cases), cases.map(hex));
  });

  it("every generated argv arrives exactly (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(noNul, { minLength: 1, maxLength: 8 }), async (args) => {
        assert.deepEqual(await roundTrip(args), args.map(hex));
      }),
      { numRuns: 30 },
    );
  });

  it("rejects a NUL byte, a lone surrogate and an empty argv before anything runs", () => {
    fc.assert(
      fc.property(nasty, nasty, (a, b) => {
        assert.throws(() => shellQuote(["echo", `${a}\0${b}`]), /NUL/);
      }),
    );
    assert.throws(() => shellQuote(["echo", "\ud800"]), /surrogate/);
    assert.throws(() => shellQuote([]), /empty/);
  });
});
