/**
 * Baileys' AuthenticationState backed by the SQLite key-value rows of
 * src/store/sqlite/wa-auth.ts. Buffers go through Baileys' own BufferJSON so the stored JSON
 * round-trips exactly; credentials are written on every `creds.update`.
 *
 * @example
 * const auth = sqliteAuthState(kv);
 * const sock = makeWASocket({ auth: auth.state, ... });
 * sock.ev.on("creds.update", auth.saveCreds);
 */
import type { AuthenticationCreds, AuthenticationState, SignalDataTypeMap } from "@whiskeysockets/baileys";
import { BufferJSON, initAuthCreds, proto } from "./lib.js";
import type { LocalWaAuth, WaAuthKv, WaAuthRow } from "../../store/sqlite/wa-auth.js";

export interface SqliteAuthState<Saved = void | Promise<void>> {
  state: AuthenticationState;
  /** Written at once to the embedded store; the standby's shared session resolves once it is in PostgreSQL. */
  saveCreds(): Saved;
}

const encode = (value: unknown): string => JSON.stringify(value, BufferJSON.replacer);
const decode = (text: string): unknown => JSON.parse(text, BufferJSON.reviver) as unknown;

/** Loads the credentials (or fresh ones for pairing) and exposes the Signal key store. */
export function sqliteAuthState(kv: LocalWaAuth): SqliteAuthState<void>;
export function sqliteAuthState(kv: WaAuthKv): SqliteAuthState;
export function sqliteAuthState(kv: WaAuthKv): SqliteAuthState {
  const stored = kv.get("creds", [""]).get("");
  const creds: AuthenticationCreds = stored ? (decode(stored) as AuthenticationCreds) : initAuthCreds();
  const state: AuthenticationState = {
    creds,
    keys: {
      get<T extends keyof SignalDataTypeMap>(type: T, ids: string[]) {
        const rows = kv.get(type, ids);
        const out: { [id: string]: SignalDataTypeMap[T] } = {};
        for (const [id, text] of rows) {
          let value = decode(text);
          if (type === "app-state-sync-key" && value) value = proto.Message.AppStateSyncKeyData.fromObject(value);
          out[id] = value as SignalDataTypeMap[T];
        }
        return out;
      },
      set(data) {
        const rows: WaAuthRow[] = [];
        for (const [kind, byId] of Object.entries(data)) {
          for (const [id, value] of Object.entries(byId ?? {})) rows.push({ kind, id, value: value ? encode(value) : null });
        }
        // Baileys awaits this before it acknowledges what the keys decrypted: a key is only
        // used once it is stored (with a standby: in PostgreSQL, under the lease's epoch).
        return kv.set(rows);
      },
      clear() {
        return kv.clear();
      },
    },
  };
  return { state, saveCreds: () => kv.set([{ kind: "creds", id: "", value: encode(creds) }]) };
}
