/**
 * WhatsApp's session shared by the instances of one Jaga: the rows of the embedded store's
 * wa_auth (credentials, Signal keys, Jaga's own message-id salt and WA Web version), kept in
 * PostgreSQL (`jaga.wa_auth`) under the lease, with the embedded store as the local copy.
 *
 *  - At the start of a term ({@link SharedWaAuth.pull}), before the socket opens: the database's
 *    rows replace the local ones — the new active instance continues the very session the old one
 *    left, with no pairing. A database that has none yet (the first term after standby was
 *    switched on) gets the local session instead, so an instance already paired stays paired.
 *  - During the term: a write goes to PostgreSQL first, under the term's epoch, and only then to
 *    the local copy; Baileys awaits it (src/chat/baileys/auth-state.ts) before it acknowledges
 *    what the keys decrypted. A write refused by fencing (someone else holds the lease) loses
 *    the lease at once; one that cannot reach the database is retried until it lands or the
 *    lease is lost, never dropped (a key that the database does not have would be a "Bad MAC"
 *    for the next holder).
 *  - Reads come from the local copy: within a term nobody else writes.
 *
 * @example
 * const auth = new SharedWaAuth({ local: store.waAuth, db, lease: "jaga", epoch: () => keeper.currentEpoch(), onFenced: (d) => keeper.fenced(d), clock, log });
 * await auth.pull(epoch);           // the term begins
 * buildWhatsApp({ …, kv: auth });   // then the socket
 */
import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import { exponentialBackoff } from "../policy/backoff.js";
import type { LocalWaAuth, WaAuthKv, WaAuthRow } from "../store/sqlite/wa-auth.js";
import { redact } from "../text.js";
import { FencedError, type SharedDb } from "./db.js";
import { NotActiveError } from "./term.js";

export { NotActiveError };

export interface SharedWaAuthOptions {
  local: LocalWaAuth;
  db: SharedDb;
  lease: string;
  /** The epoch held now, or null when this instance is not active. */
  epoch(): number | null;
  /** A write was refused by fencing: the lease is someone else's. */
  onFenced(detail: string): void;
  clock: Clock;
  log: Logger;
  /** Rows per page and per write (default 500). */
  pageSize?: number;
}

/** Not written: this instance does not hold the lease (any more). */

export class SharedWaAuth implements WaAuthKv {
  /** Writes go to the database one at a time, in order. */
  private chain: Promise<unknown> = Promise.resolve();
  private readonly page: number;

  constructor(private readonly o: SharedWaAuthOptions) {
    this.page = o.pageSize ?? 500;
  }

  /**
   * The term begins: the database's session becomes the local one (or, when the database has
   * none, the local one is uploaded). Returns what happened and how many rows.
   */
  async pull(epoch: number): Promise<{ from: "database" | "local" | "none"; rows: number }> {
    const rows: WaAuthRow[] = [];
    let after: [string, string] = ["", ""];
    for (;;) {
      const page = await this.o.db.value<[string, string, string][]>("jaga_wa_auth_page", {
        p_name: this.o.lease,
        p_kind: after[0],
        p_id: after[1],
        p_limit: this.page,
      });
      for (const [kind, id, value] of page) rows.push({ kind, id, value });
      if (page.length < this.page) break;
      const last = page[page.length - 1]!;
      after = [last[0], last[1]];
    }
    if (rows.length > 0) {
      this.o.local.replace(rows);
      return { from: "database", rows: rows.length };
    }
    const local = this.o.local.all();
    if (local.length === 0) return { from: "none", rows: 0 };
    for (let i = 0; i < local.length; i += this.page) await this.put(epoch, local.slice(i, i + this.page));
    this.o.log.info({ rows: local.length }, "standby: the local WhatsApp session is now the shared one");
    return { from: "local", rows: local.length };
  }

  get(kind: string, ids: readonly string[]): Map<string, string> {
    return this.o.local.get(kind, ids);
  }

  set(rows: readonly WaAuthRow[]): Promise<void> {
    // The same key twice in one write: the last one counts (PostgreSQL refuses a row twice in one upsert).
    const last = new Map<string, WaAuthRow>();
    for (const r of rows) last.set(`${r.kind}\u0000${r.id}`, r);
    const unique = [...last.values()];
    return this.serial(async () => {
      await this.write("WhatsApp keys", (epoch) => this.put(epoch, unique));
      this.o.local.set(unique);
    });
  }

  clear(): Promise<void> {
    return this.serial(async () => {
      await this.write("WhatsApp logout", (epoch) =>
        this.o.db.value<number>("jaga_wa_auth_clear", { p_name: this.o.lease, p_epoch: epoch, p_keep: [] }),
      );
      this.o.local.clear();
    });
  }

  hasSession(): boolean {
    return this.o.local.hasSession();
  }

  pairing(): "none" | "unfinished" | "paired" {
    return this.o.local.pairing();
  }

  lidToPhone(lid: string): string | undefined {
    return this.o.local.lidToPhone(lid);
  }

  rememberLid(lid: string, phone: string, at: number): void {
    this.o.local.rememberLid(lid, phone, at);
  }

  lidMap(): Map<string, string> {
    return this.o.local.lidMap();
  }

  private put(epoch: number, rows: readonly WaAuthRow[]): Promise<number> {
    return this.o.db.value<number>("jaga_wa_auth_put", { p_name: this.o.lease, p_epoch: epoch, p_rows: { jsonb: rows } });
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.chain.then(work, work);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Until it lands, the lease is lost, or fencing refuses it. */
  private async write(what: string, attempt: (epoch: number) => Promise<unknown>): Promise<void> {
    const backoff = exponentialBackoff({ baseMs: 200, capMs: 2_000 });
    for (let n = 1; ; n++) {
      const epoch = this.o.epoch();
      if (epoch === null) throw new NotActiveError(what);
      try {
        await attempt(epoch);
        return;
      } catch (err) {
        if (err instanceof FencedError) {
          this.o.onFenced(err.message);
          throw err;
        }
        if (n === 1 || n % 10 === 0) this.o.log.warn({ err: redact(String(err)), tries: n }, `standby: ${what} not in the database yet; retrying`);
        await this.o.clock.sleep(backoff.delay(n));
      }
    }
  }
}
