/**
 * The reconnector's decisions as tables, on a ManualClock: no test here sleeps. A fake socket
 * factory lets each test close the socket with a chosen code and counts sockets alive at once.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../src/clock.js";
import type { ProbeResult } from "../src/dns/probe.js";
import type { ResolverSpec } from "../src/dns/resolvers.js";
import { fullJitter } from "../src/policy/backoff.js";
import { CircuitBreaker } from "../src/reconnect/breaker.js";
import { classifyClose, type CloseInfo, type CloseKind } from "../src/reconnect/decide.js";
import { Reconnector, type ManagedSocket, type ReconnectorEvent, type ReconnectorOptions, type SocketHooks } from "../src/reconnect/reconnector.js";

const SYSTEM: ResolverSpec = { kind: "system", label: "system" };
const LOOP: ResolverSpec = { kind: "server", label: "127.0.0.1:5353", server: "127.0.0.1:5353" };
const flush = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

class FakeSockets {
  alive = 0;
  maxAlive = 0;
  opened: { hooks: SocketHooks; close: (info: CloseInfo) => void; route: string }[] = [];
  factory = (route: { resolver: ResolverSpec }, hooks: SocketHooks): ManagedSocket => {
    this.alive++;
    this.maxAlive = Math.max(this.maxAlive, this.alive);
    let done!: (info: CloseInfo) => void;
    const closed = new Promise<CloseInfo>((resolve) => (done = resolve));
    let isClosed = false;
    const close = (info: CloseInfo) => {
      if (isClosed) return;
      isClosed = true;
      this.alive--;
      done(info);
    };
    this.opened.push({ hooks, close, route: route.resolver.label });
    return { closed, close: () => close({ code: 428, message: "closed by request" }) };
  };
  get last() {
    return this.opened[this.opened.length - 1]!;
  }
}

function setup(
  overrides: { probe?: () => Promise<ProbeResult>; probeSystem?: () => Promise<boolean>; random?: () => number } = {},
  more: Partial<ReconnectorOptions> = {},
) {
  const clock = new ManualClock(1_000_000);
  const sockets = new FakeSockets();
  const events: ReconnectorEvent[] = [];
  let probes = 0;
  const r = new Reconnector({
    clock,
    connect: sockets.factory,
    probe:
      overrides.probe ??
      (() => {
        probes++;
        return Promise.resolve({ systemOk: false, failures: [{ resolver: "system", code: "ENOTFOUND" }] });
      }),
    probeSystem: overrides.probeSystem,
    route: { resolver: SYSTEM, hostname: "wa.test" },
    backoff: { baseMs: 2_000, capMs: 300_000, resetAfterMs: 60_000 },
    breaker: { failures: 10, withinMs: 300_000, openForMs: 600_000 },
    dns: { probeIntervalMs: 1_000, recheckIntervalMs: 30_000 },
    random: overrides.random ?? (() => 0.5),
    ...more,
  });
  r.onChange((e) => events.push(e));
  return { clock, sockets, events, r, probes: () => probes };
}

describe("classifyClose", () => {
  const table: [CloseInfo, CloseKind][] = [
    [{ code: 401 }, "logged-out"],
    [{ code: 403 }, "forbidden"],
    [{ code: 440 }, "replaced"],
    [{ code: 515 }, "restart"],
    [{ code: 408, errorCode: "ENOTFOUND" }, "dns"],
    [{ code: 408, errorCode: "EAI_AGAIN" }, "dns"],
    [{ code: 408, errorCode: "ECONNREFUSED" }, "retry"],
    [{ code: 408 }, "retry"],
    [{ code: 405 }, "outdated"],
    [{ code: 428 }, "retry"],
    [{ code: 500 }, "bad-session"],
    [{ code: 503 }, "retry"],
    [{}, "retry"],
  ];
  for (const [info, kind] of table) {
    it(`${JSON.stringify(info)} -> ${kind}`, () => assert.equal(classifyClose(info), kind));
  }
});

describe("backoff with full jitter", () => {
  it("doubles from 2 s up to the 5 min cap, and jitters over the whole range", () => {
    const top = () => 0.999999;
    const ceilings = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 40].map((n) => fullJitter(n, 2_000, 300_000, top));
    assert.deepEqual(
      ceilings.map((c) => Math.round(c / 1000)),
      [2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300],
    );
    assert.equal(fullJitter(5, 2_000, 300_000, () => 0), 0);
  });
});

describe("reconnector decisions after one close", () => {
  const table: { close: CloseInfo; state: string; next: number | null; attemptsAfter: number }[] = [
    { close: { code: 428 }, state: "backoff", next: 1_000, attemptsAfter: 1 }, // random 0.5 of 2 s
    { close: { code: 405 }, state: "outdated", next: null, attemptsAfter: 1 }, // no version refresher: stop
    { close: { code: 500 }, state: "backoff", next: 1_000, attemptsAfter: 1 },
    { close: { code: 408, errorCode: "ECONNREFUSED" }, state: "backoff", next: 1_000, attemptsAfter: 1 },
    { close: { code: 401 }, state: "logged-out", next: null, attemptsAfter: 1 },
    { close: { code: 403 }, state: "forbidden", next: null, attemptsAfter: 1 },
    { close: { code: 440 }, state: "replaced", next: 450_000, attemptsAfter: 1 }, // 5 min + 0.5 of 5 min
    { close: { code: 515 }, state: "connecting", next: null, attemptsAfter: 2 },
    { close: { code: 408, errorCode: "ENOTFOUND" }, state: "dns-wait", next: 1_000, attemptsAfter: 1 },
    { close: { code: 408, errorCode: "EAI_AGAIN" }, state: "dns-wait", next: 1_000, attemptsAfter: 1 },
  ];
  for (const row of table) {
    it(`${JSON.stringify(row.close)} -> ${row.state}`, async () => {
      const { clock, sockets, r } = setup();
      r.start();
      await flush();
      sockets.last.close(row.close);
      await flush();
      const s = r.status();
      assert.equal(s.state, row.state);
      assert.equal(s.attempts, row.attemptsAfter);
      assert.equal(s.nextAttemptAt === null ? null : s.nextAttemptAt - clock.now(), row.next);
      // Stop states stay stopped however long we wait.
      if (row.next === null && row.state !== "connecting") {
        await clock.advance(24 * 3_600_000);
        assert.equal(r.status().attempts, 1);
      }
      await r.stop();
      assert.equal(sockets.maxAlive, 1);
      assert.equal(sockets.alive, 0);
    });
  }
});

describe("reconnector over time", () => {
  it("backs off exponentially, never two sockets, and resets after 60 s open", async () => {
    const { clock, sockets, r } = setup({ random: () => 0.999999 });
    r.start();
    await flush();
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      sockets.last.close({ code: 428 });
      await flush();
      const s = r.status();
      waits.push(Math.round((s.nextAttemptAt! - clock.now()) / 1000));
      await clock.advance(s.nextAttemptAt! - clock.now());
      await flush();
    }
    assert.deepEqual(waits, [2, 4, 8, 16, 32]);
    assert.equal(r.status().attempts, 6);
    // Open, stay open 61 s, then close: the backoff starts over at 2 s.
    sockets.last.hooks.open();
    assert.equal(r.status().state, "open");
    await clock.advance(61_000);
    sockets.last.close({ code: 428 });
    await flush();
    assert.equal(Math.round((r.status().nextAttemptAt! - clock.now()) / 1000), 2);
    assert.equal(sockets.maxAlive, 1);
    await r.stop();
  });

  it("opens the breaker after 10 failures in 5 min, waits 10 min, then lets exactly one trial through", async () => {
    const { clock, sockets, r } = setup({ random: () => 0 });
    r.start();
    await flush();
    for (let i = 0; i < 10; i++) {
      sockets.last.close({ code: 428 });
      await flush();
      await clock.advance(0);
      await flush();
    }
    let s = r.status();
    assert.equal(s.state, "breaker-open");
    assert.equal(s.attempts, 10);
    assert.equal(s.breaker.state, "open");
    assert.equal(s.nextAttemptAt! - clock.now(), 600_000);
    await clock.advance(599_000);
    await flush();
    assert.equal(r.status().attempts, 10, "no attempt while open");
    await clock.advance(1_000);
    await flush();
    s = r.status();
    assert.equal(s.attempts, 11, "one half-open trial");
    assert.equal(s.breaker.state, "half-open");
    sockets.last.close({ code: 428 });
    await flush();
    s = r.status();
    assert.equal(s.state, "breaker-open", "a failed trial opens it again");
    assert.equal(s.attempts, 11);
    // POST /whatsapp/breaker/reset
    r.resetBreaker();
    await flush();
    assert.equal(r.status().attempts, 12);
    sockets.last.hooks.open();
    assert.equal(r.status().breaker.state, "closed");
    await r.stop();
    assert.equal(sockets.maxAlive, 1);
  });

  it("answers 515 at once, but not forever", async () => {
    const { sockets, r } = setup();
    r.start();
    await flush();
    for (let i = 0; i < 3; i++) {
      sockets.last.close({ code: 515 });
      await flush();
      assert.equal(r.status().state, "connecting");
    }
    sockets.last.close({ code: 515 });
    await flush();
    assert.equal(r.status().state, "backoff");
    assert.equal(r.status().attempts, 4);
    await r.stop();
  });

  it("on a DNS failure opens no socket, probes every interval, and connects when a resolver answers", async () => {
    let answer = false;
    let probes = 0;
    const { clock, sockets, r, events } = setup({
      probe: () => {
        probes++;
        return Promise.resolve(
          answer
            ? { systemOk: false, answer: { resolver: LOOP, addresses: [{ address: "127.0.0.1", family: 4 }] }, failures: [] }
            : { systemOk: false, failures: [{ resolver: "system", code: "ENOTFOUND" }] },
        );
      },
      probeSystem: () => Promise.resolve(true),
    });
    r.start();
    await flush();
    sockets.last.close({ code: 408, errorCode: "ENOTFOUND" });
    await flush();
    for (let i = 0; i < 600; i++) await clock.advance(1_000); // a 10-minute outage
    assert.equal(r.status().attempts, 1, "no socket during the outage");
    assert.equal(probes, 601);
    answer = true;
    const before = clock.now();
    await clock.advance(1_000);
    await flush();
    assert.equal(r.status().attempts, 2);
    assert.equal(clock.now() - before, 1_000, "connected within one probe interval");
    assert.equal(sockets.last.route, "127.0.0.1:5353");
    assert.ok(events.some((e) => e.type === "system-dns" && e.broken));
    sockets.last.hooks.open();
    // The system resolver answers again at the next recheck: the condition clears.
    await clock.advance(30_000);
    await flush();
    assert.ok(events.some((e) => e.type === "system-dns" && !e.broken));
    assert.equal(r.status().systemDnsBroken, false);
    assert.equal(r.status().resolver, "system");
    await r.stop();
    assert.equal(sockets.maxAlive, 1);
  });

  it("probes on a fixed beat when resolvers drop queries (each probe runs to its timeout), and the first answer connects", async () => {
    // A resolver that drops queries: a probe started during the outage fails after its 1.5 s
    // timeout; one started after DNS is back answers at once.
    let dnsBackAt = Infinity;
    const started: number[] = [];
    const { clock, sockets, r } = setup({
      probe: async () => {
        const at = clock.now();
        started.push(at);
        if (at >= dnsBackAt) return { systemOk: false, answer: { resolver: LOOP, addresses: [{ address: "127.0.0.1", family: 4 }] }, failures: [] };
        await clock.sleep(1_500);
        return { systemOk: false, failures: [{ resolver: "system", code: "EAI_AGAIN" }] };
      },
    });
    r.start();
    await flush();
    sockets.last.close({ code: 408, errorCode: "EAI_AGAIN" });
    await flush();
    const t0 = started[0]!;
    for (let i = 0; i < 10; i++) await clock.advance(1_000);
    // Every second from the first, not every 1.5 s + 1 s.
    assert.deepEqual(
      started.map((t) => t - t0),
      [0, 1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000, 8_000, 9_000, 10_000],
    );
    assert.equal(r.status().attempts, 1, "no socket during the outage");
    dnsBackAt = clock.now() + 100;
    await clock.advance(1_000);
    await flush();
    assert.equal(r.status().attempts, 2, "connected at the first beat after DNS is back");
    assert.equal(sockets.last.route, "127.0.0.1:5353");
    // The probes that were still running end at their timeout and change nothing.
    await clock.advance(2_000);
    await flush();
    assert.equal(r.status().attempts, 2);
    assert.equal(r.status().state, "connecting");
    await r.stop();
    assert.equal(sockets.maxAlive, 1);
  });

  it("another resolver answers while the OS lookup is still the outage's: no 'system DNS broken' until a fresh check fails", async () => {
    for (const systemWorks of [true, false]) {
      let systemChecks = 0;
      const { clock, sockets, r, events } = setup({
        probe: () =>
          Promise.resolve({
            systemOk: null,
            systemStale: true,
            answer: { resolver: LOOP, addresses: [{ address: "127.0.0.1", family: 4 }] },
            failures: [{ resolver: "system", code: "EAI_AGAIN" }],
          }),
        probeSystem: () => {
          systemChecks++;
          return Promise.resolve(systemWorks);
        },
      });
      r.start();
      await flush();
      sockets.last.close({ code: 408, errorCode: "EAI_AGAIN" });
      await flush();
      assert.equal(r.status().attempts, 2, "connects through the answer at once");
      assert.equal(sockets.last.route, "127.0.0.1:5353");
      sockets.last.hooks.open();
      assert.equal(r.status().systemDnsBroken, false, "nothing known of the OS resolver yet");
      await clock.advance(29_000);
      assert.equal(systemChecks, 0);
      await clock.advance(1_000);
      await flush();
      assert.equal(systemChecks, 1, "asked again after the recheck interval");
      const said = events.filter((e) => e.type === "system-dns").map((e) => e.type === "system-dns" && e.broken);
      if (systemWorks) {
        assert.deepEqual(said, [], "back to the OS resolver, quietly");
        assert.equal(r.status().resolver, "system");
      } else {
        assert.deepEqual(said, [true]);
        assert.equal(r.status().resolver, "127.0.0.1:5353");
      }
      await r.stop();
    }
  });

  it("reconnectNow skips a wait, resumes after logged-out, and replaces an open socket", async () => {
    const { sockets, r } = setup({ random: () => 0.999 });
    r.start();
    await flush();
    sockets.last.close({ code: 428 });
    await flush();
    assert.equal(r.status().state, "backoff");
    r.reconnectNow();
    await flush();
    assert.equal(r.status().attempts, 2);
    sockets.last.close({ code: 401 });
    await flush();
    assert.equal(r.status().state, "logged-out");
    r.reconnectNow();
    await flush();
    assert.equal(r.status().attempts, 3);
    sockets.last.hooks.open();
    r.reconnectNow();
    await flush();
    assert.equal(r.status().attempts, 4);
    assert.equal(sockets.maxAlive, 1);
    await r.stop();
    assert.equal(r.status().state, "stopped");
  });
});

describe("what real WhatsApp closes with", () => {
  it("440 retry: a replaced session is taken back after 5–10 min; the third replacement within an hour halts", async () => {
    const { clock, sockets, r, events } = setup();
    r.start();
    await flush();
    sockets.last.close({ code: 440 });
    await flush();
    assert.equal(r.status().state, "replaced");
    assert.deepEqual(events.filter((e) => e.type === "replaced").map((e) => e.type === "replaced" && e.retryAt - clock.now()), [450_000]);
    await clock.advance(449_000);
    assert.equal(r.status().attempts, 1, "not before the jittered delay");
    await clock.advance(1_000);
    await flush();
    assert.equal(r.status().attempts, 2, "then it takes the session back");
    sockets.last.hooks.open();
    sockets.last.close({ code: 440 });
    await flush();
    await clock.advance(450_000);
    await flush();
    assert.equal(r.status().attempts, 3);
    sockets.last.close({ code: 440 }); // third within the hour: someone really uses it
    await flush();
    assert.equal(r.status().state, "replaced");
    assert.equal(r.status().nextAttemptAt, null);
    assert.equal(events.filter((e) => e.type === "halt").length, 1);
    await clock.advance(24 * 3_600_000);
    assert.equal(r.status().attempts, 3, "halted: never fights the other client");
    await r.stop();
    assert.equal(sockets.maxAlive, 1);
  });

  it("405 and the version refresh: the version is refreshed and tried once; a second 405 halts as outdated", async () => {
    let refreshed = 0;
    const { sockets, r, events } = setup({}, { refreshVersion: () => Promise.resolve(void refreshed++) });
    r.start();
    await flush();
    sockets.last.close({ code: 405, message: "Connection Failure" });
    await flush();
    assert.equal(refreshed, 1);
    assert.equal(r.status().attempts, 2, "retried at once with the new version");
    sockets.last.close({ code: 405, message: "Connection Failure" });
    await flush();
    assert.equal(refreshed, 1, "no refresh loop");
    assert.equal(r.status().state, "outdated");
    const halts = events.filter((e) => e.type === "halt");
    assert.deepEqual(halts.map((e) => e.type === "halt" && e.kind), ["outdated"]);
    // Once it opened with a good version, a later 405 gets its one refresh again.
    r.reconnectNow();
    await flush();
    sockets.last.hooks.open();
    sockets.last.close({ code: 405 });
    await flush();
    assert.equal(refreshed, 2);
    await r.stop();
  });

  it("500 bad session: three within an hour raise one bad-session event, and backoff goes on", async () => {
    const { clock, sockets, r, events } = setup();
    r.start();
    await flush();
    for (let i = 0; i < 4; i++) {
      sockets.last.close({ code: 500 });
      await flush();
      assert.equal(r.status().state, "backoff");
      await clock.advance(r.status().nextAttemptAt! - clock.now());
      await flush();
    }
    assert.deepEqual(events.filter((e) => e.type === "bad-session").map((e) => e.type === "bad-session" && e.count), [3]);
    await r.stop();
  });
});

describe("circuit breaker", () => {
  it("counts failures in a sliding window", () => {
    const clock = new ManualClock(0);
    const b = new CircuitBreaker({ failures: 3, withinMs: 1_000, openForMs: 5_000 }, clock);
    b.recordFailure();
    clock.set(600);
    b.recordFailure();
    clock.set(1_100); // the first fell out of the window
    b.recordFailure();
    assert.equal(b.state(), "closed");
    b.recordFailure();
    assert.equal(b.state(), "open");
    clock.set(6_100);
    assert.equal(b.state(), "half-open");
    b.recordSuccess();
    assert.equal(b.state(), "closed");
  });
});
