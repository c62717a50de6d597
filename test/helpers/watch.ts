/**
 * Watching wired to real parts for tests: real PM2 hosts, a real SQLite store (file or memory)
 * with its real outbox, and an injectable clock. Alerts land in the outbox, where a test reads them.
 *
 * @example
 * const w = watchHarness({ hosts: [pm2.hostConfig()] }, { clock });
 * await w.watch.watchers[0].tick();
 * await w.alerts(); // texts in the outbox, oldest first
 */
import { systemClock, type Clock } from "../../src/clock.js";
import type { HostConfig } from "../../src/config/schema.js";
import type { Executor } from "../../src/hosts/executor.js";
import { Inventory } from "../../src/hosts/inventory.js";
import { silentLogger } from "../../src/log.js";
import { defaultExecutorFactory } from "../../src/main.js";
import { Directory } from "../../src/pipeline/people.js";
import { Pipeline } from "../../src/pipeline/pipeline.js";
import { openSqliteStore, type SqliteStore } from "../../src/store/sqlite/index.js";
import { createWatch, type WatchServices } from "../../src/watch/index.js";
import { commands } from "../../commands/index.js";
import { testConfig } from "./harness.js";

export interface WatchHarness {
  store: SqliteStore;
  hosts: Inventory;
  watch: WatchServices;
  pipeline: Pipeline;
  /** Every alert text queued so far, oldest first (sent or not). */
  alerts(): string[];
  /** As the console admin, or `as` a person from the config's `people` (by phone). */
  send(text: string, options?: { as?: string }): Promise<string | null>;
  close(): Promise<void>;
}

export interface WatchHarnessOptions {
  clock?: Clock;
  /** A file for the store, to see what a restarted Jaga sees. */
  file?: string;
  /** Wraps each host's real executor (to count what crosses it, or to take a capability away). */
  executor?: (made: Executor, host: HostConfig) => Executor;
  /** The chat the desk's alerts go to (a WhatsApp group id for transport tests). Default `alerts`. */
  alertChat?: string;
}

export function watchHarness(raw: Record<string, unknown>, o: WatchHarnessOptions = {}): WatchHarness {
  // The host's DNS check would query this machine's resolver, and a crash-looping fixture
  // really does pin the CPU: both stay off unless a test asks for them.
  const config = testConfig({ language: "en", ...raw, watch: { dns: { enabled: false }, cpu: { for: "1d" }, ...(raw.watch as object) } });
  const clock = o.clock ?? systemClock;
  const store = openSqliteStore(o.file ?? ":memory:");
  const hosts = Inventory.fromConfig(config.hosts, (host) => {
    const made = defaultExecutorFactory(host);
    return o.executor ? o.executor(made, host) : made;
  });
  const chatId = o.alertChat ?? "alerts";
  const alert = (text: string, dedupeKey: string) => store.outbox.enqueue({ chatId, text, dedupeKey, at: clock.now() });
  const watch = createWatch({ config, hosts, incidents: store.incidents, state: store.watch, alert, alerts: { chatId, queued: () => undefined }, clock, log: silentLogger });
  const pipeline = new Pipeline({ commands, directory: new Directory(config), hosts, store, config, clock, log: silentLogger, services: { watch } });
  let seq = 0;
  return {
    store,
    hosts,
    watch,
    pipeline,
    alerts: () => store.db.prepare<[], { text: string }>("SELECT text FROM outbox ORDER BY id").all().map((r) => r.text),
    send: (text, { as = "console" } = {}) => pipeline.handle({ id: `w${++seq}`, chatId: as, isGroup: false, senderId: as, text, at: clock.now() }),
    async close() {
      await watch.stop();
      await hosts.close();
      await store.close();
    },
  };
}

/** What crossed an executor: every command's argv, and every Unix socket asked for, with what it sent back. */
export interface Traffic {
  runs: string[][];
  sockets: { path: string; bytes: number; text: string }[];
}

/**
 * A real executor that records what crosses it ({@link Traffic}); with `sockets: false` it has
 * no `openUnixSocket`, as an executor that cannot open one.
 *
 * @example
 * const traffic: Traffic = { runs: [], sockets: [] };
 * watchHarness({ hosts }, { executor: (made) => traced(made, traffic) });
 */
export function traced(made: Executor, traffic: Traffic, { sockets = true }: { sockets?: boolean } = {}): Executor {
  const open = made.openUnixSocket?.bind(made);
  const wrapped: Executor = {
    kind: made.kind,
    run: (argv, options) => {
      traffic.runs.push([...argv]);
      return made.run(argv, options);
    },
    close: () => made.close(),
  };
  if (sockets && open) {
    wrapped.openUnixSocket = async (path) => {
      const seen = { path, bytes: 0, text: "" };
      traffic.sockets.push(seen); // every attempt, answered or not
      const socket = await open(path);
      // Attached before the caller's own listener, in the same turn: nothing can arrive in between.
      socket.on("data", (chunk: Buffer) => {
        seen.bytes += chunk.length;
        if (seen.text.length < 1_000_000) seen.text += chunk.toString("latin1");
      });
      return socket;
    };
  }
  return wrapped;
}
