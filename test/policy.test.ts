/**
 * The shared policies: exponential backoff (with and without jitter) and deadlines on the
 * injected clock. ManualClock moves time; nothing here sleeps.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../src/clock.js";
import { ceiling, exponentialBackoff, fullJitter } from "../src/policy/backoff.js";
import { deadline, DeadlineError, isDeadlineError, withDeadline } from "../src/policy/timeout.js";

/** Lets pending promise callbacks run. */
const tick = () => new Promise((r) => setImmediate(r));

describe("policy: exponential backoff", () => {
  it("waits base, then doubles, and never exceeds the cap", () => {
    const b = exponentialBackoff({ baseMs: 1_000, capMs: 30_000 });
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 50].map((n) => b.delay(n)), [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
    assert.equal(b.delay(0), 1_000, "attempt 0 counts as the first retry");
    assert.equal(b.delay(10_000), 30_000, "a huge attempt number does not overflow past the cap");
  });

  it("with full jitter stays below the same ceiling, spread by the random source", () => {
    const top = () => 0.999_999_9;
    const b = exponentialBackoff({ baseMs: 2_000, capMs: 300_000, jitter: "full", random: top });
    const ceilings = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 40].map((n) => ceiling(n, 2_000, 300_000));
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 40].forEach((n, i) => {
      const d = b.delay(n);
      assert.ok(d < ceilings[i]! && d >= ceilings[i]! - 1, `attempt ${n}: ${d} vs ceiling ${ceilings[i]}`);
    });
    assert.equal(exponentialBackoff({ baseMs: 2_000, capMs: 300_000, jitter: "full", random: () => 0 }).delay(5), 0);
    assert.equal(fullJitter(3, 1_000, 60_000, () => 0.5), 2_000);
  });

  it("refuses nonsense bounds", () => {
    assert.throws(() => exponentialBackoff({ baseMs: -1, capMs: 10 }), RangeError);
    assert.throws(() => exponentialBackoff({ baseMs: Number.NaN, capMs: 10 }), RangeError);
  });
});

describe("policy: deadlines on the injected clock", () => {
  it("withDeadline answers at the deadline with a typed error and aborts the work's signal", async () => {
    const clock = new ManualClock(0);
    let workSignal: AbortSignal | undefined;
    const never = withDeadline(5_000, clock, (signal) => {
      workSignal = signal;
      return new Promise<never>(() => undefined); // a peer that never answers
    });
    let settled: unknown = "pending";
    never.then(
      (v) => (settled = v),
      (e: unknown) => (settled = e),
    );
    await clock.advance(4_999);
    await tick();
    assert.equal(settled, "pending");
    assert.equal(workSignal?.aborted, false);
    await clock.advance(1);
    await tick();
    assert.ok(isDeadlineError(settled), String(settled));
    assert.equal((settled as DeadlineError).ms, 5_000);
    assert.equal((settled as DeadlineError).code, "ETIMEDOUT");
    assert.equal(workSignal?.aborted, true);
    assert.ok(isDeadlineError(workSignal?.reason));
  });

  it("withDeadline passes the work's value and error through, and stops its timer", async () => {
    const clock = new ManualClock(0);
    assert.equal(await withDeadline(1_000, clock, () => Promise.resolve(42)), 42);
    await assert.rejects(
      withDeadline(1_000, clock, () => Promise.reject(new Error("refused"))),
      /refused/,
    );
    // Both finished: nothing is left waiting on the clock to fire later.
    await clock.advance(10_000);
  });

  it("withDeadline follows the caller's signal, with its reason", async () => {
    const clock = new ManualClock(0);
    const parent = new AbortController();
    const p = withDeadline(60_000, clock, () => new Promise<never>(() => undefined), { signal: parent.signal });
    parent.abort(new Error("stopping"));
    await assert.rejects(p, /stopping/);
    await assert.rejects(withDeadline(1, clock, () => Promise.resolve(1), { signal: parent.signal }), /stopping/, "already aborted: never runs late");
  });

  it("deadline() marks expiry apart from the parent's abort, and clear() disarms it", async () => {
    const clock = new ManualClock(0);
    const d = deadline(100, clock, { what: "ssh command" });
    await clock.advance(100);
    assert.equal(d.signal.aborted, true);
    assert.equal(d.expired, true);
    assert.match(String((d.signal.reason as Error).message), /ssh command timed out after 100 ms/);

    const parent = new AbortController();
    const e = deadline(100, clock, { signal: parent.signal });
    parent.abort();
    assert.equal(e.signal.aborted, true);
    assert.equal(e.expired, false);

    const f = deadline(100, clock);
    f.clear();
    await clock.advance(1_000);
    assert.equal(f.signal.aborted, false);
  });
});
