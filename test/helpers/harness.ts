/**
 * A pipeline wired to real parts (local executor, real PM2 when given, in-memory SQLite) for
 * driving commands as a given person, the way a transport would.
 *
 * @example
 * const h = harness({ hosts: [pm2.hostConfig()], people: [{ phone: "628111", name: "Vi", role: "viewer" }] });
 * await h.send("/status");                 // as the console admin
 * await h.send("/restart x", { as: "628111" });
 */
import type { IncomingMessage } from "../../src/chat/transport.js";
import { systemClock, type Clock } from "../../src/clock.js";
import type { Config } from "../../src/config/load.js";
import { configSchema } from "../../src/config/schema.js";
import { Inventory } from "../../src/hosts/inventory.js";
import { silentLogger } from "../../src/log.js";
import { defaultExecutorFactory } from "../../src/main.js";
import { commands as allCommands } from "../../commands/index.js";
import type { Command } from "../../src/pipeline/command.js";
import { Directory } from "../../src/pipeline/people.js";
import { Pipeline } from "../../src/pipeline/pipeline.js";
import { openSqliteStore, type SqliteStore } from "../../src/store/sqlite/index.js";

export interface Harness {
  pipeline: Pipeline;
  store: SqliteStore;
  hosts: Inventory;
  config: Config;
  send(text: string, options?: { as?: string; group?: boolean }): Promise<string | null>;
  close(): Promise<void>;
}

/**
 * `/dns check` asks each nameserver of a host's resolv.conf and each `dns.candidates` entry
 * directly, and this machine's own resolver is not on loopback: unless a test says otherwise,
 * a host's resolv.conf is one that does not exist (no nameservers to ask; `/dns fix` refuses to
 * create one) and the only candidate is loopback. Tests never reach past 127.x.
 */
export const NO_RESOLV_CONF = "/nonexistent/jaga-test/resolv.conf";

export function testConfig(raw: Record<string, unknown>): Config {
  const dns = { candidates: ["127.0.0.1"], ...(raw.dns as object | undefined) };
  const hosts = Array.isArray(raw.hosts) ? raw.hosts.map((h: Record<string, unknown>) => ({ ...h, paths: { resolvConf: NO_RESOLV_CONF, ...(h.paths as object | undefined) } })) : raw.hosts;
  const parsed = configSchema.parse({ ...raw, dns, ...(hosts ? { hosts } : {}) });
  return { ...parsed, source: null, dataDir: ":memory:", transport: "console", logLevel: "silent" };
}

/**
 * Tests drive many commands a minute as one person, and restart one fixture app again and
 * again: unless a test sets `limits` itself (as the limit tests do), they are raised here.
 */
const ROOMY_LIMITS = { commandsPerMinute: 1000, restartsPerApp: 100 };

export function harness(raw: Record<string, unknown>, options: { clock?: Clock; commands?: readonly Command[] } = {}): Harness {
  const config = testConfig({ ...raw, limits: raw.limits ?? ROOMY_LIMITS });
  const store = openSqliteStore(":memory:");
  const hosts = Inventory.fromConfig(config.hosts, defaultExecutorFactory);
  const pipeline = new Pipeline({
    commands: options.commands ?? allCommands,
    directory: new Directory(config),
    hosts,
    store,
    config,
    clock: options.clock ?? systemClock,
    log: silentLogger,
  });
  let seq = 0;
  return {
    pipeline,
    store,
    hosts,
    config,
    send(text, { as = "console", group = false } = {}) {
      const message: IncomingMessage = {
        id: `m${++seq}`,
        chatId: group ? "120363000000000000@g.us" : as,
        isGroup: group,
        senderId: as,
        text,
        at: Date.now(),
      };
      return pipeline.handle(message);
    },
    async close() {
      pipeline.close();
      await pipeline.drain();
      await hosts.close();
      await store.close();
    },
  };
}
