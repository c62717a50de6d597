/**
 * `jaga hosts trust <name>`: connects once (host key exchange only, no login), shows the
 * server's fingerprint, and pins it in jaga.yaml only after the operator types `yes`. The file
 * is edited through yaml's Document API so the admin's comments and layout survive.
 *
 * `jaga hosts check`: tries every host in parallel and prints one table row each.
 *
 * @example
 * await run(["trust", "stb"]); // prompts, then writes hosts[i].ssh.hostKey
 * await run(["check"]);        // 0 when every host answered
 */
import { readFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline/promises";
import type { Readable, Writable } from "node:stream";
import { isMap, isSeq, parseDocument } from "yaml";
import { loadConfig, type Config } from "../config/load.js";
import type { HostConfig } from "../config/schema.js";
import { isJagaError } from "../errors.js";
import type { Executor } from "../hosts/executor.js";
import { LocalExecutor } from "../hosts/local.js";
import { SshExecutor } from "../hosts/ssh/index.js";
import { translator, type Translate } from "../i18n/index.js";

export interface CliIo {
  env: NodeJS.ProcessEnv;
  input: Readable;
  output: Writable;
  cwd?: string;
}

const defaultIo = (): CliIo => ({ env: process.env, input: process.stdin, output: process.stdout });

/**
 * Runs `jaga hosts …`; resolves to the exit code.
 *
 * @example
 * process.exitCode = await run(process.argv.slice(3));
 */
export async function run(args: string[], io: CliIo = defaultIo()): Promise<number> {
  const say = (line: string) => io.output.write(`${line}\n`);
  const loaded = loadConfig(io.env, io.cwd);
  if (!loaded.ok) {
    say(`✗ ${loaded.source}\n${loaded.problems.map((p) => `  - ${p}`).join("\n")}`);
    return 1;
  }
  const config = loaded.config;
  const t = translator(config.language);
  const [sub, name] = args;
  if (sub === "trust" && name && args.length === 2) return trust(config, name, t, io, say);
  if (sub === "check" && args.length === 1) return check(config, t, io, say);
  say(t("hosts.usage"));
  return 2;
}

async function trust(config: Config, name: string, t: Translate, io: CliIo, say: (l: string) => void): Promise<number> {
  const host = config.hosts.find((h) => h.name === name);
  if (!host) {
    say(t("host.unknown", { host: name, hosts: config.hosts.map((h) => h.name).join(", ") }));
    return 1;
  }
  if (!host.ssh) {
    say(t("hosts.not_ssh", { host: name }));
    return 1;
  }
  if (!config.source) {
    say(t("hosts.no_file"));
    return 1;
  }
  // With nothing pinned the executor stops right after the key exchange: nothing is sent to a
  // server nobody has vouched for yet, not even a login.
  const probe = new SshExecutor({ name, target: { ...host.ssh, hostKey: undefined }, env: io.env });
  let actual: string;
  try {
    await probe.connect();
    return 1; // unreachable: a pinless connect never succeeds
  } catch (err) {
    if (!isJagaError(err) || err.code !== "ssh.hostkey_unknown") {
      say(isJagaError(err) ? t(err.code, err.params) : String(err));
      return 1;
    }
    actual = String(err.params.actual);
  } finally {
    await probe.close();
  }
  const address = `${host.ssh.host}:${host.ssh.port}`;
  say(t("hosts.trust_seen", { host: name, address, actual }));
  const pinned = host.ssh.hostKey;
  if (pinned === actual) {
    say(t("hosts.trust_same", { host: name }));
    return 0;
  }
  if (pinned) say(t("hosts.trust_replaces", { expected: pinned }));
  const rl = createInterface({ input: io.input, output: io.output, terminal: false });
  const answer = await rl.question(t("hosts.trust_confirm", { file: config.source })).catch(() => "");
  rl.close();
  if (!/^(yes|ya)$/i.test(answer.trim())) {
    say(t("hosts.trust_declined"));
    return 1;
  }
  pinHostKey(config.source, name, actual);
  say(t("hosts.trust_written", { host: name, actual, file: config.source }));

  const verify = new SshExecutor({ name, target: { ...host.ssh, hostKey: actual }, env: io.env });
  try {
    await verify.connect();
    say(t("hosts.trust_login_ok", { user: host.ssh.user }));
  } catch (err) {
    say(t("hosts.trust_login_failed", { reason: isJagaError(err) ? t(err.code, err.params) : String(err) }));
  } finally {
    await verify.close();
  }
  return 0;
}

/**
 * Writes `hostKey` into the named host's `ssh:` block, keeping every comment and the layout.
 *
 * @example
 * pinHostKey("jaga.yaml", "stb", "SHA256:…");
 */
export function pinHostKey(file: string, hostName: string, fingerprint: string): void {
  const doc = parseDocument(readFileSync(file, "utf8"));
  const hosts = doc.get("hosts");
  if (!isSeq(hosts)) throw new Error(`${file}: no hosts list`);
  const index = hosts.items.findIndex((item) => isMap(item) && item.get("name") === hostName);
  if (index < 0) throw new Error(`${file}: no host named ${hostName}`);
  doc.setIn(["hosts", index, "ssh", "hostKey"], fingerprint);
  writeFileSync(file, doc.toString());
}

interface Row {
  host: string;
  address: string;
  result: string;
  ok: boolean;
  ms: number;
}

async function check(config: Config, t: Translate, io: CliIo, say: (l: string) => void): Promise<number> {
  const rows = await Promise.all(config.hosts.map((h) => checkHost(h, t, io.env)));
  const [c1, c2, c3, c4] = t("hosts.check_columns").split("|") as [string, string, string, string];
  const table = [[c1, c2, c3, c4], ...rows.map((r) => [r.host, r.address, r.result, String(r.ms)])];
  const widths = [0, 1, 2].map((i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) say(row.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join("  "));
  return rows.every((r) => r.ok) ? 0 : 1;
}

async function checkHost(host: HostConfig, t: Translate, env: NodeJS.ProcessEnv): Promise<Row> {
  const started = Date.now();
  const address = host.ssh ? `${host.ssh.user}@${host.ssh.host}:${host.ssh.port}` : t("hosts.check_local");
  const executor: Executor = host.ssh ? new SshExecutor({ name: host.name, target: host.ssh, env }) : new LocalExecutor();
  const row = (result: string, ok: boolean): Row => ({ host: host.name, address, result, ok, ms: Date.now() - started });
  try {
    // `command -v` is how a non-interactive shell on that host finds pm2 (nvm's PATH is absent).
    const r = await executor.run(["sh", "-c", 'command -v "$1"', "sh", host.pm2Bin], { timeoutMs: 15_000 });
    const found = r.stdout.trim();
    return r.code === 0 && found ? row(t("hosts.check_ok", { pm2: found }), true) : row(t("hosts.check_no_pm2", { bin: host.pm2Bin }), false);
  } catch (err) {
    return row(isJagaError(err) ? t(err.code, err.params) : String(err), false);
  } finally {
    await executor.close();
  }
}
