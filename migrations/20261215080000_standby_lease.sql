-- Standby: two or more Jaga instances, exactly one active. The active one holds a lease in this
-- database; with it go the WhatsApp socket, the alert sending and the command handling. The
-- others watch, answer /health, and take over when the lease is handed over or runs out.
--
-- The lease is a row: owner, a monotonically increasing epoch, an expiry. It is claimed and
-- renewed by ONE conditional statement (INSERT … ON CONFLICT DO UPDATE … WHERE the lease is
-- free, or already ours), so two claimers can never both win: PostgreSQL serialises them on the
-- row, and the loser's WHERE sees the winner's row. The epoch is a fencing token: it goes up by
-- one with every new term (another owner, or the same owner after its lease ran out), and every
-- write of shared state names the epoch it was made under; a write under an older epoch is
-- refused by the database itself (jaga.fence, and the trigger on every shared table), so a
-- holder that lost the lease without knowing it cannot touch what the new holder owns.
--
-- Who may do what:
--   anon, authenticated (signed-in people and service clients such as the KJP bot): nothing.
--                  The tables live in schema `jaga`, which PostgREST does not expose, and the
--                  functions below are executable by service_role only. A service client must
--                  not be able to take Jaga's lease, nor write its WhatsApp session.
--   service_role   the Jaga server (SUPABASE_SERVICE_ROLE_KEY), through PostgREST's /rpc.
--   a direct connection (JAGA_DATABASE_URL: the database owner, `postgres` on Supabase) calls
--                  the same functions, and may also hold the session advisory lock.
-- The functions are SECURITY DEFINER with an empty search_path, so service_role needs no grant
-- on the tables at all: what it can do is exactly what these functions do. Row-level security is
-- enabled on every table with no policy, a second lock should a grant ever be added by mistake.

-------------------------------------------------------------------------------------------------
-- The lease.
-------------------------------------------------------------------------------------------------
create table jaga.lease (
  name            text primary key check (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  -- `<instance>#<boot id>`: a restarted process is a new owner, so it never inherits a term
  -- that a twin of it (the same config started twice) might still be acting on.
  owner           text not null check (length(owner) between 1 and 200),
  epoch           bigint not null check (epoch >= 1),
  acquired_at     timestamptz not null,
  renewed_at      timestamptz not null,
  expires_at      timestamptz not null,
  -- Set by jaga_lease_release (a clean handover): the lease is free from that moment.
  released_at     timestamptz,
  -- The holder's own database session, when it holds the lease over a direct connection with
  -- the session advisory lock: once that session is gone the lease is free at once, without
  -- waiting for expires_at. Null for a holder that claims through PostgREST.
  session_pid     integer,
  session_start   timestamptz,
  -- The term before this one, for the new holder's first message: who, last heard of when, how
  -- it ended (released: a handover; expired: it went silent; session: its connection died).
  prev_owner      text,
  prev_renewed_at timestamptz,
  prev_end        text check (prev_end in ('released', 'expired', 'session'))
);
comment on table jaga.lease is 'Jaga standby leases: who is active, under which epoch (fencing token), until when.';

-- Every instance, active or standby, says it is alive here on each of its lease rounds, so each
-- one can report the others in /status and /health.
create table jaga.lease_member (
  lease      text not null check (lease ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  owner      text not null check (length(owner) between 1 and 200),
  role       text not null check (role in ('active', 'standby', 'stopping')),
  started_at timestamptz not null,
  seen_at    timestamptz not null,
  primary key (lease, owner)
);

alter table jaga.lease enable row level security;
alter table jaga.lease_member enable row level security;
revoke all on table jaga.lease, jaga.lease_member from public, anon, authenticated, service_role;

-- The session advisory lock that goes with a lease: one bigint key per lease name.
create or replace function jaga.lease_lock_key(p_name text) returns bigint
  language sql immutable parallel safe
  set search_path = ''
as $$ select pg_catalog.hashtextextended('jaga.lease:' || p_name, 0) $$;

-- Does this session hold the lease's advisory lock? (pg_locks shows a bigint key as its high
-- and low halves, classid and objid, with objsubid 1.)
create or replace function jaga.holds_lease_lock(p_name text) returns boolean
  language sql stable
  set search_path = ''
as $$
  select exists (
    select 1 from pg_catalog.pg_locks l
     where l.locktype = 'advisory' and l.pid = pg_catalog.pg_backend_pid() and l.granted and l.objsubid = 1
       and ((l.classid::bigint << 32) | l.objid::bigint) = jaga.lease_lock_key(p_name)
  )
$$;

-------------------------------------------------------------------------------------------------
-- jaga_lease_claim: claim the lease, or renew it, or learn who holds it. One statement decides.
--
--   held      true: the caller holds the lease until expires_at, under `epoch`.
--             false: someone else does; the other columns describe their term.
--   p_session true (direct connections only): record this session as the holder's, so that the
--             lease is free the moment the session ends. The caller must hold the lease's
--             advisory lock (jaga_lease_lock) in this same session, or the claim is refused.
-------------------------------------------------------------------------------------------------
create or replace function public.jaga_lease_claim(p_name text, p_owner text, p_ttl_ms integer, p_session boolean default false)
  returns table (
    held boolean, epoch bigint, owner text, acquired_at timestamptz, renewed_at timestamptz, expires_at timestamptz,
    prev_owner text, prev_renewed_at timestamptz, prev_end text, db_now timestamptz
  )
  language plpgsql volatile security definer
  set search_path = ''
as $$
#variable_conflict use_column
declare
  ttl interval;
  my_pid integer;
  my_start timestamptz;
  row_ jaga.lease%rowtype;
begin
  if p_ttl_ms is null or p_ttl_ms < 1000 or p_ttl_ms > 3600000 then
    raise exception using errcode = '22023', message = format('jaga_lease_claim: ttl_ms must be 1000..3600000 (got %s)', p_ttl_ms);
  end if;
  ttl := make_interval(secs => p_ttl_ms / 1000.0);
  if p_session then
    if not jaga.holds_lease_lock(p_name) then
      raise exception using errcode = '55P03', message = 'jaga_lease_claim: p_session needs the lease''s advisory lock in this session (jaga_lease_lock)';
    end if;
    my_pid := pg_catalog.pg_backend_pid();
    select a.backend_start into my_start from pg_catalog.pg_stat_activity a where a.pid = my_pid;
  end if;

  insert into jaga.lease as l (name, owner, epoch, acquired_at, renewed_at, expires_at, session_pid, session_start)
  values (p_name, p_owner, 1, now(), now(), now() + ttl, my_pid, my_start)
  on conflict on constraint lease_pkey do update set
    owner = excluded.owner,
    -- A renewal keeps the epoch; every new term (another owner, or this one after its lease ran
    -- out or was released) takes the next one.
    epoch = case when l.owner = excluded.owner and l.expires_at > now() and l.released_at is null then l.epoch else l.epoch + 1 end,
    acquired_at = case when l.owner = excluded.owner and l.expires_at > now() and l.released_at is null then l.acquired_at else now() end,
    renewed_at = now(),
    expires_at = now() + ttl,
    released_at = null,
    session_pid = excluded.session_pid,
    session_start = excluded.session_start,
    prev_owner = case when l.owner = excluded.owner and l.expires_at > now() and l.released_at is null then l.prev_owner else l.owner end,
    prev_renewed_at = case when l.owner = excluded.owner and l.expires_at > now() and l.released_at is null then l.prev_renewed_at else l.renewed_at end,
    prev_end = case
      when l.owner = excluded.owner and l.expires_at > now() and l.released_at is null then l.prev_end
      when l.released_at is not null then 'released'
      when l.expires_at <= now() then 'expired'
      else 'session' end
  where
    -- ours, still running: a renewal
    (l.owner = excluded.owner and l.expires_at > now() and l.released_at is null)
    -- free: handed over, or ran out
    or l.released_at is not null
    or l.expires_at <= now()
    -- its holder's database session is gone (it held the advisory lock; the lock went with it)
    or (l.session_pid is not null and not exists (
          select 1 from pg_catalog.pg_stat_activity a where a.pid = l.session_pid and a.backend_start = l.session_start))
  returning l.* into row_;

  if found then
    return query select true, row_.epoch, row_.owner, row_.acquired_at, row_.renewed_at, row_.expires_at,
                        row_.prev_owner, row_.prev_renewed_at, row_.prev_end, now();
  else
    return query select false, l.epoch, l.owner, l.acquired_at, l.renewed_at, l.expires_at, l.prev_owner, l.prev_renewed_at, l.prev_end, now()
                   from jaga.lease l where l.name = p_name;
  end if;
end
$$;

-- Hands the lease over at once (SIGTERM): only the holder, only its own term. True when released.
create or replace function public.jaga_lease_release(p_name text, p_owner text, p_epoch bigint)
  returns boolean
  language sql volatile security definer
  set search_path = ''
as $$
  with released as (
    update jaga.lease l set released_at = now(), expires_at = least(l.expires_at, now()), session_pid = null, session_start = null
     where l.name = p_name and l.owner = p_owner and l.epoch = p_epoch and l.released_at is null
     returning 1
  )
  select exists (select 1 from released)
$$;

-- The lease's session advisory lock, for direct connections: true when this session now holds it.
create or replace function public.jaga_lease_lock(p_name text)
  returns boolean
  language sql volatile
  set search_path = ''
as $$ select pg_catalog.pg_try_advisory_lock(jaga.lease_lock_key(p_name)) $$;

create or replace function public.jaga_lease_unlock(p_name text)
  returns boolean
  language sql volatile
  set search_path = ''
as $$ select case when jaga.holds_lease_lock(p_name) then pg_catalog.pg_advisory_unlock(jaga.lease_lock_key(p_name)) else false end $$;

-- "I am here, as active/standby/stopping": upserts the caller's member row and answers with every
-- member heard of within the last day (older rows are removed), with the lease's current row.
create or replace function public.jaga_lease_beat(p_name text, p_owner text, p_role text, p_started_at timestamptz)
  returns table (owner text, role text, started_at timestamptz, seen_at timestamptz, db_now timestamptz)
  language plpgsql volatile security definer
  set search_path = ''
as $$
#variable_conflict use_column
begin
  insert into jaga.lease_member as m (lease, owner, role, started_at, seen_at)
  values (p_name, p_owner, p_role, p_started_at, now())
  on conflict on constraint lease_member_pkey do update set role = excluded.role, seen_at = now();
  delete from jaga.lease_member m where m.lease = p_name and m.seen_at < now() - interval '1 day';
  return query select m.owner, m.role, m.started_at, m.seen_at, now() from jaga.lease_member m where m.lease = p_name order by m.started_at;
end
$$;

-------------------------------------------------------------------------------------------------
-- Fencing. jaga.fence(name, epoch) passes only for the lease's current epoch, and holds a share
-- lock on the lease row until the writer's transaction ends: a claim that would start a new term
-- waits for the write to commit, so the new holder always reads it, and a write that comes after
-- the new term began is refused (SQLSTATE PT409, which PostgREST answers as HTTP 409).
-------------------------------------------------------------------------------------------------
create or replace function jaga.fence(p_name text, p_epoch bigint) returns void
  language plpgsql volatile security definer
  set search_path = ''
as $$
declare
  current_epoch bigint;
begin
  select l.epoch into current_epoch from jaga.lease l where l.name = p_name for share;
  if current_epoch is null or p_epoch is null or current_epoch <> p_epoch then
    raise exception using
      errcode = 'PT409',
      message = format('jaga: write fenced off: epoch %s is not the current epoch of lease %s (%s)', coalesce(p_epoch::text, 'none'), p_name, coalesce(current_epoch::text, 'none')),
      hint = 'another Jaga instance holds the lease now';
  end if;
end
$$;

-- The trigger on every shared table: the writer declares its epoch for the transaction
-- (set_config('jaga.epoch', …, true), which the write functions below do), and a row is only
-- written, changed or removed under the lease's current epoch. A plain INSERT without it fails.
create or replace function jaga.fenced_write() returns trigger
  language plpgsql security definer
  set search_path = ''
as $$
declare
  e bigint := nullif(current_setting('jaga.epoch', true), '')::bigint;
begin
  if tg_op = 'DELETE' then
    perform jaga.fence(old.lease, e);
    return old;
  end if;
  perform jaga.fence(new.lease, e);
  new.epoch := e;
  return new;
end
$$;

-------------------------------------------------------------------------------------------------
-- WhatsApp's session, shared: credentials and Signal keys, one row per key, as the embedded store
-- keeps them (src/store/sqlite/wa-auth.ts). Only the holder writes; a new holder reads them all
-- before it opens its socket, so it continues the same session without pairing again.
-------------------------------------------------------------------------------------------------
create table jaga.wa_auth (
  lease text not null,
  kind  text not null check (length(kind) between 1 and 64),
  id    text not null check (length(id) <= 512),
  value text not null,
  epoch bigint not null,
  primary key (lease, kind, id)
);
alter table jaga.wa_auth enable row level security;
revoke all on table jaga.wa_auth from public, anon, authenticated, service_role;
create trigger wa_auth_fenced before insert or update or delete on jaga.wa_auth for each row execute function jaga.fenced_write();

-- Writes and deletes (value null) in one transaction, under `p_epoch`. Rows: [{kind, id, value}].
create or replace function public.jaga_wa_auth_put(p_name text, p_epoch bigint, p_rows jsonb)
  returns integer
  language plpgsql volatile security definer
  set search_path = ''
as $$
begin
  perform set_config('jaga.epoch', p_epoch::text, true);
  perform jaga.fence(p_name, p_epoch);
  delete from jaga.wa_auth a
   using jsonb_to_recordset(p_rows) as r(kind text, id text, value text)
   where r.value is null and a.lease = p_name and a.kind = r.kind and a.id = r.id;
  insert into jaga.wa_auth (lease, kind, id, value, epoch)
  select p_name, r.kind, r.id, r.value, p_epoch from jsonb_to_recordset(p_rows) as r(kind text, id text, value text) where r.value is not null
  on conflict (lease, kind, id) do update set value = excluded.value;
  return jsonb_array_length(p_rows);
end
$$;

-- Forgets the session (a logout), under `p_epoch`; `p_keep` kinds stay (Jaga's own values).
create or replace function public.jaga_wa_auth_clear(p_name text, p_epoch bigint, p_keep text[] default '{}')
  returns integer
  language plpgsql volatile security definer
  set search_path = ''
as $$
declare
  n integer;
begin
  perform set_config('jaga.epoch', p_epoch::text, true);
  perform jaga.fence(p_name, p_epoch);
  delete from jaga.wa_auth a where a.lease = p_name and not (a.kind = any (p_keep));
  get diagnostics n = row_count;
  return n;
end
$$;

-- One page of the session, in key order after (p_kind, p_id): a JSON array of [kind, id, value].
-- One scalar per call, so a project's "max rows" setting never cuts it short.
create or replace function public.jaga_wa_auth_page(p_name text, p_kind text default '', p_id text default '', p_limit integer default 500)
  returns jsonb
  language sql stable security definer
  set search_path = ''
as $$
  select coalesce(jsonb_agg(jsonb_build_array(a.kind, a.id, a.value) order by a.kind, a.id), '[]'::jsonb)
    from (select * from jaga.wa_auth a
           where a.lease = p_name and (a.kind, a.id) > (p_kind, p_id)
           order by a.kind, a.id
           limit least(greatest(p_limit, 1), 2000)) a
$$;

-------------------------------------------------------------------------------------------------
-- Grants: only the Jaga server (service_role) executes these; direct connections run as the
-- owner. Functions are executable by PUBLIC by default, hence the explicit revoke.
-------------------------------------------------------------------------------------------------
revoke all on function public.jaga_lease_claim(text, text, integer, boolean) from public, anon, authenticated;
revoke all on function public.jaga_lease_release(text, text, bigint) from public, anon, authenticated;
revoke all on function public.jaga_lease_lock(text) from public, anon, authenticated, service_role;
revoke all on function public.jaga_lease_unlock(text) from public, anon, authenticated, service_role;
revoke all on function public.jaga_lease_beat(text, text, text, timestamptz) from public, anon, authenticated;
revoke all on function public.jaga_wa_auth_put(text, bigint, jsonb) from public, anon, authenticated;
revoke all on function public.jaga_wa_auth_clear(text, bigint, text[]) from public, anon, authenticated;
revoke all on function public.jaga_wa_auth_page(text, text, text, integer) from public, anon, authenticated;
revoke all on function jaga.lease_lock_key(text) from public, anon, authenticated;
revoke all on function jaga.holds_lease_lock(text) from public, anon, authenticated;
revoke all on function jaga.fence(text, bigint) from public, anon, authenticated;
revoke all on function jaga.fenced_write() from public, anon, authenticated;

grant execute on function public.jaga_lease_claim(text, text, integer, boolean) to service_role;
grant execute on function public.jaga_lease_release(text, text, bigint) to service_role;
grant execute on function public.jaga_lease_beat(text, text, text, timestamptz) to service_role;
grant execute on function public.jaga_wa_auth_put(text, bigint, jsonb) to service_role;
grant execute on function public.jaga_wa_auth_clear(text, bigint, text[]) to service_role;
grant execute on function public.jaga_wa_auth_page(text, text, text, integer) to service_role;
-- jaga_lease_lock/unlock are for direct connections only: through PostgREST a pooled session
-- would hold the lock, never released. service_role does not get them.
