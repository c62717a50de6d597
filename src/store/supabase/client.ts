/**
 * One way to build a supabase-js client for a server process: no session persistence, no
 * token refresh, a request timeout, and on Node 20 the `ws` WebSocket for the realtime client
 * (createClient insists on one even when realtime is never used; Node 22 has it built in).
 *
 * @example
 * const client = createSupabaseClient({ url: env.SUPABASE_URL, key: env.SUPABASE_SERVICE_ROLE_KEY });
 * // acting as a signed-in user or service client instead:
 * createSupabaseClient({ url, key: anonKey, accessToken: userJwt });
 */
import { createRequire } from "node:module";
import type { SupabaseClient } from "@supabase/supabase-js";

/**
 * supabase-js (and `ws`) load on the first client, not with Jaga: most installs run without
 * Supabase, and on a 2 GB box the megabytes count. `require` keeps this synchronous (the
 * package ships a CommonJS build next to its ESM one), so opening a store stays synchronous.
 */
const require = createRequire(import.meta.url);
const supabaseJs = () => require("@supabase/supabase-js") as typeof import("@supabase/supabase-js");
const wsClass = () => require("ws") as typeof import("ws");

export interface SupabaseClientOptions {
  /** Project URL, e.g. https://<ref>.supabase.co */
  url: string;
  /** The API key: anon/publishable for clients, service-role (server-side only) for Jaga. */
  key: string;
  /** A user's or service client's JWT, sent instead of the key as the bearer token. */
  accessToken?: string;
  /** Per-request timeout; an unreachable Supabase must not hold a chat command. Default 10 s. */
  timeoutMs?: number;
}

/** An untyped-database client: rows are checked by our own row interfaces. */
export type JagaSupabaseClient = SupabaseClient;

export function createSupabaseClient(options: SupabaseClientOptions): JagaSupabaseClient {
  const timeoutMs = options.timeoutMs ?? 10_000;
  // Our own timer, cleared as soon as the answer arrives: AbortSignal.timeout() would keep the
  // process alive for the whole timeout after every request.
  const timedFetch: typeof fetch = async (input, init) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DOMException("Supabase request timed out", "TimeoutError")), timeoutMs);
    const outer = init?.signal;
    const forward = () => controller.abort(outer?.reason);
    outer?.addEventListener("abort", forward, { once: true });
    try {
      return await fetch(input, { ...init, signal: controller.signal });
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener("abort", forward);
    }
  };
  const { createClient } = supabaseJs();
  type Transport = NonNullable<NonNullable<Parameters<typeof createClient>[2]>["realtime"]>["transport"];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped database: rows are checked by the store
  return createClient<any>(options.url, options.key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime: { transport: wsClass() as unknown as Transport },
    global: { fetch: timedFetch, ...(options.accessToken ? { headers: { Authorization: `Bearer ${options.accessToken}` } } : {}) },
  });
}
