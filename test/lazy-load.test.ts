/**
 * A 2 GB box pays only for what it uses: a real `jaga start` on the console transport without
 * Supabase never loads Baileys or supabase-js, and with WhatsApp it loads Baileys' socket but
 * not the package root, which would add WAM's analytics tables (a module hook records every
 * module resolved).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { ROOT, TSX, waitFor } from "./helpers/pm2.js";
import { refusingPort } from "./helpers/wa-server.js";

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

it("the WhatsApp transport loads Baileys' socket, not its package root (nor WAM's tables), nor the QR drawing before a QR", async () => {
  const log = join(dir, "imports-wa.log");
  const port = await refusingPort();
  // Loopback only: WhatsApp at a port nothing listens on, its name an IP, DNS at another closed port.
  writeFileSync(
    join(dir, "wa.yaml"),
    JSON.stringify({ watch: { enabled: false }, digest: { enabled: false }, whatsapp: { url: `ws://127.0.0.1:${port}/ws/chat` }, dns: { resolvers: [`127.0.0.1:${port}`] } }),
  );
  const env: NodeJS.ProcessEnv = { ...process.env, JAGA_TRANSPORT: "whatsapp", JAGA_CONFIG: join(dir, "wa.yaml"), JAGA_DATA_DIR: join(dir, "data-wa"), JAGA_IMPORT_LOG: log, LOG_LEVEL: "info" };
  delete env.SUPABASE_URL;
  const child = spawn(process.execPath, ["--import", TSX, "--import", join(ROOT, "test/fixtures/hooks/record-imports.mjs"), join(ROOT, "src/cli.ts"), "start"], { cwd: dir, env });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const closed = new Promise((r) => child.on("close", r));
  try {
    await waitFor(() => stderr.includes('"msg":"Jaga started"'), 60_000, `Jaga to start:\n${stderr}`);
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await closed, 0, stderr);
  const urls = readFileSync(log, "utf8").split("\n").map((u) => u.split(" ")[0]!);
  assert.ok(urls.some((u) => u.endsWith("/@whiskeysockets/baileys/lib/Socket/index.js")), "the hook saw Baileys' socket");
  assert.deepEqual(urls.filter((u) => /\/@whiskeysockets\/baileys\/lib\/index\.js$|\/@whiskeysockets\/baileys\/lib\/WAM\/(index|constants)\.js$/.test(u)), []);
  assert.deepEqual(urls.filter((u) => u.includes("node_modules/qrcode-terminal")), [], "a paired or unpaired Jaga draws no QR before WhatsApp sends one");
});
