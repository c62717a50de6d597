import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isJagaError } from "../src/errors.js";
import { groupApps, parseJlist, parseLogLines } from "../src/ops/pm2.js";
import { parseDf, parseProc } from "../src/ops/vitals.js";

const proc = (over: Record<string, unknown> = {}, env: Record<string, unknown> = {}) => ({
  pid: 100,
  name: "bot-kjp",
  pm_id: 0,
  monit: { cpu: 12.5, memory: 50_000_000 },
  pm2_env: {
    status: "online",
    pm_uptime: 1_700_000_000_000,
    restart_time: 33,
    unstable_restarts: 0,
    exec_mode: "fork_mode",
    pm_out_log_path: "/root/.pm2/logs/bot-kjp-out.log",
    pm_err_log_path: "/root/.pm2/logs/bot-kjp-error.log",
    env: { SUPABASE_SERVICE_ROLE_KEY: "eyJsecret", DATABASE_URL: "postgres://u:pw@h/db" },
    SUPABASE_SERVICE_ROLE_KEY: "eyJsecret",
    ...env,
  },
  ...over,
});

describe("pm2 jlist parsing", () => {
  it("keeps only what Jaga shows: the app's environment never leaves the parser", () => {
    const [p] = parseJlist(JSON.stringify([proc()]), "local");
    assert.deepEqual(p, {
      name: "bot-kjp",
      pmId: 0,
      pid: 100,
      status: "online",
      startedAt: 1_700_000_000_000,
      restarts: 33,
      unstableRestarts: 0,
      cpu: 12.5,
      memory: 50_000_000,
      execMode: "fork_mode",
      outLog: "/root/.pm2/logs/bot-kjp-out.log",
      errLog: "/root/.pm2/logs/bot-kjp-error.log",
    });
    assert.doesNotMatch(JSON.stringify(p), /secret|postgres/);
  });

  it("skips daemon chatter before the JSON and tolerates missing monit and pid 0", () => {
    const out = `[PM2] Spawning PM2 daemon with pm2_home=/x\n[PM2] PM2 Successfully daemonized\n${JSON.stringify([proc({ pid: 0, monit: undefined }, { status: "stopped" })])}`;
    const [p] = parseJlist(out, "local");
    assert.equal(p!.pid, null);
    assert.equal(p!.cpu, 0);
    assert.equal(p!.status, "stopped");
  });

  it("turns unreadable output into a clear error", () => {
    for (const bad of ["", "not json", '{"a":1}', JSON.stringify([{ name: 1 }])]) {
      assert.throws(() => parseJlist(bad, "stb"), (e) => isJagaError(e) && e.code === "pm2.bad_output" && e.params.host === "stb");
    }
  });

  it("folds cluster instances into one app, with the worst status", () => {
    const apps = groupApps(
      parseJlist(
        JSON.stringify([
          proc({ pm_id: 0, pid: 1 }, { exec_mode: "cluster_mode", restart_time: 10 }),
          proc({ pm_id: 1, pid: 2 }, { exec_mode: "cluster_mode", restart_time: 6, status: "errored" }),
          proc({ name: "api", pm_id: 2, pid: 3 }),
        ]),
        "local",
      ),
    );
    assert.deepEqual(
      apps.map((a) => [a.name, a.instances, a.status, a.restarts, a.pids]),
      [
        ["bot-kjp", 2, "errored", 16, [1, 2]],
        ["api", 1, "online", 33, [3]],
      ],
    );
  });
});

describe("pm2 logs parsing", () => {
  it("drops PM2's headers, colours and line prefixes", () => {
    const raw =
      "\u001b[1m\u001b[90m[TAILING] Tailing last 2 lines for [bot-kjp] process (change the value with --lines option)\u001b[39m\u001b[22m\n" +
      "\u001b[90m/root/.pm2/logs/bot-kjp-error.log last 2 lines:\u001b[39m\n" +
      "\u001b[31m0|bot-kjp  | \u001b[39mError: getaddrinfo ENOTFOUND web.whatsapp.com\n" +
      "\u001b[31m12|a-very-l | \u001b[39m    at foo (x.js:1:1)\n\n";
    assert.deepEqual(parseLogLines(raw), ["Error: getaddrinfo ENOTFOUND web.whatsapp.com", "    at foo (x.js:1:1)"]);
  });
});

describe("vitals parsing", () => {
  it("reads load and memory from /proc, with the old-kernel fallback", () => {
    const v = parseProc("1.29 0.80 0.50 2/300 1234\nMemTotal:  2000000 kB\nMemFree: 500000 kB\nMemAvailable: 1200000 kB\ncpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n");
    assert.deepEqual(v, { load: [1.29, 0.8, 0.5], memTotalBytes: 2_048_000_000, memAvailableBytes: 1_228_800_000, cpu: { total: 1000, idle: 850 } });
    const old = parseProc("0 0 0 1/1 1\nMemTotal: 100 kB\nMemFree: 10 kB\nBuffers: 5 kB\nCached: 20 kB\n");
    assert.equal(old.memAvailableBytes, 35 * 1024);
  });

  it("reads df -P, de-duplicating mounts (BusyBox and GNU alike)", () => {
    const df = `Filesystem     1024-blocks    Used Available Capacity Mounted on
/dev/mmcblk0p2     5977000 4300000   1400000      76% /
/dev/mmcblk0p2     5977000 4300000   1400000      76% /
/dev/sda1 with space 100 90 10 90% /mnt/usb disk
`;
    assert.deepEqual(
      parseDf(df).map((d) => [d.mount, d.usedPercent]),
      [
        ["/", 76],
        ["/mnt/usb disk", 90],
      ],
    );
  });
});
