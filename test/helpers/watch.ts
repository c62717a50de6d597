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

export function watchHarness(raw: Record<string, unknown>, o: { clock?: Clock; file?: string; reconcileEvery?: number; alertChat?: string } = {}): WatchHarness {
  // The host's DNS check would query this machine's resolver, and a crash-looping fixture
  // really does pin the CPU: both stay off unless a test asks for them.
  const config = testConfig({ language: "en", ...raw, watch: { dns: { enabled: false }, cpu: { for: "1d" }, ...(raw.watch as object) } });
  const clock = o.clock ?? systemClock;
  const store = openSqliteStore(o.file ?? ":memory:");
  const hosts = Inventory.fromConfig(config.hosts, defaultExecutorFactory);
  const chatId = o.alertChat ?? "alerts";
  const alert = (text: string, dedupeKey: string) => store.outbox.enqueue({ chatId, text, dedupeKey, at: clock.now() });
  const watch = createWatch({ config, hosts, incidents: store.incidents, state: store.watch, alert, alerts: { chatId, queued: () => undefined }, clock, log: silentLogger, reconcileEvery: o.reconcileEvery });
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
