import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { promisify } from "node:util";
import { loadConfig } from "../src/config/load.js";
import { ROOT, TSX } from "./helpers/pm2.js";

const dir = mkdtempSync(join(tmpdir(), "jaga-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("config", () => {
  it("runs on defaults without a file: one local host, Indonesian, Asia/Jakarta", () => {
    const r = loadConfig({ HOME: "/home/jaga" }, dir);
    assert.ok(r.ok);
    assert.equal(r.config.source, null);
    assert.equal(r.config.language, "id");
    assert.equal(r.config.timezone, "Asia/Jakarta");
    assert.deepEqual(r.config.hosts.map((h) => [h.name, h.local, h.pm2Home]), [["local", true, "/home/jaga/.pm2"]]);
    assert.equal(r.config.digest.cron, "0 7 * * *");
    assert.equal(r.config.watch.interval, 30_000);
    assert.equal(r.config.watch.restartStorm.restarts, 5);
  });

  it("takes the local PM2_HOME from the environment", () => {
    const r = loadConfig({ HOME: "/h", PM2_HOME: "/srv/pm2" }, dir);
    assert.ok(r.ok);
    assert.equal(r.config.hosts[0]!.pm2Home, "/srv/pm2");
  });

  it("loads a full file, normalising phones and durations", () => {
    const path = write(
      "good.yaml",
      `language: en
timezone: Europe/Amsterdam
people:
  - { phone: "+62 812-3456-7890", name: Budi, role: admin }
  - { phone: 6281298765432, name: Sari, role: viewer, language: id }
alerts: { group: "120363000000000000@g.us" }
hosts:
  - { name: local, local: true, pm2Home: ~/pm2 }
  - name: stb
    ssh: { host: 127.0.0.1, user: root, agent: true }
watch: { interval: 1m, resolveAfter: 45 }
`,
    );
    const r = loadConfig({ JAGA_CONFIG: path, HOME: "/h" }, dir);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
    assert.deepEqual(r.config.people.map((p) => p.phone), ["6281234567890", "6281298765432"]);
    assert.equal(r.config.hosts[0]!.pm2Home, "/h/pm2");
    assert.equal(r.config.hosts[1]!.ssh?.port, 22);
    assert.equal(r.config.watch.interval, 60_000);
    assert.equal(r.config.watch.resolveAfter, 45_000);
  });

  it("lists every problem by its path", () => {
    const path = write(
      "bad.yaml",
      `language: fr
timezone: Mars/Olympus
people:
  - { phone: "12", name: X, role: root }
hosts:
  - name: stb
    ssh: { host: 127.0.0.1, port: "twenty-two", user: root }
  - name: "bad name"
    local: true
  - name: both
    local: true
    ssh: { host: h, user: u }
watch: { interval: soon }
digest: { cron: "every morning" }
passwords: hunter2
`,
    );
    const r = loadConfig({ JAGA_CONFIG: path }, dir);
    assert.equal(r.ok, false);
    const problems = !r.ok ? r.problems : [];
    const expect = [
      /^language: expected one of "id", "en"$/,
      /^timezone: expected an IANA time zone/,
      /^people\[0\]\.phone: expected a phone number/,
      /^people\[0\]\.role: expected one of "viewer", "operator", "admin"$/,
      /^hosts\[0\]\.ssh\.port: expected a number$/,
      /^hosts\[1\]\.name: expected letters, digits/,
      /^hosts\[2\]: set exactly one of `local: true` or `ssh: \{…\}`$/,
      /^watch\.interval: expected a duration/,
      /^digest\.cron: expected a cron expression/,
      /^\(top level\): unknown key "passwords"$/,
    ];
    for (const re of expect) assert.ok(problems.some((p) => re.test(p)), `missing ${re} in:\n${problems.join("\n")}`);
  });

  it("reports duplicate host names and YAML syntax errors", () => {
    const dup = loadConfig({ JAGA_CONFIG: write("dup.yaml", "hosts:\n  - {name: a, local: true}\n  - {name: a, local: true}\n") }, dir);
    assert.ok(!dup.ok && dup.problems.some((p) => p === 'hosts[1].name: duplicate host name "a"'));
    const syntax = loadConfig({ JAGA_CONFIG: write("syntax.yaml", "hosts: [\n") }, dir);
    assert.ok(!syntax.ok && syntax.problems[0]!.startsWith("yaml:"));
  });

  it("refuses a JAGA_CONFIG that points nowhere rather than silently using defaults", () => {
    const r = loadConfig({ JAGA_CONFIG: join(dir, "missing.yaml") }, dir);
    assert.ok(!r.ok && /no file/.test(r.problems[0]!));
  });

  it("validates the shipped example", () => {
    const r = loadConfig({ JAGA_CONFIG: join(ROOT, "jaga.example.yaml") }, ROOT);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
  });

  it("stops start-up on a bad file with a non-zero exit, every problem, and no stack trace", async () => {
    const path = write("start-bad.yaml", "hosts:\n  - name: stb\n    ssh: { host: h, port: abc, user: u }\nlanguage: xx\n");
    const err = await promisify(execFile)(process.execPath, ["--import", TSX, join(ROOT, "src/cli.ts"), "start"], {
      cwd: dir,
      env: { ...process.env, JAGA_CONFIG: path, JAGA_DATA_DIR: join(dir, "data") },
    }).then(
      () => assert.fail("start should fail"),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(err.code, 1);
    assert.match(err.stderr, /hosts\[0\]\.ssh\.port: expected a number/);
    assert.match(err.stderr, /language: expected one of/);
    assert.doesNotMatch(err.stderr, /\n\s+at /, "no stack trace");
  });
});
