/**
 * How Jaga logs in to a host: a private key file (its passphrase from the environment, never
 * from jaga.yaml) and/or the ssh-agent; never a password. Key material stays in memory and is
 * handed to ssh2 only; errors name the file and the variable, never the key or the passphrase.
 *
 * @example
 * const auth = await loadCredentials("stb-1", target, process.env);
 * // { privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----…", passphrase?: "…", agent?: "/run/…/agent.sock" }
 */
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import { JagaError } from "../../errors.js";
import type { SshTarget } from "./target.js";

export interface Credentials {
  privateKey?: string;
  passphrase?: string;
  agent?: string;
}

/**
 * The environment variable that holds the passphrase of `host`'s private key:
 * `JAGA_SSH_PASSPHRASE_<HOST>` (upper case, other characters as `_`), else `JAGA_SSH_PASSPHRASE`.
 *
 * @example
 * passphraseVars("stb-1"); // ["JAGA_SSH_PASSPHRASE_STB_1", "JAGA_SSH_PASSPHRASE"]
 */
export function passphraseVars(host: string): [string, string] {
  return [`JAGA_SSH_PASSPHRASE_${host.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`, "JAGA_SSH_PASSPHRASE"];
}

/**
 * Reads and checks what `target` says to log in with; throws `ssh.no_agent` or
 * `ssh.key_unreadable` (with the passphrase variable's name) when it cannot be used.
 *
 * @example
 * await loadCredentials("box", { host: "10.0.0.7", port: 22, user: "root", agent: true }, { SSH_AUTH_SOCK: "/tmp/a" });
 * // { agent: "/tmp/a" }
 */
export async function loadCredentials(host: string, target: SshTarget, env: NodeJS.ProcessEnv): Promise<Credentials> {
  const out: Credentials = {};
  const vars = passphraseVars(host);
  if (target.agent) {
    const agent = env.SSH_AUTH_SOCK;
    if (!agent) throw new JagaError("ssh.no_agent", { host });
    out.agent = agent;
  }
  const path = target.privateKeyPath;
  if (path) {
    const full = path === "~" || path.startsWith("~/") ? join(env.HOME ?? homedir(), path.slice(1)) : path;
    const fail = (detail: string) => new JagaError("ssh.key_unreadable", { host, path, detail, env: vars[0] }, detail);
    let key: string;
    try {
      key = await readFile(full, "utf8");
    } catch (err) {
      throw fail((err as NodeJS.ErrnoException).code ?? "unreadable");
    }
    const passphrase = env[vars[0]] ?? env[vars[1]];
    // Parse here, so a wrong or missing passphrase is named as such (and never logged).
    const parsed = ssh2.utils.parseKey(key, passphrase);
    if (parsed instanceof Error) {
      throw fail(/passphrase|decrypt|encrypted/i.test(parsed.message) ? "passphrase missing or wrong" : "not a private key");
    }
    out.privateKey = key;
    if (passphrase) out.passphrase = passphrase;
  }
  return out;
}
