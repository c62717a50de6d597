/**
 * A 2 GB box pays only for what it uses: a real `jaga start` on the console transport without
 * Supabase never loads Baileys or supabase-js (a module hook records every module resolved).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { ROOT, TSX } from "./helpers/pm2.js";

const dir = mkdtempSync(join(tmpdir(), "jaga-lazy-"));
after(() => rmSync(dir, { recursive: true, force: true }));

it("the console transport without Supabase loads neither Baileys nor supabase-js", async () => {
  const log = join(dir, "imports.log");
  const env: NodeJS.ProcessEnv = { ...process.env, JAGA_TRANSPORT: "console", JAGA_DATA_DIR: join(dir, "data"), JAGA_IMPORT_LOG: log, LOG_LEVEL: "silent" };
  delete env.SUPABASE_URL;
  delete env.JAGA_CONFIG;
  const child = spawn(process.execPath, ["--import", TSX, "--import", join(ROOT, "test/fixtures/hooks/record-imports.mjs"), join(ROOT, "src/cli.ts"), "start"], { cwd: dir, env });
  let stdout = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stdin.end("/whoami\n");
  const code = await new Promise((r) => child.on("close", r));
  assert.equal(code, 0);
  assert.match(stdout, /console/, "it answered");
  const urls = readFileSync(log, "utf8").split("\n");
  assert.ok(urls.some((u) => u.includes("/src/main.ts")), "the hook saw Jaga's own modules");
  assert.ok(urls.some((u) => u.includes("node_modules/better-sqlite3")), "and its packages");
  assert.deepEqual(urls.filter((u) => /node_modules\/(@whiskeysockets|@supabase|libsignal|ws\/|pg\/)/.test(u)), []);
  const loaded = urls.map((u) => u.split(" ")[0]!);
  assert.deepEqual(loaded.filter((u) => u.includes("/src/standby/") && !/\/(gate|switched)\.ts$/.test(u)), [], "nor the standby's lease code without `standby:`");
});
