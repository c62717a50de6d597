/**
 * /stop, /start and /save through the real pipeline, against a real PM2 daemon running
 * fixture apps: /stop is planned and runs only after its `/yes`, a crash loop really ends,
 * /start brings the app back with a new pid, /save writes PM2's dump file.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { harness, type Harness } from "./helpers/harness.js";
import { startPm2, waitFor, type TestPm2 } from "./helpers/pm2.js";

const VIEWER = "628111000101";
const OPERATOR = "628111000102";
const people = [
  { phone: VIEWER, name: "Vera", role: "viewer", language: "id" },
  { phone: OPERATOR, name: "Oki", role: "operator", language: "en" },
];

let pm2: TestPm2;
let h: Harness;
const op = (text: string) => h.send(text, { as: OPERATOR });
const procOf = async (name: string) => (await pm2.jlist()).find((p) => p.name === name)!;
const statuses = async () => Object.fromEntries((await pm2.jlist()).map((p) => [p.name, p.pm2_env.status]));
const codeOf = (plan: string) => {
  const m = /Reply `\/yes (\d{4})`/.exec(plan);
  assert.ok(m, `no confirmation code in ${JSON.stringify(plan)}`);
  return m[1]!;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** healthy's pid before the /stop, for /start's "new pid". */
let pidBeforeStop = 0;

before(async () => {
  pm2 = await startPm2({ healthy: "healthy.js", crashloop: "crashloop.js", spare: "healthy.js" });
  h = harness({ language: "en", people, hosts: [pm2.hostConfig()] });
  await waitFor(async () => (await procOf("crashloop")).pm2_env.restart_time >= 2, 10_000, "crashloop to restart");
});
after(async () => {
  await h?.close();
  await pm2?.stop();
});

describe("/stop", () => {
  it("plans first, stops nothing before `/yes <code>`, then really stops the app", async () => {
    pidBeforeStop = (await procOf("healthy")).pid;
    const plan = (await op("/stop healthy"))!;
    assert.match(plan, /^⚠️ \*Confirm \/stop\*\n⏹️ Stop `healthy` on \*local\*: 1 instance\(s\)\./);
    assert.match(plan, /alerts about it will say "stopped by Oki via Jaga"/);
    await sleep(300);
    assert.equal((await procOf("healthy")).pm2_env.status, "online", "nothing stopped before the confirmation");
    const reply = (await op(`/yes ${codeOf(plan)}`))!;
    assert.equal(reply, "⏹️ `healthy` stopped on *local*: stopped, 1 instance(s). `/start healthy` brings it back.");
    assert.equal((await procOf("healthy")).pm2_env.status, "stopped");
  });

  it("of an app already stopped asks nothing and says so", async () => {
    assert.equal(await op("/stop healthy local"), "⏹️ `healthy` on *local* is already stopped. Nothing was changed.");
    assert.equal((await procOf("healthy")).pm2_env.status, "stopped");
  });

  it("/no cancels it: the app keeps running", async () => {
    const plan = (await op("/stop spare"))!;
    codeOf(plan);
    assert.equal(await op("/no"), "🚫 `/stop` cancelled. Nothing was changed.");
    assert.equal((await procOf("spare")).pm2_env.status, "online");
  });

  it("ends a crash loop (report 000, step 1): the restart count stops growing", async () => {
    const plan = (await op("/stop crashloop"))!;
    assert.match(plan, /Stop `crashloop` on \*local\*/);
    assert.match((await op(`/yes ${codeOf(plan)}`))!, /^⏹️ `crashloop` stopped on \*local\*: stopped/);
    const count = (await procOf("crashloop")).pm2_env.restart_time;
    // The fixture dies 200 ms after each start: a second is several restarts, were it still looping.
    await sleep(1_000);
    const later = await procOf("crashloop");
    assert.equal(later.pm2_env.status, "stopped");
    assert.equal(later.pm2_env.restart_time, count);
  });
});

describe("/start", () => {
  it("brings a stopped app back online with a new pid", async () => {
    const reply = (await op("/start healthy"))!;
    const proc = await procOf("healthy");
    assert.equal(proc.pm2_env.status, "online");
    assert.ok(proc.pid > 0 && proc.pid !== pidBeforeStop, `pid ${proc.pid}, before the stop ${pidBeforeStop}`);
    assert.equal(reply, `▶️ \`healthy\` started on *local*: online, pid ${proc.pid}, ↻ ${proc.pm2_env.restart_time}.`);
  });

  it("of an app already online does nothing and says so", async () => {
    const pid = (await procOf("healthy")).pid;
    assert.equal(await op("/start healthy"), "▶️ `healthy` on *local* is already online. Nothing was changed.");
    assert.equal((await procOf("healthy")).pid, pid);
  });

  it("of an unknown app says 'did you mean' and starts nothing", async () => {
    const before = await statuses();
    assert.equal(await op("/start helthy"), "❓ No app `helthy` on *local*.\nDid you mean `healthy`?");
    assert.deepEqual(await statuses(), before);
  });
});

describe("/save", () => {
  it("writes PM2's dump file with the apps it runs now", async () => {
    const dump = join(pm2.home, "dump.pm2");
    const reply = (await op("/save"))!;
    assert.match(reply, /^💾 \*local\*: PM2 list saved; a reboot brings back .*`healthy` online/);
    assert.ok(existsSync(dump));
    const saved = readFileSync(dump, "utf8");
    for (const name of ["healthy", "crashloop", "spare"]) assert.ok(saved.includes(`"${name}"`), name);
    assert.match((await op("/save local"))!, /^💾 \*local\*: PM2 list saved/);
  });

  it("without a host: a host that cannot be asked costs only its own line", async () => {
    const fleet = harness({ language: "en", people, hosts: [pm2.hostConfig(), { ...pm2.hostConfig("gone"), pm2Home: join(pm2.home, "nope") }] });
    try {
      const lines = (await fleet.send("/save", { as: OPERATOR }))!.split("\n");
      assert.equal(lines.length, 2, lines.join("\n"));
      assert.match(lines[0]!, /^💾 \*local\*: PM2 list saved/);
      assert.match(lines[1]!, /^PM2 is not running on \*gone\*/);
    } finally {
      await fleet.close();
    }
  });
});

describe("who may, and bad input", () => {
  it("refuses a viewer, and nothing changes", async () => {
    const before = await statuses();
    for (const c of ["stop", "start", "save"]) {
      assert.equal(await h.send(`/${c} spare`, { as: VIEWER }), `🚫 \`/${c}\` butuh peran *operator*; peran Anda *viewer*.`);
    }
    assert.deepEqual(await statuses(), before);
  });

  for (const attempt of ["/stop x;reboot", "/stop spare;reboot", "/start $(id)", "/start spare|sh", "/stop ../../etc", "/stop spare; rm -rf /"]) {
    it(`runs nothing for the injection attempt ${JSON.stringify(attempt)}`, async () => {
      const before = await statuses();
      const reply = (await op(attempt))!;
      assert.match(reply, /^❌ (Too many arguments|Invalid app name)/);
      assert.match(reply, /Usage: `\/(stop|start) <app> \[host\]`/);
      assert.deepEqual(await statuses(), before);
    });
  }

  it("/stop of an unknown app says 'did you mean' and asks nothing", async () => {
    assert.equal(await op("/stop spar"), "❓ No app `spar` on *local*.\nDid you mean `spare`?");
    assert.equal((await procOf("spare")).pm2_env.status, "online");
  });
});
