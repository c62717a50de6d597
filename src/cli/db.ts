/**
 * `jaga db migrate` applies migrations/ to the database at DATABASE_URL (idempotent);
 * `jaga db status` lists which migrations are applied and which are pending.
 *
 * @example
 * DATABASE_URL=postgres://postgres:…@db.<ref>.supabase.co:5432/postgres jaga db migrate
 */
import pg from "pg";
import { appliedVersions, defaultMigrationsDir, listMigrations, migrateDatabase } from "../db/migrate.js";
import { redact } from "../text.js";

const USAGE = "Usage: jaga db migrate|status   (reads DATABASE_URL; JAGA_MIGRATIONS_DIR overrides the folder)";

export async function run(args: string[]): Promise<number> {
  const [sub] = args;
  if (sub !== "migrate" && sub !== "status") {
    console.error(USAGE);
    return 2;
  }
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    console.error("DATABASE_URL is not set: the Postgres connection string (Supabase: Project Settings → Database).");
    return 2;
  }
  const dir = process.env.JAGA_MIGRATIONS_DIR ?? defaultMigrationsDir();
  try {
    if (sub === "migrate") {
      const result = await migrateDatabase({ databaseUrl, dir });
      for (const v of result.applied) console.log(`✓ applied ${v}`);
      console.log(result.applied.length ? `${result.applied.length} applied, ${result.skipped.length} already there` : "✓ up to date");
      return 0;
    }
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const done = new Set(await appliedVersions(client));
      for (const m of listMigrations(dir)) console.log(`${done.has(m.version) ? "applied" : "pending"}  ${m.version}_${m.name}`);
    } finally {
      await client.end();
    }
    return 0;
  } catch (err) {
    // The connection string carries a password: never echo it back.
    console.error(`jaga db ${sub}: ${redact((err as Error).message).replace(databaseUrl, "«DATABASE_URL»")}`);
    return 1;
  }
}
