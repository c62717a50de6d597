-- Jaga's records in Supabase: incidents, command_audit, blocked_ktp.
--
-- Who may do what (Supabase roles; PostgREST switches to the role named in the JWT):
--   anon           nothing at all: no grants, so every request is refused before RLS is consulted
--                  (this also undoes Supabase's default "grant all to anon" on new tables).
--   authenticated  reads only with a Jaga role in the JWT's app_metadata (set server-side, users
--                  cannot change it):  app_metadata.jaga_role = viewer | operator | admin
--                    incidents      viewer, operator, admin
--                    blocked_ktp    operator, admin        (NIKs are personal data: viewers do not see them)
--                    command_audit  admin                  (mirrors /audit in chat)
--                  writes: only admins, only blocked_ktp (block, and unblock = close a block).
--   service client an authenticated JWT whose app_metadata carries  jaga_service = '<name>'
--                  (e.g. the KJP bot: { "app_metadata": { "jaga_service": "kjp-bot" } }). It may
--                  insert active blocks into blocked_ktp and read blocked_ktp; nothing else.
--                  This is the fix for seed report 001 ("42501: new row violates row-level security
--                  policy for table blocked_ktp"): the bot gets its own narrow identity instead of
--                  the table being opened to anon or RLS being switched off.
--   service_role   the Jaga server itself (SUPABASE_SERVICE_ROLE_KEY, server-side only). It has
--                  BYPASSRLS in Supabase; it is granted exactly what Jaga does, still no DELETE.
--
-- Policies read the JWT through `(select auth.jwt())` so Postgres evaluates it once per statement
-- (an initPlan) instead of once per row, as Supabase's RLS performance guidance recommends.

-- The role checks live in one place. SECURITY INVOKER, STABLE and tiny, so the planner inlines
-- them; the wrapping `(select ...)` at the call sites keeps the once-per-statement evaluation.
create schema if not exists jaga;
grant usage on schema jaga to authenticated, service_role;

create or replace function jaga.jwt_role() returns text
  language sql stable
  set search_path = ''
as $$ select (select auth.jwt()) -> 'app_metadata' ->> 'jaga_role' $$;

create or replace function jaga.jwt_service() returns text
  language sql stable
  set search_path = ''
as $$ select nullif((select auth.jwt()) -> 'app_metadata' ->> 'jaga_service', '') $$;

revoke all on function jaga.jwt_role() from public, anon;
revoke all on function jaga.jwt_service() from public, anon;
grant execute on function jaga.jwt_role() to authenticated, service_role;
grant execute on function jaga.jwt_service() to authenticated, service_role;

-------------------------------------------------------------------------------------------------
-- incidents: one open incident per (host, app, kind); lifecycle open -> acknowledged -> resolved.
-------------------------------------------------------------------------------------------------
create table public.incidents (
  id              bigint generated always as identity primary key,
  -- Chosen by the writer (Jaga) so a replayed write is recognised, and so the local copy and
  -- Supabase agree on which incident an ack or a resolve is about.
  uid             uuid not null unique default gen_random_uuid(),
  host            text not null check (host ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  -- '' for an incident about the host itself (disk, memory, unreachable, DNS).
  app             text not null default '' check (app ~ '^[A-Za-z0-9._-]{0,64}$'),
  kind            text not null check (kind ~ '^[a-z][a-z0-9_.-]{0,31}$'),
  state           text not null default 'open' check (state in ('open', 'acknowledged', 'resolved')),
  summary         text not null default '' check (length(summary) <= 2000),
  opened_at       timestamptz not null default now(),
  acknowledged_at timestamptz,
  acknowledged_by text,
  resolved_at     timestamptz,
  -- "One open incident per (host, app, kind)": the key exists only while the incident is not
  -- resolved, and NULLs never collide, so resolved incidents pile up as history. It is a unique
  -- constraint on a generated column rather than a partial unique index because PostgREST's
  -- on_conflict cannot carry an index predicate (supabase/postgrest-js#403), and open-or-get must
  -- be an `upsert(..., { onConflict: 'open_key', ignoreDuplicates: true })`.
  open_key        text generated always as (
                    case when state <> 'resolved' then kind || ':' || host || ':' || app end
                  ) stored,
  constraint incidents_open_key unique (open_key),
  constraint incidents_lifecycle check (
    (state = 'open'         and acknowledged_at is null and resolved_at is null) or
    (state = 'acknowledged' and acknowledged_at is not null and resolved_at is null) or
    (state = 'resolved'     and resolved_at is not null)
  )
);
create index incidents_opened_at on public.incidents (opened_at);
create index incidents_resolved_at on public.incidents (resolved_at) where resolved_at is not null;

comment on table public.incidents is
  'Jaga incidents: one open per (host, app, kind); open -> acknowledged -> resolved. Written by the Jaga server only.';

-------------------------------------------------------------------------------------------------
-- command_audit: every chat command, who ran it, where, how it ended. Arguments arrive masked.
-------------------------------------------------------------------------------------------------
create table public.command_audit (
  id          bigint generated always as identity primary key,
  -- Chosen by Jaga when the command ran: a replay after a lost response is a no-op upsert.
  uid         uuid not null unique default gen_random_uuid(),
  at          timestamptz not null,
  actor       text not null,
  actor_name  text not null,
  command     text not null,
  args        text not null default '{}',
  host        text,
  outcome     text not null check (outcome in ('ok', 'error', 'denied', 'invalid', 'timeout')),
  duration_ms integer not null check (duration_ms >= 0),
  error_id    text
);
create index command_audit_at on public.command_audit (at desc);

comment on table public.command_audit is 'Jaga chat command audit log (arguments already masked). Written by the Jaga server only.';

-------------------------------------------------------------------------------------------------
-- blocked_ktp: blocked NIKs, with history.
--
-- Unblocking never deletes: it closes the block by setting unblocked_at / unblocked_by (and an
-- optional unblock_reason). A NIK is blocked while it has a row with unblocked_at IS NULL; all
-- its rows, newest first, are its history. Blocking it again later inserts a new row. Nobody has
-- DELETE, so the history cannot be rewritten through the API.
-------------------------------------------------------------------------------------------------
create table public.blocked_ktp (
  id             bigint generated always as identity primary key,
  nik            text not null constraint blocked_ktp_nik_format check (nik ~ '^[0-9]{16}$'),
  reason         text not null default '' check (length(reason) <= 500),
  blocked_by     text not null check (length(blocked_by) between 1 and 100),
  blocked_at     timestamptz not null default now(),
  unblocked_at   timestamptz,
  unblocked_by   text check (length(unblocked_by) between 1 and 100),
  unblock_reason text check (length(unblock_reason) <= 500),
  -- The active NIK, NULL once unblocked: PostgREST-targetable twin of the partial index below,
  -- so `upsert(row, { onConflict: 'active_nik', ignoreDuplicates: true })` turns a duplicate
  -- block into a no-op instead of the 23505 error of seed report 001.
  active_nik     text generated always as (case when unblocked_at is null then nik end) stored,
  constraint blocked_ktp_active_nik unique (active_nik),
  constraint blocked_ktp_unblock_complete check ((unblocked_at is null) = (unblocked_by is null)),
  constraint blocked_ktp_unblock_after_block check (unblocked_at is null or unblocked_at >= blocked_at)
);
-- Unique while active: at most one open block per NIK. Also the index behind "is this NIK blocked?".
create unique index blocked_ktp_one_active_per_nik on public.blocked_ktp (nik) where unblocked_at is null;
-- History lookups: every block of a NIK, newest first.
create index blocked_ktp_nik_history on public.blocked_ktp (nik, blocked_at desc);

comment on table public.blocked_ktp is
  'Blocked NIKs. Active while unblocked_at is null; unblocking closes the row, never deletes it.';

-------------------------------------------------------------------------------------------------
-- Grants: tight, and explicit, because Supabase's default privileges grant ALL on new public
-- tables to anon and authenticated. RLS is the second lock, not the only one.
-------------------------------------------------------------------------------------------------
revoke all on table public.incidents, public.command_audit, public.blocked_ktp from public, anon, authenticated;

grant select on table public.incidents, public.command_audit, public.blocked_ktp to authenticated;
grant insert (nik, reason, blocked_by, blocked_at) on table public.blocked_ktp to authenticated;
grant update (unblocked_at, unblocked_by, unblock_reason) on table public.blocked_ktp to authenticated;

revoke all on table public.incidents, public.command_audit, public.blocked_ktp from service_role;
grant select, insert, update on table public.incidents, public.command_audit, public.blocked_ktp to service_role;

alter table public.incidents enable row level security;
alter table public.command_audit enable row level security;
alter table public.blocked_ktp enable row level security;

-- incidents: read for every Jaga role. No write policy: only the Jaga server (service_role) writes.
create policy incidents_read on public.incidents
  for select to authenticated
  using ((select jaga.jwt_role()) in ('viewer', 'operator', 'admin'));

-- command_audit: admins only, like /audit in chat.
create policy command_audit_read on public.command_audit
  for select to authenticated
  using ((select jaga.jwt_role()) = 'admin');

-- blocked_ktp: operators and admins read, and so do service clients (to check before inserting).
create policy blocked_ktp_read on public.blocked_ktp
  for select to authenticated
  using ((select jaga.jwt_role()) in ('operator', 'admin') or (select jaga.jwt_service()) is not null);

-- Admins and service clients insert active blocks only; the column grant above keeps unblock
-- columns out of an insert, and the check keeps blocked_by honest-looking (non-empty).
create policy blocked_ktp_insert on public.blocked_ktp
  for insert to authenticated
  with check (
    ((select jaga.jwt_role()) = 'admin' or (select jaga.jwt_service()) is not null)
    and unblocked_at is null
  );

-- Only admins unblock, and only an active block, once: the row must be closed by the update.
create policy blocked_ktp_unblock on public.blocked_ktp
  for update to authenticated
  using ((select jaga.jwt_role()) = 'admin' and unblocked_at is null)
  with check ((select jaga.jwt_role()) = 'admin' and unblocked_at is not null);
