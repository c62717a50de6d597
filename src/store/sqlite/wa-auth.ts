/**
 * WhatsApp's session in SQLite: the credentials and the Signal keys (one row per key), plus the
 * LID-to-phone map. Values are opaque JSON text here; the Baileys-aware encoding lives in
 * src/chat/baileys/auth-state.ts, so opening the store never loads Baileys.
 *
 * Why not Baileys' useMultiFileAuthState: its authors call it unfit for production (one file per
 * key, thousands of small writes); here a key update is one transaction, and the session
 * survives restarts with the rest of Jaga's state.
 *
 * @example
 * const kv = sqliteWaAuth(db);
 * kv.set([{ kind: "creds", id: "", value: json }]);
 * kv.get("session", ["123.0"]); // Map id -> json
 */
import type { Db, Migration } from "./db.js";

export const waAuthMigrations: Migration[] = [
  {
    name: "wa-auth.001.create",
    sql: `CREATE TABLE wa_auth (
            kind  TEXT NOT NULL,
            id    TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (kind, id)
          ) WITHOUT ROWID;
          CREATE TABLE wa_lid (
            lid   TEXT PRIMARY KEY,
            phone TEXT NOT NULL,
            seen_at INTEGER NOT NULL
          ) WITHOUT ROWID;`,
  },
];

export interface WaAuthRow {
  kind: string;
  id: string;
  /** JSON text, or null to delete the row. */
  value: string | null;
}

export interface WaAuthKv {
  get(kind: string, ids: readonly string[]): Map<string, string>;
  /**
   * Writes (and deletes, for null values) in one transaction. The embedded store does it at
   * once; the standby's shared session (src/standby/shared-auth.ts) resolves once the write is
   * in PostgreSQL, and rejects when the lease is lost meanwhile.
   */
  set(rows: readonly WaAuthRow[]): void | Promise<void>;
  /** Whether a paired session exists (credentials with an account). */
  hasSession(): boolean;
  /**
   * `paired`: WhatsApp accepted this device (`creds.account` from pair-success, or
   * `registered`). `unfinished`: a pairing was started and never completed — Baileys'
   * requestPairingCode sets `creds.me` before the phone confirms, and logging in with those
   * credentials ends in 401 and a wiped session. `none`: nothing stored.
   */
  pairing(): "none" | "unfinished" | "paired";
  /** Forgets the session (after a logout) so the next start pairs again. */
  clear(): void | Promise<void>;
  lidToPhone(lid: string): string | undefined;
  rememberLid(lid: string, phone: string, at: number): void;
  lidMap(): Map<string, string>;
}

/** The embedded store's session also hands over all of itself, and takes a whole one in (the standby's term start). */
export interface LocalWaAuth extends WaAuthKv {
  set(rows: readonly WaAuthRow[]): void;
  clear(): void;
  /** Every row, in key order. */
  all(): WaAuthRow[];
  /** Replaces every row with `rows`, in one transaction. */
  replace(rows: readonly WaAuthRow[]): void;
}

export function sqliteWaAuth(db: Db): LocalWaAuth {
  const getOne = db.prepare<[string, string], { value: string }>(`SELECT value FROM wa_auth WHERE kind = ? AND id = ?`);
  const pairing = (): "none" | "unfinished" | "paired" => {
    const row = getOne.get("creds", "");
    if (!row) return "none";
    try {
      const creds = JSON.parse(row.value) as { me?: { id?: string }; registered?: boolean; account?: unknown };
      if (!creds.me?.id) return "none"; // keys made, no QR scanned yet: nothing to undo
      return creds.account || creds.registered === true ? "paired" : "unfinished";
    } catch {
      return "unfinished";
    }
  };
  const put = db.prepare(`INSERT INTO wa_auth (kind, id, value) VALUES (?, ?, ?) ON CONFLICT(kind, id) DO UPDATE SET value = excluded.value`);
  const del = db.prepare(`DELETE FROM wa_auth WHERE kind = ? AND id = ?`);
  const getLid = db.prepare<[string], { phone: string }>(`SELECT phone FROM wa_lid WHERE lid = ?`);
  const putLid = db.prepare(
    `INSERT INTO wa_lid (lid, phone, seen_at) VALUES (?, ?, ?) ON CONFLICT(lid) DO UPDATE SET phone = excluded.phone, seen_at = excluded.seen_at`,
  );
  const allLids = db.prepare<[], { lid: string; phone: string }>(`SELECT lid, phone FROM wa_lid`);
  const write = db.transaction((rows: readonly WaAuthRow[]) => {
    for (const r of rows) {
      if (r.value === null) del.run(r.kind, r.id);
      else put.run(r.kind, r.id, r.value);
    }
  });
  const everything = db.prepare<[], { kind: string; id: string; value: string }>(`SELECT kind, id, value FROM wa_auth ORDER BY kind, id`);
  const replace = db.transaction((rows: readonly WaAuthRow[]) => {
    db.exec(`DELETE FROM wa_auth`);
    for (const r of rows) if (r.value !== null) put.run(r.kind, r.id, r.value);
  });
  return {
    all: () => everything.all(),
    replace: (rows) => replace(rows),
    get(kind, ids) {
      const out = new Map<string, string>();
      for (const id of ids) {
        const row = getOne.get(kind, id);
        if (row) out.set(id, row.value);
      }
      return out;
    },
    set: (rows) => write(rows),
    hasSession: () => pairing() === "paired",
    pairing,
    clear: () => {
      db.exec(`DELETE FROM wa_auth`);
    },
    lidToPhone: (lid) => getLid.get(lid)?.phone,
    rememberLid: (lid, phone, at) => {
      putLid.run(lid, phone, at);
    },
    lidMap: () => new Map(allLids.all().map((r) => [r.lid, r.phone])),
  };
}
