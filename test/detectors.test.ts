import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { configSchema } from "../src/config/schema.js";
import { appDownStep, appHealth, appStatus, observeApp, requiredApps, restartedApp, stoppedKey, type AppTrack } from "../src/watch/app-down.js";
import { classify, parsePortHolder } from "../src/watch/classify.js";
import { cpuPercent, diskLevel, restartStorm, Sustained } from "../src/watch/detectors.js";
import { AmpDecoder, toBusEvent } from "../src/watch/pm2-bus.js";
import { RestartTracker } from "../src/watch/restarts.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";

const watch = configSchema.parse({}).watch;
const MIN = 60_000;

describe("restart storm rule", () => {
  const at = (...minutesAgo: number[]) => minutesAgo.map((m) => ({ at: 100 * MIN - m * MIN, count: 1 }));
  const now = 100 * MIN;
  const cases: [string, { at: number; count: number }[], string | null][] = [
    ["5 in an hour is not a storm (more than 5 is)", at(50, 40, 30, 20, 10), null],
    ["6 in an hour is", at(55, 44, 33, 22, 11, 10), "sustained"],
    ["6 spread over more than an hour is not", at(90, 80, 70, 50, 30, 10), null],
    ["3 within 5 minutes is (fast rule)", at(4, 2, 1), "fast"],
    ["2 within 5 minutes is not", at(4, 1), null],
    ["one record counting 3 (cluster instances) is", [{ at: now - MIN, count: 3 }], "fast"],
  ];
  for (const [name, records, expected] of cases) {
    it(name, () => assert.equal(restartStorm(records, now, watch.restartStorm)?.rule ?? null, expected));
  }
});

describe("restart tracker", () => {
  it("counts deltas per app, cluster instances together, and treats a counter that went down as a new baseline", () => {
    const store = openSqliteStore(":memory:");
    const t = new RestartTracker("stb", store.watch);
    const obs = (list: [string, number, number][], at: number, complete = true) =>
      t.observe(list.map(([name, pmId, restarts]) => ({ name, pmId, restarts })), at, { complete });
    assert.deepEqual(obs([["api", 0, 10], ["api", 1, 4]], 1), [], "first sight is a baseline");
    assert.deepEqual(obs([["api", 0, 12], ["api", 1, 5]], 2), [{ app: "api", count: 3 }]);
    assert.deepEqual(obs([["api", 0, 0], ["api", 1, 0]], 3), [], "pm2 reset");
    assert.deepEqual(obs([["api", 7, 2]], 4), [], "deleted and re-added: new pm_id");
    assert.deepEqual(obs([["api", 7, 3]], 5, false), [{ app: "api", count: 1 }], "a bus event");
    // Baselines survive a restart of Jaga.
    const again = new RestartTracker("stb", store.watch);
    assert.deepEqual(again.observe([{ name: "api", pmId: 7, restarts: 5 }], 6, { complete: true }), [{ app: "api", count: 2 }]);
    assert.equal(store.watch.restarts("stb", "api", 0).reduce((a, r) => a + r.count, 0), 6);
  });
});

describe("cpu, disk and sustained conditions", () => {
  it("computes CPU from /proc/stat deltas, ignoring samples too close together", () => {
    assert.equal(cpuPercent({ total: 1000, idle: 500 }, { total: 1200, idle: 520 }), 90);
    assert.equal(cpuPercent({ total: 1000, idle: 500 }, { total: 1010, idle: 500 }), null);
    assert.equal(cpuPercent(null, { total: 1, idle: 1 }), null);
  });
  it("holds a condition only when unbroken for the whole period", () => {
    const hot = new Sustained(5 * MIN);
    assert.equal(hot.update(true, 0), false);
    assert.equal(hot.update(true, 4 * MIN), false);
    assert.equal(hot.update(false, 4.5 * MIN), false);
    assert.equal(hot.update(true, 5 * MIN), false);
    assert.equal(hot.update(true, 10 * MIN), true);
  });
  it("grades disks at 80 and 90 percent", () => {
    assert.equal(diskLevel(79, watch.disk), null);
    assert.equal(diskLevel(80, watch.disk), "warning");
    assert.equal(diskLevel(90, watch.disk), "critical");
  });
});

describe("likely cause", () => {
  it("reads the failures from the incident reports", () => {
    assert.deepEqual(classify(["Error: listen EADDRINUSE: address already in use :::3000"]), {
      cause: "port_in_use",
      port: 3000,
      line: "Error: listen EADDRINUSE: address already in use :::3000",
    });
    assert.equal(classify(["Error: listen EADDRINUSE: address already in use 0.0.0.0:8080"]).cause, "port_in_use");
    // Node's own report of an uncaught listen error: the port is on its first line, not its newest.
    const uncaught = ["Error: listen EADDRINUSE: address already in use 127.0.0.1:3002", "    at Server.setupListenHandle [as _listen2] (node:net:1908:16)", "  code: 'EADDRINUSE',", "  port: 3002", "}"];
    assert.deepEqual(classify(uncaught), { cause: "port_in_use", port: 3002, line: uncaught[0] });
    assert.deepEqual(classify(["Error: getaddrinfo ENOTFOUND web.whatsapp.com"]), { cause: "dns", name: "web.whatsapp.com", line: "Error: getaddrinfo ENOTFOUND web.whatsapp.com" });
    assert.equal(classify(["connect ECONNREFUSED 127.0.0.1:5432"]).cause, "db_refused");
    assert.equal(classify(["connect ECONNREFUSED 127.0.0.1:8080"]).cause, "unknown");
    assert.equal(classify(["FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"]).cause, "heap");
    assert.equal(classify(["[UnhandledPromiseRejection: This error originated either by throwing"]).cause, "unhandled_rejection");
    assert.deepEqual(classify(["some text", "TypeError: x is not a function", "    at y"]), { cause: "unknown", line: "TypeError: x is not a function" });
    assert.deepEqual(classify([]), { cause: "unknown", line: null });
  });
  it("names the newest cause when several appear", () => {
    assert.equal(classify(["getaddrinfo EAI_AGAIN a.b", "EADDRINUSE :::3000"]).cause, "port_in_use");
  });
  it("finds who holds a port in ss output", () => {
    assert.equal(parsePortHolder('LISTEN 0 511 *:3000 *:* users:(("node",pid=1234,fd=19))'), "node (pid 1234)");
    assert.equal(parsePortHolder(""), null);
  });
});

describe("PM2 bus wire format", () => {
  const amp = (...args: string[]) => {
    const bufs = args.map((a) => Buffer.from(a));
    const head = Buffer.from([0x10 | bufs.length]);
    return Buffer.concat([head, ...bufs.flatMap((b) => [Buffer.from([0, 0, 0, 0].map((_, i) => (b.length >>> (24 - 8 * i)) & 0xff)), b])]);
  };
  it("decodes messages split across chunks and drops the app's environment", () => {
    const msg = amp("s:process:event", `j:${JSON.stringify({ event: "online", at: 1, process: { name: "bot-kjp", pm_id: 3, restart_time: 34, status: "online", env: { SECRET: "x" } } })}`);
    const d = new AmpDecoder();
    assert.deepEqual(d.push(msg.subarray(0, 10)), []);
    const [args] = d.push(Buffer.concat([msg.subarray(10), amp("s:log:out", "j:{}")]));
    const e = toBusEvent(args!, 42);
    assert.deepEqual(e, { type: "process", event: "online", name: "bot-kjp", pmId: 3, restarts: 34, status: "online", at: 42 });
    assert.doesNotMatch(JSON.stringify(e), /SECRET/);
  });
  it("refuses a corrupt length instead of buffering forever", () => {
    assert.throws(() => new AmpDecoder().push(Buffer.from([0x11, 0xff, 0xff, 0xff, 0xff])), /corrupt/);
  });
  it("ignores messages it does not understand", () => {
    assert.equal(toBusEvent(["process:event", { nonsense: true }], 1), null);
    assert.equal(toBusEvent(["log:out", {}], 1), null);
  });
});

describe("app down rule", () => {
  const rule = watch.appDown;
  const S = 1_000;
  const ok = { eligible: true, deliberate: false };
  /** Feeds statuses at times (seconds) and returns each step's action. */
  const run = (seq: [number, string | null][], ctx = ok) => {
    let t: AppTrack | undefined;
    return seq.map(([sec, status]) => {
      t = observeApp(t, status, sec * S);
      const { next, action } = appDownStep(t, sec * S, rule, ctx);
      t = next;
      return action;
    });
  };

  it("defaults to a 1m grace and 1m up time", () => assert.deepEqual(rule, { grace: 60 * S, upFor: 60 * S }));
  it("raises only once down for the whole grace, and every round after (for reminders)", () => {
    assert.deepEqual(run([[0, "online"], [10, "errored"], [69, "errored"], [70, "errored"], [100, "errored"]]), [null, null, null, "raise", "raise"]);
  });
  it("a stop shorter than the grace raises nothing, and the grace starts over", () => {
    assert.deepEqual(run([[0, "stopped"], [50, "online"], [60, "stopped"], [119, "stopped"]]), [null, null, null, null]);
  });
  it("stopped, then deleted and re-added stopped, is one outage", () => {
    assert.deepEqual(run([[0, "stopped"], [30, null], [60, "stopped"]]), [null, null, "raise"]);
  });
  it("a transient status (launching, waiting restart) is neither down nor up", () => {
    assert.deepEqual(run([[0, "waiting restart"], [100, "launching"], [200, "waiting restart"]]), [null, null, null]);
  });
  it("clears once, after it stayed online for upFor", () => {
    assert.deepEqual(run([[0, "errored"], [60, "errored"], [70, "online"], [129, "online"], [130, "online"], [200, "online"]]), [null, "raise", null, null, "clear", null]);
  });
  it("a restart breaks the up run, even when every poll saw it online", () => {
    let t = observeApp(undefined, "online", 0);
    t = restartedApp(t, 50 * S);
    assert.equal(appDownStep(t, 100 * S, rule, ok).action, null);
    assert.equal(appDownStep(t, 110 * S, rule, ok).action, "clear");
  });
  it("an app never seen online and not required raises nothing", () => {
    assert.deepEqual(run([[0, "stopped"], [600, "stopped"]], { eligible: false, deliberate: false }), [null, null]);
  });
  it("a stop on purpose clears (once) instead of raising", () => {
    assert.deepEqual(run([[0, "stopped"], [60, "stopped"], [600, "stopped"]], { eligible: true, deliberate: true }), ["clear", null, null]);
  });
  it("folds cluster instances: online only when all are, down only when none runs, errored over stopped", () => {
    assert.equal(appStatus(["online", "online"]), "online");
    assert.equal(appStatus(["online", "errored"]), "partial");
    assert.equal(appStatus(["stopped", "launching"]), "launching");
    assert.equal(appStatus(["stopped", "errored"]), "errored");
    assert.equal(appStatus(["stopped"]), "stopped");
    assert.equal(appStatus([]), null);
    assert.equal(appHealth("partial"), "transient");
  });
  it("reads watch.apps per host", () => {
    assert.deepEqual([...requiredApps(["bot-kjp", "api@stb", "web@other"], "stb")], ["bot-kjp", "api"]);
    assert.equal(stoppedKey("stb", "bot-kjp"), "stopped:stb/bot-kjp");
  });
});
