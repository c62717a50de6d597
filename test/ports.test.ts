/**
 * `/ports` and `/free` through the real pipeline, on this machine and over a real sshd on
 * 127.0.0.1, with a real PM2 running an app that listens: real listeners on IPv4 and IPv6-only
 * loopback ports (report 003), a PM2 app named as such, a plain listener freed only after
 * `/yes`, one that ignores SIGTERM killed after the grace, sshd's port and the PM2 app's port
 * refused, ss missing read from /proc, a frozen host costing its own line.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { connect, createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseProcNet, parseSs } from "../src/ops/ports.js";
import { echo } from "../src/text.js";
import { harness, type Harness } from "./helpers/harness.js";
import { APPS, startPm2, waitFor, type TestPm2 } from "./helpers/pm2.js";
import { alive, freePort, startSshd, type TestSshd } from "./helpers/sshd.js";

const ADMIN = "628111000009";
const OPERATOR = "628111000008";
const people = [
  { phone: ADMIN, name: "Ana", role: "admin", language: "en" },
  { phone: OPERATOR, name: "Oki", role: "operator", language: "en" },
];
const LISTEN = join(APPS, "listen.js");
/** The listener's command line as a reply shows it: whole, or cut at 60 characters (a deep checkout's path is). */
const HOLDER = echo(`${process.execPath} ${LISTEN}`, 60);

let sshd: TestSshd;
let pm2: TestPm2;
let h: Harness;
let appPort: number;
const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), "jaga-ports-"));
const PATH = process.env.PATH;

/** A listener of our own: `node …/listen.js`, bound on `host`, resolved with its pid and port. */
async function listener(host: string, env: Record<string, string> = {}): Promise<{ pid: number; port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, [LISTEN], { env: { ...process.env, HOST: host, ...env }, stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`listener exited ${code}`)));
  });
  return { pid: child.pid!, port, child };
}

const canConnect = (port: number, host = "127.0.0.1") =>
  new Promise<boolean>((resolve) => {
    const s = connect({ port, host });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });

const send = (text: string, as = ADMIN) => h.send(text, { as });
const codeOf = (plan: string) => /\/yes (\d{4})/.exec(plan)![1]!;

before(async () => {
  appPort = await freePort();
  [sshd, pm2] = await Promise.all([startSshd(), startPm2({ web: { script: "listen.js", env: { PORT: String(appPort), HOST: "127.0.0.1" } } })]);
  await waitFor(() => canConnect(appPort), 10_000, "the PM2 app to listen");
  h = harness({
    language: "en",
    people,
    hosts: [pm2.hostConfig("local"), { name: "vps", ssh: sshd.target(), pm2Home: pm2.home, pm2Bin: pm2.bin }],
  });
});
after(async () => {
  process.env.PATH = PATH;
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await h?.close();
  await Promise.allSettled([pm2?.stop(), sshd?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** The reply's line for a port. */
const lineOf = (reply: string, port: number) => reply.split("\n").find((l) => l.startsWith(`\`:${port}\``));

describe("/ports", () => {
  for (const host of ["local", "vps"]) {
    it(`shows IPv4 and IPv6-only listeners with their command line, and the PM2 app (${host})`, async () => {
      const [v6, v4] = await Promise.all([listener("::1"), listener("127.0.0.1")]);
      const reply = (await send(`/ports ${host}`, OPERATOR))!;
      assert.match(reply, new RegExp(`^🔌 \\*${host}\\* · \\d+ listening ports`));
      assert.equal(lineOf(reply, v6.port), `\`:${v6.port}\` [::1] · \`${HOLDER}\` (pid ${v6.pid})`, reply);
      assert.equal(lineOf(reply, v4.port), `\`:${v4.port}\` 127.0.0.1 · \`${HOLDER}\` (pid ${v4.pid})`, reply);
      const webPid = (await pm2.jlist()).find((p) => p.name === "web")!.pid;
      assert.equal(lineOf(reply, appPort), `\`:${appPort}\` 127.0.0.1 · 📦 \`web\` (PM2, pid ${webPid})`, reply);
      assert.match(lineOf(reply, sshd.port)!, /sshd/);
      v6.child.kill("SIGKILL");
      v4.child.kill("SIGKILL");
    });
  }

  it("without ss: reads /proc, still sees IPv6, and says ss is missing", async () => {
    const v6 = await listener("::1");
    const bin = join(dir, "bin-no-ss");
    mkdirSync(bin, { recursive: true });
    for (const tool of ["sh", "cat", "ls", "grep", "tr", "env", "node"]) {
      const real = ["/usr/bin", "/bin", join(process.execPath, "..")].map((d) => join(d, tool)).find((p) => existsSync(p));
      if (real && !existsSync(join(bin, tool))) symlinkSync(real, join(bin, tool));
    }
    process.env.PATH = bin;
    try {
      const reply = (await send("/ports local", OPERATOR))!;
      assert.equal(lineOf(reply, v6.port), `\`:${v6.port}\` [::1] · \`${HOLDER}\` (pid ${v6.pid})`, reply);
      assert.match(reply, /ℹ️ ss missing on this host: read from \/proc instead\./);
    } finally {
      process.env.PATH = PATH;
      v6.child.kill("SIGKILL");
    }
  });

  it("is for operators", async () => {
    const viewer = harness({ language: "en", people: [{ phone: "628111000007", name: "Vi", role: "viewer" }], hosts: [pm2.hostConfig()] });
    try {
      assert.match((await viewer.send("/ports", { as: "628111000007" }))!, /^🚫/);
    } finally {
      await viewer.close();
    }
  });
});

describe("/free", () => {
  it("over SSH: plans naming the holder, stops nothing before /yes, then frees the port", async () => {
    const l = await listener("127.0.0.1");
    const plan = (await send(`/free ${l.port} vps`))!;
    assert.match(plan, /^⚠️ \*Confirm \/free\*/);
    assert.ok(plan.includes(`Stops what holds \`:${l.port}\` on *vps*: \`${HOLDER}\` (pid ${l.pid})`), plan);
    assert.ok(alive(l.pid) && (await canConnect(l.port)), "nothing stopped before the confirmation");
    const reply = (await send(`/yes ${codeOf(plan)}`))!;
    assert.equal(reply, `🛑 Stopped by SIGTERM: \`${HOLDER}\` (pid ${l.pid}).\n✅ \`:${l.port}\` on *vps* is free now.`);
    assert.equal(await canConnect(l.port), false);
    await waitFor(() => !alive(l.pid), 5_000, "the listener to be gone");
  });

  it("a holder that ignores SIGTERM gets SIGKILL after the grace", async () => {
    const l = await listener("::1", { IGNORE_TERM: "1" });
    const plan = (await send(`/free :${l.port} local`))!;
    const started = Date.now();
    const reply = (await send(`/yes ${codeOf(plan)}`))!;
    assert.ok(Date.now() - started >= 3_000, "waited the grace first");
    assert.equal(reply, `💀 Still there after 3s, so SIGKILL: \`${HOLDER}\` (pid ${l.pid}).\n✅ \`:${l.port}\` on *local* is free now.`);
    assert.equal(await canConnect(l.port, "::1"), false);
  });

  it("refuses sshd's port, on the SSH host and locally", async () => {
    const remote = (await send(`/free ${sshd.port} vps`))!;
    assert.equal(remote, `🚫 \`:${sshd.port}\` on *vps* is sshd's: stopping it would lock everyone out. Nothing was stopped.`);
    assert.match((await send(`/free ${sshd.port} local`))!, /is sshd's/);
    assert.ok(await canConnect(sshd.port));
  });

  it("refuses a PM2 app's port and suggests /restart", async () => {
    const before = (await pm2.jlist()).find((p) => p.name === "web")!.pid;
    for (const host of ["vps", "local"]) {
      const reply = (await send(`/free ${appPort} ${host}`))!;
      assert.equal(reply, `🚫 \`:${appPort}\` on *${host}* belongs to the PM2 app \`web\` (pid ${before}): PM2 would only start it again. Nothing was stopped. Try \`/restart web ${host}\`.`);
    }
    assert.equal((await pm2.jlist()).find((p) => p.name === "web")!.pid, before);
    assert.ok(await canConnect(appPort));
  });

  it("without a host: the one host holding the port, or says which hosts hold it", async () => {
    // Both inventory hosts are this machine, so the port is held "on both".
    const l = await listener("127.0.0.1");
    assert.equal(await send(`/free ${l.port}`), `\`:${l.port}\` is held on several hosts: local, vps. Say which: \`/free ${l.port} <host>\`.`);
    const nobody = await freePort();
    assert.equal(await send(`/free ${nobody}`), `✅ Nothing listens on \`:${nobody}\` on local, vps. Nothing was stopped.`);
    assert.ok(alive(l.pid));
    l.child.kill("SIGKILL");
  });

  it("refuses Jaga's own port on the local host", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      assert.equal(await send(`/free ${port} local`), `🚫 \`:${port}\` on *local* is Jaga's own (pid ${process.pid}). Nothing was stopped.`);
      assert.ok(await canConnect(port));
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("refuses bad input and non-admins, stopping nothing", async () => {
    assert.match((await send("/free 99999 local"))!, /is not a whole number from 1 to 65535/);
    assert.match((await send("/free 80;reboot local"))!, /is not a whole number/);
    assert.match((await send(`/free ${appPort}`, OPERATOR))!, /^🚫 `\/free` needs the role \*admin\*/);
  });
});

describe("a frozen host", () => {
  it("costs its own 'no answer' line within hostTimeout; the other host still answers", async () => {
    const frozen = await startSshd();
    const fleet = harness({
      language: "en",
      people,
      hostTimeout: "2s",
      hosts: [pm2.hostConfig("local"), { name: "stb", ssh: frozen.target(), pm2Home: pm2.home, pm2Bin: pm2.bin }],
    });
    try {
      assert.match((await fleet.send("/ports stb", { as: OPERATOR }))!, /^🔌 \*stb\*/); // connected and warm
      frozen.freeze();
      const started = Date.now();
      const reply = (await fleet.send("/ports", { as: OPERATOR }))!;
      const took = Date.now() - started;
      const [first, second] = reply.split("\n\n");
      assert.match(first!, /^🔌 \*local\* · \d+ listening ports/);
      assert.equal(second, "⏳ *stb*: no answer in 2 s.");
      assert.ok(took < 3_000, `took ${took} ms`);
      assert.equal(await fleet.send("/free 22 stb"), "⏳ *stb*: no answer in 2 s.");
    } finally {
      frozen.thaw();
      await fleet.close();
      await frozen.stop();
    }
  });
});

describe("listener parsers", () => {
  it("reads ss lines: IPv4, IPv6, wildcard, old ss without brackets, an interface suffix, several holders", () => {
    const text = [
      'LISTEN 0 511 [::]:3002 [::]:* users:(("node /srv/web",pid=2215,fd=21))',
      "LISTEN 0 128 *:22 *:*",
      "LISTEN 0 128 :::8080 :::*",
      'LISTEN 0 4096 127.0.0.53%lo:53 0.0.0.0:* users:(("systemd-resolve",pid=600,fd=13))',
      'LISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:(("nginx",pid=900,fd=6),("nginx",pid=901,fd=6))',
      "State Recv-Q Send-Q Local Address:Port Peer Address:Port",
    ].join("\n");
    assert.deepEqual(
      parseSs(text).map((l) => [l.address, l.port, l.family, l.pids]),
      [
        ["[::]", 3002, 6, [2215]],
        ["*", 22, 4, []],
        ["[::]", 8080, 6, []],
        ["127.0.0.53", 53, 4, [600]],
        ["0.0.0.0", 80, 4, [900, 901]],
      ],
    );
  });

  it("reads /proc/net/tcp and tcp6 LISTEN rows, with the holders from the socket inodes", () => {
    const text = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 991 1",
      "   1: 0100007F:0BB9 0100007F:1234 01 00000000:00000000 00:00000000 00000000     0        0 992 1",
      "   0: 00000000000000000000000001000000:0BBA 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 993 1",
      "   1: 00000000000000000000000000000000:0BBB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 994 1",
    ].join("\n");
    const listeners = parseProcNet(text, new Map([[991, [7]], [993, [8]]]));
    assert.deepEqual(
      listeners.map((l) => [l.address, l.port, l.family, l.pids]),
      [
        ["127.0.0.1", 3000, 4, [7]],
        ["[::1]", 3002, 6, [8]],
        ["[::]", 3003, 6, []],
      ],
    );
  });
});
