/**
 * `jaga hosts trust` and `jaga hosts check` against a real sshd: the fingerprint is shown,
 * written only after "yes", comments in jaga.yaml survive, and check prints one row per host.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { run } from "../src/cli/hosts.js";
import { freePort, startSshd, type TestSshd } from "./helpers/sshd.js";

let sshd: TestSshd;
before(async () => {
  sshd = await startSshd();
});
after(async () => {
  await sshd?.stop();
});

function yamlFor(port: number, deadPort: number, hostKey?: string): string {
  return [
    "# Jaga config: comments must survive `hosts trust`",
    "language: en",
    "hosts:",
    "  - name: vps # the main box",
    "    ssh:",
    "      host: 127.0.0.1",
    `      port: ${port}`,
    `      user: ${sshd.user}`,
    `      privateKeyPath: ${sshd.userKey}`,
    ...(hostKey ? [`      hostKey: ${hostKey}`] : []),
    "    pm2Bin: sh",
    "  - name: stb",
    "    ssh: { host: 127.0.0.1, port: " + deadPort + `, user: ${sshd.user}, privateKeyPath: ${sshd.userKey}, hostKey: ${sshd.fingerprint} }`,
    "",
  ].join("\n");
}

async function cli(args: string[], file: string, answer = ""): Promise<{ code: number; out: string }> {
  const output = new PassThrough();
  let out = "";
  output.on("data", (c: Buffer) => (out += c.toString()));
  const code = await run(args, { env: { JAGA_CONFIG: file, HOME: sshd.dir }, input: Readable.from([answer]), output });
  return { code, out };
}

describe("jaga hosts", () => {
  it("trust shows the fingerprint and writes nothing without yes", async () => {
    const file = join(sshd.dir, "no.yaml");
    const text = yamlFor(sshd.port, await freePort());
    writeFileSync(file, text);
    const r = await cli(["trust", "vps"], file, "no\n");
    assert.equal(r.code, 1);
    assert.ok(r.out.includes(sshd.fingerprint), r.out);
    assert.match(r.out, /Nothing written/);
    assert.equal(readFileSync(file, "utf8"), text);
  });

  it("trust pins the key after yes, keeps the comments, and the login then works", async () => {
    const file = join(sshd.dir, "yes.yaml");
    writeFileSync(file, yamlFor(sshd.port, await freePort(), sshd.otherFingerprint));
    const r = await cli(["trust", "vps"], file, "yes\n");
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /REPLACES the pinned key/);
    assert.match(r.out, /Login as .* works/);
    const written = readFileSync(file, "utf8");
    assert.match(written, new RegExp(`hostKey: ${sshd.fingerprint.replace(/[+/]/g, "\\$&")}`));
    assert.doesNotMatch(written, new RegExp(sshd.otherFingerprint.replace(/[+/]/g, "\\$&")));
    assert.match(written, /# Jaga config: comments must survive/);
    assert.match(written, /# the main box/);
    // Already pinned: nothing to ask.
    const again = await cli(["trust", "vps"], file);
    assert.equal(again.code, 0);
    assert.match(again.out, /already pinned/);
  });

  it("check prints one row per host with the reason for a dead one", async () => {
    const file = join(sshd.dir, "check.yaml");
    writeFileSync(file, yamlFor(sshd.port, await freePort(), sshd.fingerprint));
    const r = await cli(["check"], file);
    assert.equal(r.code, 1, "one host is down");
    const lines = r.out.trim().split("\n");
    assert.match(lines[0]!, /^host\s+address\s+result\s+ms$/);
    assert.match(lines[1]!, /^vps\s+\S+@127\.0\.0\.1:\d+\s+ok, pm2 at \/\S*sh\s+\d+$/);
    assert.match(lines[2]!, /^stb\s+.*refused the connection/);
  });

  it("answers usage for anything else", async () => {
    const file = join(sshd.dir, "u.yaml");
    writeFileSync(file, yamlFor(sshd.port, 1));
    assert.equal((await cli(["frobnicate"], file)).code, 2);
  });
});
