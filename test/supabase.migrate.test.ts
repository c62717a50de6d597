/** `jaga db migrate` on a real PostgreSQL: applies migrations/, records them like the Supabase CLI, and is idempotent. */
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { run } from "../src/cli/db.js";
import { listMigrations, defaultMigrationsDir } from "../src/db/migrate.js";
import { startSupabaseStack, type SupabaseStack } from "./helpers/supabase-stack.js";

let stack: SupabaseStack;
before(async () => {
  stack = await startSupabaseStack({ migrate: false });
});
after(async () => {
  await stack?.stop();
});

it("applies every migration once and records it in supabase_migrations.schema_migrations", async () => {
  const saved = process.env.DATABASE_URL;
  const log = console.log;
  const lines: string[] = [];
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  try {
    process.env.DATABASE_URL = stack.databaseUrl;
    assert.equal(await run(["migrate"]), 0);
    assert.equal(await run(["migrate"]), 0);
    assert.equal(await run(["status"]), 0);
    assert.equal(await run(["nonsense"]), 2);
  } finally {
    console.log = log;
    if (saved === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = saved;
  }
  const files = listMigrations(defaultMigrationsDir());
  assert.ok(lines.some((l) => l.startsWith(`✓ applied ${files[0]!.version}_`)));
  assert.ok(lines.includes("✓ up to date"), lines.join("\n"));
  const recorded = await stack.sql<{ version: string; name: string }>(`select version, name from supabase_migrations.schema_migrations order by version`);
  assert.deepEqual(recorded.map((r) => r.version), files.map((f) => f.version));
  const rls = await stack.sql<{ relname: string; relrowsecurity: boolean }>(
    `select relname, relrowsecurity from pg_class where relname in ('incidents', 'command_audit', 'blocked_ktp') order by relname`,
  );
  assert.deepEqual(rls.map((r) => [r.relname, r.relrowsecurity]), [["blocked_ktp", true], ["command_audit", true], ["incidents", true]]);
});
