/**
 * PostgREST answers become typed errors: a JagaError (short bilingual message, e.g. 42501 ->
 * "Supabase refused the write: row-level security — check which key Jaga uses") that also says
 * whether trying again later can help. The replayer keeps retrying what can heal (outage,
 * wrong key, missing migration) and sets aside what cannot (bad data).
 *
 * @example
 * const { data, error, status } = await client.from("incidents").select();
 * if (error) throw supabaseError(error, status, "incidents");
 */
import { JagaError } from "../../errors.js";
import type { MessageKey } from "../../i18n/index.js";
import { redact } from "../../text.js";

/** What supabase-js returns in `error` (PostgrestError, or its network-failure stand-in). */
export interface PostgrestErrorLike {
  message: string;
  code?: string | null;
  details?: string | null;
  hint?: string | null;
}

export class SupabaseError extends JagaError {
  constructor(
    code: MessageKey,
    /** PostgreSQL SQLSTATE or PostgREST code (`42501`, `PGRST301`), "" for a network failure. */
    readonly pgCode: string,
    /** HTTP status; 0 when no answer came back. */
    readonly status: number,
    /** True when the same write may succeed later unchanged. */
    readonly retryable: boolean,
    detail: string,
  ) {
    super(code, { code: pgCode || String(status) }, detail);
    this.name = "SupabaseError";
  }
}

/**
 * Classifies one PostgREST error.
 *
 * @example
 * supabaseError({ code: "42501", message: "new row violates row-level security policy" }, 403, "blocked_ktp").code;
 * // "store.rls"
 */
export function supabaseError(error: PostgrestErrorLike, status: number, table: string): SupabaseError {
  const pg = error.code ?? "";
  const detail = redact(`${table}: ${status} ${pg} ${error.message}${error.details ? ` (${error.details.split("\n")[0]})` : ""}`);
  const make = (key: MessageKey, retryable: boolean) => new SupabaseError(key, pg, status, retryable, detail);
  if (status === 0 || status === 502 || status === 503 || status === 504 || /^PGRST00\d$/.test(pg)) return make("store.unreachable", true);
  if (pg === "42501") return make("store.rls", true);
  if (status === 401 || /^PGRST30\d$/.test(pg)) return make("store.auth", true);
  if (pg === "42P01" || pg === "42703" || pg === "PGRST204" || pg === "PGRST205" || pg === "PGRST200") return make("store.schema", true);
  if (pg === "23505") return make("store.duplicate", false);
  if (/^2[23]/.test(pg)) return make("store.invalid", false);
  if (status >= 500) return make("store.failed", true);
  return make("store.failed", status >= 400 && status < 500 ? false : true);
}

/** True for errors worth retrying unchanged; anything that is not a SupabaseError is (a bug or a network hiccup). */
export function isRetryable(err: unknown): boolean {
  return err instanceof SupabaseError ? err.retryable : true;
}
