/**
 * Where the standby's lease and shared state live, from the environment: a direct PostgreSQL
 * connection (JAGA_DATABASE_URL, preferred: it also holds the session advisory lock that frees
 * the lease the moment a dead holder's connection ends) or Supabase's API (SUPABASE_URL +
 * SUPABASE_SERVICE_ROLE_KEY, checked as in supabase.ts). Part of the configuration check, so
 * `jaga config check` refuses what `jaga start` would.
 *
 * @example
 * standbySettings(config, process.env); // { name: "box-a", lease: "jaga", ttlMs: 15000, pollMs: 1000, db: { kind: "direct", url } }
 */
import { hostname } from "node:os";
import type { FileConfig } from "./schema.js";
import { NAME_RE } from "./schema.js";
import { supabaseSettings } from "./supabase.js";

export interface StandbySettings {
  /** This instance. */
  name: string;
  lease: string;
  ttlMs: number;
  pollMs: number;
  db: { kind: "direct"; url: string } | { kind: "postgrest"; url: string; key: string };
}

/**
 * Null without `standby:` in jaga.yaml; throws with a plain message when it cannot work.
 *
 * @example
 * standbySettings({ ...config, standby: undefined }, env); // null
 */
export function standbySettings(config: Pick<FileConfig, "standby">, env: NodeJS.ProcessEnv): StandbySettings | null {
  const s = config.standby;
  if (!s) return null;
  const url = env.JAGA_DATABASE_URL?.trim();
  const supabase = supabaseSettings(env);
  if (url && !/^postgres(ql)?:\/\//.test(url)) {
    throw new Error("JAGA_DATABASE_URL must look like postgresql://user:password@host:5432/postgres (a direct connection, not the transaction pooler)");
  }
  const db: StandbySettings["db"] | null = url ? { kind: "direct", url } : supabase ? { kind: "postgrest", ...supabase } : null;
  if (!db) {
    throw new Error(
      "standby: the lease lives in PostgreSQL — set JAGA_DATABASE_URL (a direct connection) or SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY, and apply the migrations (`jaga db migrate`)",
    );
  }
  return { name: s.name ?? defaultName(), lease: s.lease, ttlMs: s.ttl, pollMs: s.poll, db };
}

/** The host name, cut to what an instance name may hold. */
function defaultName(): string {
  const name = hostname().split(".")[0]!.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 64);
  return NAME_RE.test(name) ? name : "jaga";
}
