/**
 * Applies the SQL files in migrations/ to a Postgres database (Supabase or plain), in name
 * order, each once. Applied versions are recorded in `supabase_migrations.schema_migrations`,
 * the table the Supabase CLI itself keeps, so `jaga db migrate` and `supabase db push` agree on
 * what is already there and either can be used after the other.
 *
 * @example
 * const result = await migrateDatabase({ databaseUrl: process.env.DATABASE_URL! });
 * console.log(result.applied); // ["20261122080000_jaga_records"]
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import pg from "pg";

/** One migration file: `<version>_<name>.sql`, version being the Supabase CLI's timestamp. */
export interface MigrationFile {
  version: string;
  name: string;
  file: string;
  sql: string;
}

export interface MigrateResult {
  applied: string[];
  skipped: string[];
}

const FILE_RE = /^(\d{14})_([A-Za-z0-9_]+)\.sql$/;

/**
 * The migrations/ folder of this package, found by walking up from this module, so it works
 * from src/ under tsx and from dist/src/ after a build alike.
 *
 * @example
 * defaultMigrationsDir(); // "<package root>/migrations"
 */
export function defaultMigrationsDir(): string {
  let dir = import.meta.dirname;
  for (;;) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "migrations"))) return join(dir, "migrations");
    const up = dirname(dir);
    if (up === dir) throw new Error("migrations/ folder not found next to package.json");
    dir = up;
  }
}

/**
 * Reads `<version>_<name>.sql` files in version order; other files are ignored, a malformed
 * `.sql` name is an error (a typo must not silently skip a migration).
 *
 * @example
 * listMigrations("migrations").map((m) => m.version); // ["20261122080000"]
 */
export function listMigrations(dir: string): MigrationFile[] {
  const files = readdirSync(dir).filter((f) => f.endsWith(".sql")).sort();
  return files.map((file) => {
    const m = FILE_RE.exec(file);
    if (!m) throw new Error(`migration file name must be <14-digit timestamp>_<name>.sql: ${file}`);
    return { version: m[1]!, name: m[2]!, file, sql: readFileSync(join(dir, file), "utf8") };
  });
}

/** Any `pg` client-like thing with `query`: a Client or a PoolClient. */
export type Queryable = Pick<pg.Client, "query">;

/**
 * Applies pending migrations on an open connection: one transaction per file, under an advisory
 * lock so two `jaga db migrate` at once cannot both apply the same file.
 *
 * @example
 * await applyMigrations(client, listMigrations(defaultMigrationsDir()));
 */
export async function applyMigrations(client: Queryable, migrations: readonly MigrationFile[]): Promise<MigrateResult> {
  await client.query(`select pg_advisory_lock(hashtext('jaga.db.migrate'))`);
  try {
    await client.query(`create schema if not exists supabase_migrations`);
    await client.query(
      `create table if not exists supabase_migrations.schema_migrations (version text not null primary key, statements text[], name text)`,
    );
    const done = new Set(
      (await client.query<{ version: string }>(`select version from supabase_migrations.schema_migrations`)).rows.map((r) => r.version),
    );
    const result: MigrateResult = { applied: [], skipped: [] };
    for (const m of migrations) {
      const label = `${m.version}_${m.name}`;
      if (done.has(m.version)) {
        result.skipped.push(label);
        continue;
      }
      await client.query("begin");
      try {
        await client.query(m.sql);
        await client.query(`insert into supabase_migrations.schema_migrations (version, statements, name) values ($1, $2, $3)`, [
          m.version,
          [m.sql],
          m.name,
        ]);
        await client.query("commit");
      } catch (err) {
        await client.query("rollback");
        throw new Error(`migration ${m.file} failed: ${(err as Error).message}`, { cause: err });
      }
      result.applied.push(label);
    }
    return result;
  } finally {
    await client.query(`select pg_advisory_unlock(hashtext('jaga.db.migrate'))`);
  }
}

/**
 * Connects to `databaseUrl`, applies what is pending from `dir`, disconnects.
 *
 * @example
 * await migrateDatabase({ databaseUrl: "postgres://postgres@127.0.0.1:5432/postgres" });
 */
export async function migrateDatabase(options: { databaseUrl: string; dir?: string }): Promise<MigrateResult> {
  const migrations = listMigrations(options.dir ?? defaultMigrationsDir());
  const client = new pg.Client({ connectionString: options.databaseUrl });
  await client.connect();
  try {
    return await applyMigrations(client, migrations);
  } finally {
    await client.end();
  }
}

/**
 * Versions recorded as applied, oldest first, or [] on a database never migrated.
 *
 * @example
 * await appliedVersions(client); // ["20261122080000"]
 */
export async function appliedVersions(client: Queryable): Promise<string[]> {
  const exists = await client.query<{ t: string | null }>(`select to_regclass('supabase_migrations.schema_migrations')::text as t`);
  if (!exists.rows[0]?.t) return [];
  const rows = await client.query<{ version: string }>(`select version from supabase_migrations.schema_migrations order by version`);
  return rows.rows.map((r) => r.version);
}
