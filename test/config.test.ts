import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parseEnv, promisify } from "node:util";
import { checkConfig } from "../src/config/check.js";
import { loadConfig } from "../src/config/load.js";
import { configSchema } from "../src/config/schema.js";
import { parseResolver } from "../src/dns/resolvers.js";
import { parseDuration } from "../src/duration.js";
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
      /^language: must be one of id, en \(got "fr"\)$/,
      /^timezone: expected an IANA time zone such as Asia\/Jakarta \(got "Mars\/Olympus"\)$/,
      /^people\[0\]\.phone: expected a phone number/,
      /^people\[0\]\.role: must be one of viewer, operator, admin \(got "root"\)$/,
      /^hosts\[0\]\.ssh\.port: must be a number \(got "twenty-two"\)$/,
      /^hosts\[1\]\.name: expected letters, digits, \. _ - \(at most 64\) \(got "bad name"\)$/,
      /^hosts\[2\]: set exactly one of `local: true` or `ssh: \{…\}`$/,
      /^watch\.interval: expected a duration such as 30s, 5m, 1h \(got "soon"\)$/,
      /^digest\.cron: expected a cron expression/,
      /^passwords: unknown key \(known here: language, timezone, /,
    ];
    for (const re of expect) assert.ok(problems.some((p) => re.test(p)), `missing ${re} in:\n${problems.join("\n")}`);
    assert.ok(problems.every((p) => !/Invalid input|Too small|Too big|Unrecognized/.test(p)), `raw zod text in:\n${problems.join("\n")}`);
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

  it("validates the shipped example, its per-command rules included", () => {
    const r = checkConfig({ JAGA_CONFIG: join(ROOT, "jaga.example.yaml") }, ROOT);
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
    assert.match(err.stderr, /hosts\[0\]\.ssh\.port: must be a number/);
    assert.match(err.stderr, /language: must be one of id, en/);
    assert.doesNotMatch(err.stderr, /\n\s+at /, "no stack trace");
  });
});

/** Loads `yaml` as jaga.yaml and returns its problems (none: []). */
function problemsOf(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  const r = checkConfig({ ...env, JAGA_CONFIG: write(`c-${Math.random().toString(36).slice(2)}.yaml`, yaml) }, dir);
  return r.ok ? [] : r.problems;
}

function withoutConfig(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { JAGA_CONFIG: _ignored, ...rest } = env;
  return rest;
}

/** Every numeric setting of the defaults, as [path, value]: durations, counts, percentages. */
function numericLeaves(value: unknown, path: (string | number)[] = []): [(string | number)[], number][] {
  if (typeof value === "number") return [[path, value]];
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([k, v]) => numericLeaves(v, [...path, Array.isArray(value) ? Number(k) : k]));
}

function withValue(path: (string | number)[], leaf: unknown): Record<string, unknown> {
  return path.reduceRight<unknown>((acc, seg) => ({ [seg]: acc }), leaf) as Record<string, unknown>;
}

describe("config refuses what would hurt", () => {
  it("watch.interval: 0 and commandTimeout: 0s are refused, with the bound and the reason", () => {
    const problems = problemsOf("watch: { interval: 0 }\ncommandTimeout: 0s\n");
    assert.deepEqual(problems, [
      "watch.interval: must be at least 1s (got 0s): checking more often keeps a CPU core busy",
      "commandTimeout: must be at least 1s (got 0s): even a local pm2 call takes longer",
    ]);
    assert.deepEqual(problemsOf("watch: { interval: 500ms }\n"), ["watch.interval: must be at least 1s (got 500ms): checking more often keeps a CPU core busy"]);
    assert.match(problemsOf("commandTimeout: 11m\n")[0]!, /^commandTimeout: must be at most 10m \(got 11m\): /);
    assert.deepEqual(problemsOf("watch: { interval: 1s }\ncommandTimeout: 10m\n"), [], "the bounds themselves are allowed");
  });

  it("every number in the config has bounds: 0 and 10⁹ are refused wherever they are written", () => {
    const leaves = numericLeaves(configSchema.parse({}));
    assert.ok(leaves.length >= 20, `found only ${leaves.length} numeric settings`);
    // A CPU alert may fire on the first sample above the threshold: cpu.for may be 0.
    const zeroAllowed = new Set(["watch.cpu.for"]);
    for (const [path] of leaves) {
      const name = path.join(".");
      // Exactly one problem: the bound; a cross-check (warning < critical) adds nothing to it.
      const huge = problemsOf(JSON.stringify(withValue(path, 1e9)));
      assert.ok(huge.length === 1 && huge[0]!.startsWith(`${name}: must be`), `${name}: 1e9 gave ${JSON.stringify(huge)}`);
      const zero = problemsOf(JSON.stringify(withValue(path, 0)));
      if (zeroAllowed.has(name)) assert.deepEqual(zero, [], name);
      else assert.ok(zero.length === 1 && zero[0]!.startsWith(`${name}: must be`), `${name}: 0 gave ${JSON.stringify(zero)}`);
    }
  });

  it("refuses contradictions: a backoff cap below its base, a disk warning above critical", () => {
    assert.deepEqual(problemsOf("whatsapp: { backoff: { base: 10s, cap: 2s } }\nwatch: { disk: { warning: 95 } }\n"), [
      "watch.disk.warning: `warning` must be below `critical`",
      "whatsapp.backoff.cap: `cap` must not be below `base`",
    ]);
  });

  it("watch.apps takes app names, or app@host of a configured host", () => {
    assert.deepEqual(problemsOf('watch: { apps: [bot-kjp, "api@local"] }\n'), []);
    assert.deepEqual(problemsOf('watch: { apps: ["bad name", "api@stb", "a@b@c"] }\n'), [
      'watch.apps[0]: expected an app name, or app@host (letters, digits, . _ -, at most 64 each) (got "bad name")',
      'watch.apps[2]: expected an app name, or app@host (letters, digits, . _ -, at most 64 each) (got "a@b@c")',
      'watch.apps[1]: host "stb" is not listed under `hosts`',
    ]);
  });

  it("a typo in dns.resolvers is a config error with its path, by the parser the transport uses", () => {
    const problems = problemsOf('dns: { resolvers: [sytem, 1.1.1, "8.8.8.8:99999", "[::1]:53", "127.0.0.1:5353", "1.1.1.1"] }\n');
    assert.deepEqual(
      problems.map((p) => p.split(":")[0]),
      ["dns.resolvers[0]", "dns.resolvers[1]", "dns.resolvers[2]"],
      problems.join("\n"),
    );
    assert.match(problems[0]!, /\(got "sytem"\) \(did you mean "system"\?\)$/);
    // One validator: the schema accepts exactly what the transport's parser accepts.
    const entries = ["system", "System", "1.1.1.1", "1.1.1.1:53", "1.1.1.1:0", "1.1.1.1:65536", "256.1.1.1", "::1", "[::1]", "[::1]:53", "[::1]:", "::1:53", "[1.1.1.1]:53", "localhost", "dns.google", "", " 8.8.8.8"];
    for (const entry of entries) {
      const accepted = problemsOf(JSON.stringify({ dns: { resolvers: [entry] } })).length === 0;
      assert.equal(accepted, parseResolver(entry) !== undefined, `schema and parser disagree on ${JSON.stringify(entry)}`);
    }
  });

  it("a misspelt key says which key was meant", () => {
    const problems = problemsOf(
      'comandTimeout: 30s\npeople:\n  - { phone: "6281234567890", name: Budi, role: admin, langauge: en }\nhosts:\n  - { name: stb, ssh: { host: 127.0.0.1, prot: 22, user: u, agent: true } }\nwatch: { intervall: 30s, restartStorm: { fast: { restart: 3 } } }\n',
    );
    assert.deepEqual(problems.sort(), [
      "comandTimeout: unknown key (did you mean `commandTimeout`?)",
      "hosts[0].ssh.prot: unknown key (did you mean `port`?)",
      "people[0].langauge: unknown key (did you mean `language`?)",
      "watch.intervall: unknown key (did you mean `interval`?)",
      "watch.restartStorm.fast.restart: unknown key (did you mean `restarts`?)",
    ]);
  });

  it("per-command rules: a command Jaga lacks, a person not listed, or a rule with nothing in it is refused", () => {
    const people = 'people:\n  - { phone: "6281234567890", name: Budi, role: viewer }\n';
    assert.deepEqual(problemsOf(`${people}commands:\n  restart: { role: admin }\n  logs: { people: [Budi, "0813-0000-0000"] }\n`), ['commands.logs.people[1]: "0813-0000-0000" is not listed under `people`']);
    assert.deepEqual(problemsOf(`${people}commands:\n  restart: { role: admin }\n  logs: { people: [Budi, "+62 812 3456 7890"] }\n`), []);
    const [unknown] = problemsOf(`${people}commands:\n  restrat: { role: admin }\n`);
    assert.match(unknown!, /^commands\.restrat: no such command \(did you mean restart\?\); commands: help, /);
    assert.deepEqual(problemsOf(`${people}commands:\n  logs: { people: [Sari] }\n`), ['commands.logs.people[0]: "Sari" is not listed under `people`']);
    assert.deepEqual(problemsOf(`${people}commands:\n  logs: {}\n`), ["commands.logs: set `role` or `people`"]);
    assert.match(problemsOf(`${people}commands:\n  logs: { role: root }\n`)[0]!, /^commands\.logs\.role: must be one of viewer, operator, admin/);
  });

  it("refuses the anon key in `config check` exactly as `start` does", async () => {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const anon = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ role: "anon", iss: "supabase" })}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk`;
    const env = { SUPABASE_URL: "https://example.supabase.co", SUPABASE_SERVICE_ROLE_KEY: anon };
    const r = checkConfig(env, dir);
    assert.ok(!r.ok && /SUPABASE_SERVICE_ROLE_KEY is not the service-role key \(it is anon\)/.test(r.problems[0]!), JSON.stringify(r));
    const cli = (sub: string[]) =>
      promisify(execFile)(process.execPath, ["--import", TSX, join(ROOT, "src/cli.ts"), ...sub], {
        cwd: dir,
        env: { ...withoutConfig(process.env), ...env, JAGA_DATA_DIR: join(dir, "anon-data"), JAGA_TRANSPORT: "console" },
      }).then(
        () => assert.fail(`${sub.join(" ")} should refuse the anon key`),
        (e: { code: number; stderr: string }) => e,
      );
    const [check, start] = await Promise.all([cli(["config", "check"]), cli(["start"])]);
    for (const e of [check, start]) {
      assert.equal(e.code, 1);
      assert.match(e.stderr, /SUPABASE_SERVICE_ROLE_KEY is not the service-role key \(it is anon\)/);
    }
  });

  it("names a bad environment variable with what was set, except a secret", () => {
    const r = checkConfig({ JAGA_TRANSPORT: "wa", JAGA_HTTP_TOKEN: "hunter2-short" }, dir);
    assert.ok(!r.ok);
    assert.deepEqual(r.problems, ['env JAGA_TRANSPORT: must be one of console, whatsapp (got "wa")', "env JAGA_HTTP_TOKEN: use at least 16 characters"]);
  });

  it(".env.example copied to .env leaves Jaga on its defaults (it sets no JAGA_CONFIG)", () => {
    const example = parseEnv(readFileSync(join(ROOT, ".env.example"), "utf8"));
    assert.equal(example.JAGA_CONFIG, undefined);
    const r = checkConfig({ ...example, HOME: "/h" }, dir);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
    assert.equal(r.config.source, null);
  });
});


describe("the README's configuration table", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("## Commands"));
  const rows = [...section.matchAll(/^\| `([\w.]+)` \| `?([^|`]*)`? \| ([^|]*) \|/gm)].map((m) => ({ key: m[1]!, def: m[2]!.trim(), bounds: m[3]!.trim() }));
  const defaults = configSchema.parse({}) as unknown as Record<string, unknown>;
  const at = (obj: unknown, key: string) => key.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
  const parse = (text: string) => (/^[\d.]+$/.test(text) ? Number(text) : parseDuration(text));

  it("states every bound the schema enforces: both ends accepted, one step outside refused", () => {
    const ranged = rows.filter((r) => / – /.test(r.bounds));
    assert.ok(ranged.length >= 20, `only ${ranged.length} rows with bounds`);
    for (const { key, bounds } of ranged) {
      const [lo, hi] = bounds.split(" – ").map((b) => b.trim());
      const isDuration = !/^[\d.]+$/.test(lo!);
      const min = parse(lo!)!;
      const max = parse(hi!)!;
      const value = (n: number) => (isDuration ? `${n}ms` : n);
      const path = key.split(".");
      // Only the bound's own refusal: a pair's cross-check (cap ≥ base, warning < critical) is another matter.
      const okAt = (n: number) => problemsOf(JSON.stringify(withValue(path, value(n)))).filter((p) => p.startsWith(`${key}: must be`));
      assert.deepEqual(okAt(max), [], `${key}: ${hi} should be accepted`);
      assert.deepEqual(okAt(min), [], `${key}: ${lo} should be accepted`);
      assert.match(okAt(max + 1)[0] ?? "", /must be/, `${key}: above ${hi} should be refused`);
      if (min > 0) assert.match(okAt(min - (isDuration ? 1 : 0.5))[0] ?? "", /must be/, `${key}: below ${lo} should be refused`);
    }
  });

  it("states the defaults the schema has", () => {
    const plain = rows.filter((r) => /^[\w.]+$/.test(r.def) && at(defaults, r.key) !== undefined && typeof at(defaults, r.key) !== "object");
    assert.ok(plain.length >= 25, `only ${plain.length} rows with a default`);
    for (const { key, def } of plain) {
      const actual = at(defaults, key);
      const expected = typeof actual === "number" ? parse(def) : typeof actual === "boolean" ? def === "true" : def;
      assert.equal(actual, expected, `${key}: README says ${def}`);
    }
  });
});
