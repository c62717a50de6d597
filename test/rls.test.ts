/**
 * Row-level security and grants, through supabase-js against the real PostgREST and
 * PostgreSQL: the anon key, signed-in users of each Jaga role, a service client (the KJP bot)
 * and the service-role key. Allowed calls succeed; the others fail with 401/403 and 42501
 * (or, for reads RLS filters, see nothing).
 *
 * Also reproduces seed report 001 exactly — "42501: new row violates row-level security policy
 * for table blocked_ktp" on an anon insert against a naive policy — and shows it fixed.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { freshNik } from "./store.contract.js";
import { startSupabaseStack, type JagaRole, type SupabaseStack } from "./helpers/supabase-stack.js";

/** The table as the KJP bot had it: RLS switched on, a read policy, Supabase's default grants. */
const NAIVE_SEED_SCHEMA = `
create schema seed001;
grant usage on schema seed001 to anon, authenticated, service_role;
create table seed001.blocked_ktp (id bigint generated always as identity primary key, nik text not null, reason text, created_at timestamptz default now());
grant all on seed001.blocked_ktp to anon, authenticated, service_role;
alter table seed001.blocked_ktp enable row level security;
create policy "Enable read access for all users" on seed001.blocked_ktp for select using (true);
`;

let stack: SupabaseStack;
before(async () => {
  stack = await startSupabaseStack({ beforeMigrations: NAIVE_SEED_SCHEMA, schemas: ["public", "seed001"] });
  await stack.sql(`insert into incidents (host, app, kind, summary) values ('stb', 'bot-kjp', 'restart_storm', '6 restarts')`);
  await stack.sql(
    `insert into command_audit (at, actor, actor_name, command, outcome, duration_ms) values (now(), '62811', 'Budi', 'restart', 'ok', 10)`,
  );
  await stack.sql(`insert into blocked_ktp (nik, reason, blocked_by) values ($1, 'seed', 'Budi')`, [freshNik()]);
});
after(async () => {
  await stack?.stop();
});

const TABLES = ["incidents", "command_audit", "blocked_ktp"] as const;

function blockRow(extra: Record<string, unknown> = {}) {
  return { nik: freshNik(), reason: "test", blocked_by: "tester", ...extra };
}

async function as(role: JagaRole | null) {
  return stack.client(await stack.userToken(role));
}

describe("seed report 001: anon insert into blocked_ktp", () => {
  it("reproduces 42501 'new row violates row-level security policy' against the naive policy", async () => {
    const anon = stack.client(undefined, "seed001");
    const { error, status } = await anon.from("blocked_ktp").insert({ nik: freshNik(), reason: "spam" });
    assert.equal(error?.code, "42501");
    assert.equal(error?.message, 'new row violates row-level security policy for table "blocked_ktp"');
    assert.equal(status, 401);
  });

  it("is fixed: the bot inserts as a service client, duplicates are no-ops, anon still gets nothing", async () => {
    const bot = stack.client(await stack.serviceClientToken("kjp-bot"));
    const row = blockRow({ blocked_by: "kjp-bot" });
    const first = await bot.from("blocked_ktp").insert(row).select();
    assert.equal(first.error, null);
    assert.equal(first.status, 201);
    const dup = await bot.from("blocked_ktp").upsert(row, { onConflict: "active_nik", ignoreDuplicates: true }).select();
    assert.equal(dup.error, null, "a duplicate is not an error (the seed's 23505)");
    assert.deepEqual(dup.data, []);
    const anon = await stack.client().from("blocked_ktp").insert(blockRow());
    assert.equal(anon.error?.code, "42501");
    assert.equal(anon.status, 401);
  });
});

describe("anon: nothing", () => {
  for (const table of TABLES) {
    it(`cannot read or write ${table}`, async () => {
      const anon = stack.client();
      const read = await anon.from(table).select();
      assert.equal(read.status, 401);
      assert.equal(read.error?.code, "42501");
      const value: Record<string, unknown> = table === "blocked_ktp" ? blockRow() : { host: "x" };
      const write = await anon.from(table).insert(value);
      assert.equal(write.status, 401);
      assert.equal(write.error?.code, "42501");
    });
  }
});

describe("authenticated users by app_metadata.jaga_role", () => {
  const canRead: Record<string, Record<(typeof TABLES)[number], boolean>> = {
    none: { incidents: false, command_audit: false, blocked_ktp: false },
    viewer: { incidents: true, command_audit: false, blocked_ktp: false },
    operator: { incidents: true, command_audit: false, blocked_ktp: true },
    admin: { incidents: true, command_audit: true, blocked_ktp: true },
  };
  for (const [label, tables] of Object.entries(canRead)) {
    const role = label === "none" ? null : (label as JagaRole);
    it(`${label}: reads ${TABLES.filter((t) => tables[t]).join(", ") || "nothing"}`, async () => {
      const client = await as(role);
      for (const table of TABLES) {
        const { data, error } = await client.from(table).select();
        assert.equal(error, null, `${label} ${table}`);
        assert.equal((data ?? []).length > 0, tables[table], `${label} reading ${table}`);
      }
    });
  }

  for (const role of [null, "viewer", "operator"] as const) {
    it(`${role ?? "no role"}: cannot block (403, 42501)`, async () => {
      const { error, status } = await (await as(role)).from("blocked_ktp").insert(blockRow());
      assert.equal(status, 403);
      assert.equal(error?.code, "42501");
      assert.match(error?.message ?? "", /row-level security/);
    });
  }

  it("admin: blocks and unblocks, but cannot write incidents or audit, nor delete a block", async () => {
    const admin = await as("admin");
    const row = blockRow();
    const inserted = await admin.from("blocked_ktp").insert(row).select();
    assert.equal(inserted.status, 201);
    const unblocked = await admin
      .from("blocked_ktp")
      .update({ unblocked_at: new Date().toISOString(), unblocked_by: "admin" })
      .eq("nik", row.nik)
      .is("unblocked_at", null)
      .select();
    assert.equal(unblocked.error, null);
    assert.equal(unblocked.data?.length, 1);
    for (const [table, value] of [
      ["incidents", { host: "x", kind: "cpu" }],
      ["command_audit", { at: new Date().toISOString(), actor: "a", actor_name: "a", command: "c", outcome: "ok", duration_ms: 1 }],
    ] as const) {
      const w = await admin.from(table).insert(value);
      assert.equal(w.status, 403, table);
      assert.equal(w.error?.code, "42501", table);
    }
    const del = await admin.from("blocked_ktp").delete().eq("nik", row.nik);
    assert.equal(del.status, 403);
    assert.equal(del.error?.code, "42501");
    const rewrite = await admin.from("blocked_ktp").update({ reason: "changed" }).eq("nik", row.nik);
    assert.equal(rewrite.error?.code, "42501", "only the unblock columns may change");
  });
});

describe("service client (authenticated JWT with app_metadata.jaga_service)", () => {
  it("inserts and reads blocked_ktp, nothing else", async () => {
    const bot = stack.client(await stack.serviceClientToken());
    const row = blockRow();
    assert.equal((await bot.from("blocked_ktp").insert(row)).status, 201);
    const read = await bot.from("blocked_ktp").select().eq("nik", row.nik);
    assert.equal(read.data?.length, 1);
    const unblock = await bot.from("blocked_ktp").update({ unblocked_at: new Date().toISOString(), unblocked_by: "bot" }).eq("nik", row.nik).select();
    assert.deepEqual(unblock.data, [], "only admins unblock");
    const closed = await bot.from("blocked_ktp").insert(blockRow({ unblocked_at: new Date().toISOString(), unblocked_by: "bot" }));
    assert.equal(closed.error?.code, "42501", "only active blocks may be inserted");
    assert.deepEqual((await bot.from("incidents").select()).data, []);
    assert.deepEqual((await bot.from("command_audit").select()).data, []);
    const w = await bot.from("incidents").insert({ host: "x", kind: "cpu" });
    assert.equal(w.status, 403);
    assert.equal(w.error?.code, "42501");
  });
});

describe("service-role key (the Jaga server)", () => {
  it("writes every table, still cannot delete history", async () => {
    const jaga = stack.client(stack.serviceRoleKey);
    assert.equal((await jaga.from("incidents").insert({ host: "stb", app: "api", kind: "cpu" })).status, 201);
    const audit = { at: new Date().toISOString(), actor: "a", actor_name: "a", command: "c", outcome: "ok", duration_ms: 1 };
    assert.equal((await jaga.from("command_audit").insert(audit)).status, 201);
    const row = blockRow();
    assert.equal((await jaga.from("blocked_ktp").insert(row)).status, 201);
    for (const table of TABLES) assert.ok(((await jaga.from(table).select()).data ?? []).length > 0, table);
    const del = await jaga.from("blocked_ktp").delete().eq("nik", row.nik);
    assert.equal(del.error?.code, "42501");
    assert.equal(del.status, 403);
  });

  it("the database enforces the NIK format", async () => {
    const jaga = stack.client(stack.serviceRoleKey);
    const r = await jaga.from("blocked_ktp").insert(blockRow({ nik: "31740155019000x1" }));
    assert.equal(r.error?.code, "23514");
  });
});
