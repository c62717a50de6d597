/**
 * Builds a WhatsAppTransport for tests: in-memory SQLite, a silent log, loopback only, and
 * timings shrunk so real Baileys sockets fail and retry within a test's patience.
 *
 * @example
 * const { transport, store } = waTransport({ url: srv.url, resolvers: ["system"] });
 */
import type { Clock } from "../../src/clock.js";
import { systemClock } from "../../src/clock.js";
import { WhatsAppTransport, type WhatsAppTransportOptions } from "../../src/chat/baileys/transport.js";
import { parseResolvers } from "../../src/dns/resolvers.js";
import { translator } from "../../src/i18n/index.js";
import { silentLogger } from "../../src/log.js";
import { openSqliteStore } from "../../src/store/sqlite/index.js";

export function waTransport(o: {
  url: string;
  resolvers: string[];
  clock?: Clock;
  known?: string[];
  alertGroup?: string;
  overrides?: Partial<WhatsAppTransportOptions>;
}) {
  const store = openSqliteStore(":memory:");
  const known = new Set(o.known ?? []);
  const transport = new WhatsAppTransport({
    url: o.url,
    connectTimeoutMs: 300,
    resolvers: parseResolvers(o.resolvers).specs,
    backoff: { baseMs: 50, capMs: 200, resetAfterMs: 60_000 },
    breaker: { failures: 1_000, withinMs: 300_000, openForMs: 600_000 },
    dns: { probeIntervalMs: 100, recheckIntervalMs: 1_000, timeoutMs: 300 },
    kv: store.waAuth,
    clock: o.clock ?? systemClock,
    log: silentLogger,
    t: translator("en"),
    alertGroup: o.alertGroup,
    alertFallback: [],
    isKnown: (p) => known.has(p),
    backlog: () => store.outbox.backlog(),
    versionTimeoutMs: 300,
    ...o.overrides,
  });
  return { transport, store };
}

/** Polls `cond` every 10 ms until true or `ms` passed. */
export async function until(cond: () => boolean, ms = 5_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return cond();
}
