/**
 * The Supabase settings from the environment, checked: both or neither, a URL that looks like
 * one, and the service-role key, never the anon key. Part of the configuration check, so
 * `jaga config check` refuses exactly what `jaga start` refuses.
 */

/**
 * Reads and checks the Supabase settings; null when Supabase is not configured. Refuses a key
 * that is not the service-role key: with the anon key every write would fail with 42501, the
 * very failure of seed report 001.
 *
 * @example
 * supabaseSettings({ SUPABASE_URL: "https://x.supabase.co", SUPABASE_SERVICE_ROLE_KEY: "eyJ…" });
 */
export function supabaseSettings(env: NodeJS.ProcessEnv): { url: string; key: string } | null {
  const url = env.SUPABASE_URL?.trim();
  const key = env.SUPABASE_SERVICE_ROLE_KEY?.trim();
  if (!url && !key) return null;
  if (!url || !key) {
    throw new Error("Supabase: set both SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY, or neither (SQLite only).");
  }
  if (!/^https?:\/\//.test(url)) throw new Error("SUPABASE_URL must look like https://<project-ref>.supabase.co");
  const role = jwtRole(key);
  if (key.startsWith("sb_publishable_") || (role !== null && role !== "service_role")) {
    throw new Error(
      `SUPABASE_SERVICE_ROLE_KEY is not the service-role key (it is ${role ?? "a publishable key"}): ` +
        "take the service_role / secret key from Project Settings → API. It stays on the server.",
    );
  }
  return { url: url.replace(/\/+$/, ""), key };
}

/** The `role` claim of a legacy JWT API key, without verifying it (only Supabase can). */
function jwtRole(key: string): string | null {
  const payload = key.split(".")[1];
  if (!key.startsWith("eyJ") || !payload) return null;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { role?: unknown };
    return typeof claims.role === "string" ? claims.role : null;
  } catch {
    return null;
  }
}
