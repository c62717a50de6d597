/**
 * The database the instances of one Jaga share (migrations/20261215080000_standby_lease.sql),
 * reached one of two ways, behind one interface of calls to its functions:
 *
 *  - **PostgREST** (supabase-js `.rpc()`, SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY): works with
 *    nothing but the project's API, through any proxy.
 *  - **a direct connection** (`pg`, JAGA_DATABASE_URL): one session of its own for the lease
 *    (so it can hold the session advisory lock, released by PostgreSQL the moment that session
 *    dies) and one for everything else, so a large read never delays a renewal.
 *
 * Every function is called by name with named arguments (`p_name => $1`), so both paths run
 * exactly the same SQL. A write refused by fencing comes back as {@link FencedError} on either.
 *
 * @example
 * const db = postgrestDb(createSupabaseClient({ url, key }), "abc.supabase.co");
 * const rows = await db.rows<{ held: boolean }>("jaga_lease_claim", { p_name: "jaga", p_owner: "a#1", p_ttl_ms: 15_000 });
 */
import pg from "pg";
import type { JagaSupabaseClient } from "../store/supabase/client.js";
import { redact } from "../text.js";
import { FencedError } from "./errors.js";

/** An argument: a plain value, a text[] (string list), or JSON for a jsonb parameter. */
export type DbArg = string | number | boolean | null | Date | readonly string[] | { jsonb: unknown };

export interface SharedDb {
  readonly kind: "postgrest" | "direct";
  /** Where it points, for logs and /health (a host, never a password). */
  readonly target: string;
  /** Calls a set-returning function (`returns table …`); on the lease's own session with `lease`. */
  rows<T>(fn: string, args: Record<string, DbArg>, options?: { lease?: boolean }): Promise<T[]>;
  /** Calls a function that returns one value. */
  value<T>(fn: string, args: Record<string, DbArg>, options?: { lease?: boolean }): Promise<T>;
  /**
   * Direct only: the lease session's advisory lock (true when this session holds it now).
   * PostgREST has no session of its own to hold one in: always false there.
   */
  tryLock(name: string): Promise<boolean>;
  /** Called once each time the lease session ends under us (killed, network, server restart). */
  onSessionLost(listener: (reason: string) => void): void;
  close(): Promise<void>;
}

export { FencedError };

/** Any other failure of a call, with PostgreSQL's or PostgREST's code when there was one. */
export class SharedDbError extends Error {
  constructor(
    message: string,
    readonly code: string,
    /** HTTP status through PostgREST; 0 for no answer or a direct connection. */
    readonly status: number,
  ) {
    super(message);
    this.name = "SharedDbError";
  }
}

const FN_RE = /^jaga_[a-z_]+$/;
const ARG_RE = /^p_[a-z_]+$/;

function checkCall(fn: string, args: Record<string, DbArg>): void {
  if (!FN_RE.test(fn)) throw new Error(`not a Jaga function: ${fn}`);
  for (const k of Object.keys(args)) if (!ARG_RE.test(k)) throw new Error(`not a parameter name: ${k}`);
}

function failure(fn: string, code: string | undefined, message: string, status: number): Error {
  if (code === "PT409") return new FencedError(redact(message));
  return new SharedDbError(redact(`${fn}: ${message}`), code ?? "", status);
}

/**
 * Through PostgREST: supabase-js `.rpc()` (a POST to /rest/v1/rpc/<fn>) with the service-role key.
 *
 * @example
 * const db = postgrestDb(client, new URL(url).host);
 */
export function postgrestDb(client: JagaSupabaseClient, target: string): SharedDb {
  const plain = (args: Record<string, DbArg>) =>
    Object.fromEntries(Object.entries(args).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v !== null && typeof v === "object" && "jsonb" in v ? v.jsonb : v]));
  const call = async (fn: string, args: Record<string, DbArg>): Promise<unknown> => {
    checkCall(fn, args);
    const { data, error, status } = (await client.rpc(fn, plain(args))) as { data: unknown; error: { code?: string; message: string } | null; status: number };
    if (error) throw failure(fn, error.code, error.message, status);
    return data;
  };
  return {
    kind: "postgrest",
    target,
    rows: async <T>(fn: string, args: Record<string, DbArg>) => {
      const data = await call(fn, args);
      return (Array.isArray(data) ? data : data === null ? [] : [data]) as T[];
    },
    value: async <T>(fn: string, args: Record<string, DbArg>) => (await call(fn, args)) as T,
    tryLock: () => Promise.resolve(false),
    onSessionLost: () => undefined,
    close: () => Promise.resolve(),
  };
}

export interface DirectOptions {
  /** postgres:// connection string: a direct (session) connection, not a transaction pooler. */
  url: string;
  /** How long one call may take before it is given up (client side). */
  queryTimeoutMs: number;
  /**
   * The lease's time to live: the lease session asks the server not to give up on a silent
   * connection sooner than twice this (TCP keepalives), so the server never frees a lease by
   * itself while its holder could still believe it holds it (see lease.ts).
   */
  ttlMs: number;
  /** Names the sessions in pg_stat_activity (`jaga <instance>`). */
  applicationName: string;
}

/**
 * Over a direct connection. Sessions are opened on first use and again after they end; the
 * lease session's end is reported to {@link SharedDb.onSessionLost} listeners, because with it
 * goes the advisory lock.
 *
 * @example
 * const db = directDb({ url: env.JAGA_DATABASE_URL, queryTimeoutMs: 5_000, ttlMs: 15_000, applicationName: "jaga box-a" });
 */
export function directDb(o: DirectOptions): SharedDb {
  const target = (() => {
    try {
      const u = new URL(o.url);
      return `${u.hostname}${u.port ? `:${u.port}` : ""}`;
    } catch {
      return "database";
    }
  })();
  const lost: ((reason: string) => void)[] = [];
  let closed = false;
  const sessions: Record<"lease" | "data", Promise<pg.Client> | undefined> = { lease: undefined, data: undefined };
  const keepaliveS = Math.max(1, Math.ceil((2 * o.ttlMs) / 1000));

  const open = (which: "lease" | "data"): Promise<pg.Client> => {
    const existing = sessions[which];
    if (existing) return existing;
    const client = new pg.Client({
      connectionString: o.url,
      connectionTimeoutMillis: o.queryTimeoutMs,
      query_timeout: o.queryTimeoutMs,
      application_name: `${o.applicationName} (${which})`.slice(0, 63),
      keepAlive: true,
    });
    let ended = false;
    // This session's own promise, to tell it from a later one in `sessions`.
    const mine: { opening?: Promise<pg.Client> } = {};
    const end = (reason: string) => {
      if (ended) return;
      ended = true;
      if (sessions[which] === mine.opening) sessions[which] = undefined;
      void client.end().catch(() => undefined);
      if (which === "lease" && !closed) for (const l of lost) l(reason);
    };
    client.on("error", (err) => end(redact(err.message)));
    client.on("end", () => end("connection ended"));
    const opening = (async () => {
      try {
        await client.connect();
        if (which === "lease") {
          // The server must not drop this session for silence before its holder's own deadline.
          await client.query(
            `select set_config('tcp_keepalives_idle', $1, false), set_config('tcp_keepalives_interval', $2, false), set_config('tcp_keepalives_count', '3', false)`,
            [String(keepaliveS), String(Math.max(1, Math.ceil(keepaliveS / 3)))],
          );
        }
        return client;
      } catch (err) {
        ended = true;
        if (sessions[which] === mine.opening) sessions[which] = undefined;
        await client.end().catch(() => undefined);
        throw failure("connect", (err as { code?: string }).code, (err as Error).message.replace(o.url, "«JAGA_DATABASE_URL»"), 0);
      }
    })();
    mine.opening = opening;
    sessions[which] = opening;
    return opening;
  };

  const sqlOf = (fn: string, args: Record<string, DbArg>) => {
    const values: unknown[] = [];
    const named = Object.entries(args).map(([k, v]) => {
      if (v !== null && typeof v === "object" && "jsonb" in v) {
        values.push(JSON.stringify(v.jsonb));
        return `${k} => $${values.length}::jsonb`;
      }
      values.push(v);
      const cast = typeof v === "number" ? (Number.isInteger(v) ? (Math.abs(v) > 2_147_483_647 ? "::bigint" : "::integer") : "::float8") : Array.isArray(v) ? "::text[]" : v instanceof Date ? "::timestamptz" : typeof v === "boolean" ? "::boolean" : "::text";
      return `${k} => $${values.length}${cast}`;
    });
    return { call: `public.${fn}(${named.join(", ")})`, values };
  };

  const query = async <R extends pg.QueryResultRow>(which: "lease" | "data", fn: string, sql: string, values: unknown[]): Promise<R[]> => {
    if (closed) throw new SharedDbError(`${fn}: closed`, "", 0);
    const client = await open(which);
    try {
      return (await client.query<R>(sql, values)).rows;
    } catch (err) {
      const e = err as { code?: string; message?: string };
      // A client-side timeout leaves the session in an unknown state: start a new one.
      if (!e.code) client.emit("error", new Error(e.message ?? "query failed"));
      throw failure(fn, e.code, e.message ?? String(err), 0);
    }
  };

  return {
    kind: "direct",
    target,
    rows: async <T>(fn: string, args: Record<string, DbArg>, options?: { lease?: boolean }) => {
      checkCall(fn, args);
      const { call, values } = sqlOf(fn, args);
      return (await query(options?.lease ? "lease" : "data", fn, `select * from ${call}`, values)) as T[];
    },
    value: async <T>(fn: string, args: Record<string, DbArg>, options?: { lease?: boolean }) => {
      checkCall(fn, args);
      const { call, values } = sqlOf(fn, args);
      const rows = await query<{ v: T }>(options?.lease ? "lease" : "data", fn, `select ${call} as v`, values);
      return rows[0]!.v;
    },
    tryLock: async (name) => {
      const rows = await query<{ v: boolean }>("lease", "jaga_lease_lock", `select public.jaga_lease_lock(p_name => $1::text) as v`, [name]);
      return rows[0]?.v === true;
    },
    onSessionLost: (listener) => void lost.push(listener),
    close: async () => {
      closed = true;
      const all = [sessions.lease, sessions.data];
      sessions.lease = sessions.data = undefined;
      await Promise.all(all.map(async (s) => (await s?.catch(() => undefined))?.end().catch(() => undefined)));
    },
  };
}
