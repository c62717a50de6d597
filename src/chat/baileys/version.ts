/**
 * Which WA Web version Jaga tells WhatsApp it is. Baileys bakes one build number into each
 * release; weeks later WhatsApp answers it with 405 and no socket opens again. So, like
 * Baileys' own `fetchLatestWaWebVersion` (same page, same pattern), Jaga reads the current
 * `client_revision` from WhatsApp's service worker at start, every 24 h and after a 405 —
 * with a timeout, through the reconnector's DNS route — keeps the last good one in the store,
 * and falls back to it, then to the built-in one.
 *
 * Why not call `fetchLatestWaWebVersion` itself: it always fetches web.whatsapp.com through
 * the OS resolver with no timeout; Jaga needs the route that works when the system DNS does
 * not (report 001) and a loopback URL in tests.
 *
 * @example
 * const v = new WaVersion({ url: versionUrlOf(config.whatsapp.url), kv, clock, log });
 * await v.refresh(route);  // never throws
 * makeWASocket({ version: v.current(), ... });
 */
import { get as httpGet } from "node:http";
import { get as httpsGet } from "node:https";
import type { WAVersion } from "@whiskeysockets/baileys";
import { DEFAULT_CONNECTION_CONFIG } from "./lib.js";
import type { Clock } from "../../clock.js";
import { makeLookup, type Route } from "../../dns/lookup.js";
import type { Logger } from "../../log.js";
import type { WaAuthKv } from "../../store/sqlite/wa-auth.js";

export const BUILT_IN_VERSION: WAVersion = DEFAULT_CONNECTION_CONFIG.version;
export const VERSION_MAX_AGE_MS = 24 * 3_600_000;
const KV_KIND = "jaga";
const KV_ID = "wa-web-version";
/** Baileys' pattern (Utils/generics.js, fetchLatestWaWebVersion). */
const CLIENT_REVISION = /\\?"client_revision\\?":\s*(\d+)/;

/**
 * The service worker next to the WebSocket: wss://web.whatsapp.com/ws/chat → https://web.whatsapp.com/sw.js.
 *
 * @example
 * versionUrlOf("ws://127.0.0.1:8080/ws/chat"); // "http://127.0.0.1:8080/sw.js"
 */
export function versionUrlOf(wsUrl: string): string {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === "ws:" ? "http:" : "https:";
  u.pathname = "/sw.js";
  u.search = "";
  return u.toString();
}

/** Reads `client_revision` from the page; rejects on a timeout, a non-200, or no revision. */
export function fetchWaWebVersion(url: string, route: Route, timeoutMs: number): Promise<WAVersion> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith("https:") ? httpsGet : httpGet;
    const req = get(
      url,
      {
        lookup: makeLookup(route, timeoutMs),
        timeout: timeoutMs,
        headers: { "sec-fetch-site": "none", "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36" },
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`sw.js answered ${res.statusCode}`));
        }
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
          if (body.length > 4_000_000) req.destroy(new Error("sw.js too large"));
        });
        res.on("end", () => {
          const rev = CLIENT_REVISION.exec(body)?.[1];
          if (rev) resolve([2, 3000, Number(rev)]);
          else reject(new Error("no client_revision in sw.js"));
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`sw.js: no answer in ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

export interface WaVersionOptions {
  url: string;
  kv: WaAuthKv;
  clock: Clock;
  log: Logger;
  timeoutMs?: number;
}

export class WaVersion {
  private version: WAVersion;
  private fetchedAt = 0;
  private inFlight?: Promise<void>;

  constructor(private readonly o: WaVersionOptions) {
    const stored = this.read();
    this.version = stored?.version ?? BUILT_IN_VERSION;
    this.fetchedAt = stored?.at ?? 0;
  }

  /** The version the next socket announces. */
  current(): WAVersion {
    return this.version;
  }

  /** True when the last good fetch is older than 24 h (or there never was one). */
  stale(): boolean {
    return this.o.clock.now() - this.fetchedAt >= VERSION_MAX_AGE_MS;
  }

  /** Fetches the current version; keeps the last good one on any failure. Never throws. */
  refresh(route: Route): Promise<void> {
    this.inFlight ??= this.fetch(route).finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async fetch(route: Route): Promise<void> {
    try {
      const version = await fetchWaWebVersion(this.o.url, route, this.o.timeoutMs ?? 10_000);
      const changed = version.join(".") !== this.version.join(".");
      this.version = version;
      this.fetchedAt = this.o.clock.now();
      await this.o.kv.set([{ kind: KV_KIND, id: KV_ID, value: JSON.stringify({ version, at: this.fetchedAt }) }]);
      if (changed) this.o.log.info({ version: version.join(".") }, "WhatsApp Web version updated");
    } catch (err) {
      this.o.log.warn({ version: this.version.join("."), reason: err instanceof Error ? err.message : String(err) }, "WhatsApp Web version check failed; keeping the last known one");
    }
  }

  private read(): { version: WAVersion; at: number } | null {
    try {
      const raw = this.o.kv.get(KV_KIND, [KV_ID]).get(KV_ID);
      if (!raw) return null;
      const v = JSON.parse(raw) as { version?: unknown; at?: unknown };
      const ok = Array.isArray(v.version) && v.version.length === 3 && v.version.every((n) => Number.isInteger(n)) && typeof v.at === "number";
      return ok ? { version: v.version as WAVersion, at: v.at as number } : null;
    } catch {
      return null;
    }
  }
}
