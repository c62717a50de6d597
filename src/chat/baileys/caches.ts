/**
 * Baileys' per-socket caches, kept by the transport instead: the retry counter (how often a
 * message was re-sent on a retry receipt), the device lists of recipients, and the placeholder
 * resends in flight. Inside each socket they reset on every reconnect — a retry that started
 * before a drop starts counting from zero, and every reconnect re-queries every device list.
 *
 * A small TTL map bounded in size (oldest entry dropped first), not node-cache: its `maxKeys`
 * throws when full, which inside Baileys' receive path would drop messages.
 *
 * @example
 * const caches = baileysCaches();
 * makeWASocket({ ...caches, ... });
 */
import type { CacheStore } from "@whiskeysockets/baileys";

export class BoundedCache implements CacheStore {
  private readonly items = new Map<string, { value: unknown; expires: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxKeys: number,
    private readonly now: () => number = Date.now,
  ) {}

  get<T>(key: string): T | undefined {
    const item = this.items.get(key);
    if (!item) return undefined;
    if (item.expires <= this.now()) {
      this.items.delete(key);
      return undefined;
    }
    return item.value as T;
  }

  set<T>(key: string, value: T): void {
    this.items.delete(key); // re-inserted as the newest
    if (this.items.size >= this.maxKeys) this.items.delete(this.items.keys().next().value!);
    this.items.set(key, { value, expires: this.now() + this.ttlMs });
  }

  del(key: string): void {
    this.items.delete(key);
  }

  flushAll(): void {
    this.items.clear();
  }

  get size(): number {
    return this.items.size;
  }
}

/** The caches with Baileys' own lifetimes (Defaults DEFAULT_CACHE_TTLS), bounded for a small box. */
export function baileysCaches(now?: () => number) {
  return {
    msgRetryCounterCache: new BoundedCache(3_600_000, 5_000, now),
    userDevicesCache: new BoundedCache(300_000, 2_000, now),
    placeholderResendCache: new BoundedCache(3_600_000, 2_000, now),
  };
}
