-- Standby, continued: the outbox shared by the instances of one Jaga (src/standby/shared-outbox.ts),
-- so the alerts queued under one term are sent by whichever instance holds the next one. Same
-- conventions as 20261215080000_standby_lease.sql: schema `jaga` (not exposed by PostgREST), row-
-- level security on with no policy, functions SECURITY DEFINER with an empty search_path,
-- executable by service_role only, and every write fenced: it names the epoch it is made under,
-- and the database refuses it (SQLSTATE PT409) unless that is the lease's current epoch.
--
-- The rows mirror the embedded outbox (src/store/sqlite/outbox.ts) column for column; times are
-- epoch milliseconds, as there. Ids are global (one identity for every lease): they are only ever
-- compared within a lease, and their order is the queue's order.

create table jaga.outbox (
  lease        text not null check (lease ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  id           bigint generated always as identity primary key,
  chat_id      text not null check (length(chat_id) between 1 and 200),
  text         text not null check (length(text) <= 65536),
  dedupe_key   text check (length(dedupe_key) <= 500),
  created_at   bigint not null,
  sending_at   bigint,
  sent_at      bigint,
  attempts     integer not null default 0,
  last_error   text,
  next_at      bigint,
  acked_at     bigint,
  delivered_at bigint,
  dead_at      bigint,
  error_code   text,
  thread_key   text,
  edit_head    text,
  -- The term the row was last written under (set by jaga.fenced_write).
  epoch        bigint not null,
  -- Same key, same message: queued once per lease, sent or not.
  unique (lease, dedupe_key)
);
create index outbox_unsent on jaga.outbox (lease, id) where sent_at is null and dead_at is null;
create index outbox_unacked on jaga.outbox (lease, sent_at) where sent_at is not null and acked_at is null and dead_at is null;

-- WhatsApp message ids and outbox rows, both ways (one row may be several messages, one message
-- several coalesced rows), with each message's delivery state.
create table jaga.outbox_wa (
  lease     text not null,
  msg_id    text not null check (length(msg_id) between 1 and 200),
  outbox_id bigint not null references jaga.outbox (id) on delete cascade,
  state     text not null default 'written' check (state in ('written', 'acked', 'delivered', 'read', 'failed')),
  code      text,
  at        bigint not null,
  epoch     bigint not null,
  primary key (msg_id, outbox_id)
);
create index outbox_wa_row on jaga.outbox_wa (outbox_id);

alter table jaga.outbox enable row level security;
alter table jaga.outbox_wa enable row level security;
revoke all on table jaga.outbox, jaga.outbox_wa from public, anon, authenticated, service_role;
create trigger outbox_fenced before insert or update or delete on jaga.outbox for each row execute function jaga.fenced_write();
create trigger outbox_wa_fenced before insert or update or delete on jaga.outbox_wa for each row execute function jaga.fenced_write();

-- A row as the client reads it (the embedded outbox's row, with its message ids).
create or replace function jaga.outbox_json(o jaga.outbox) returns jsonb
  language sql stable
  set search_path = ''
as $$
  select jsonb_build_object(
    'id', o.id, 'chat_id', o.chat_id, 'text', o.text, 'dedupe_key', o.dedupe_key, 'created_at', o.created_at,
    'sending_at', o.sending_at, 'sent_at', o.sent_at, 'attempts', o.attempts, 'last_error', o.last_error,
    'thread_key', o.thread_key, 'edit_head', o.edit_head,
    'msg_ids', coalesce((select jsonb_agg(w.msg_id order by w.msg_id) from jaga.outbox_wa w where w.outbox_id = o.id), '[]'::jsonb))
$$;

-- Every write below starts the same way: the epoch for the trigger, then the fence itself (so a
-- write that touches no row is refused all the same: the caller learns it lost the lease).
create or replace function jaga.outbox_begin(p_name text, p_epoch bigint) returns void
  language plpgsql volatile security definer
  set search_path = ''
as $$
begin
  perform set_config('jaga.epoch', p_epoch::text, true);
  perform jaga.fence(p_name, p_epoch);
end
$$;

-- Queues a message; false when its dedupe key was queued before (sent or not).
create or replace function public.jaga_outbox_enqueue(
  p_name text, p_epoch bigint, p_chat_id text, p_text text, p_dedupe_key text, p_at bigint, p_thread text default null, p_edit text default null)
  returns boolean
  language plpgsql volatile security definer
  set search_path = ''
as $$
declare
  n integer;
begin
  perform jaga.outbox_begin(p_name, p_epoch);
  insert into jaga.outbox (lease, chat_id, text, dedupe_key, created_at, thread_key, edit_head, epoch)
  values (p_name, p_chat_id, p_text, p_dedupe_key, p_at, p_thread, case when p_thread is null then null else p_edit end, p_epoch)
  on conflict (lease, dedupe_key) do nothing;
  get diagnostics n = row_count;
  return n = 1;
end
$$;

-- One change of a row's send state, under `p_epoch`:
--   sending  a send begins (before the transport is called)     p_at
--   sent     the transport took it, under p_msg_ids              p_at, p_msg_ids
--   failed   not delivered, retried later                        p_error
--   retry    retried at p_at (next_at)                           p_error, p_code, p_at
--   dead     never re-sent                                       p_code, p_error, p_at
create or replace function public.jaga_outbox_mark(
  p_name text, p_epoch bigint, p_id bigint, p_step text, p_at bigint, p_error text default null, p_code text default null, p_msg_ids text[] default '{}')
  returns boolean
  language plpgsql volatile security definer
  set search_path = ''
as $$
declare
  n integer;
begin
  perform jaga.outbox_begin(p_name, p_epoch);
  if p_step = 'sending' then
    update jaga.outbox o set sending_at = p_at, attempts = o.attempts + 1 where o.lease = p_name and o.id = p_id;
  elsif p_step = 'sent' then
    update jaga.outbox o set sent_at = p_at, next_at = null where o.lease = p_name and o.id = p_id;
  elsif p_step = 'failed' then
    update jaga.outbox o set last_error = left(p_error, 500), sending_at = null where o.lease = p_name and o.id = p_id;
  elsif p_step = 'retry' then
    update jaga.outbox o set last_error = left(p_error, 500), error_code = p_code, next_at = p_at, sending_at = null, sent_at = null
     where o.lease = p_name and o.id = p_id;
  elsif p_step = 'dead' then
    update jaga.outbox o set error_code = p_code, last_error = left(p_error, 500), dead_at = p_at, sending_at = null
     where o.lease = p_name and o.id = p_id;
  else
    raise exception using errcode = '22023', message = format('jaga_outbox_mark: unknown step %s', p_step);
  end if;
  get diagnostics n = row_count;
  if p_step = 'sent' and n = 1 then
    insert into jaga.outbox_wa (lease, msg_id, outbox_id, state, at, epoch)
    select p_name, m, p_id, 'written', p_at, p_epoch from unnest(p_msg_ids) as m
    on conflict (msg_id, outbox_id) do update set state = 'written', code = null, at = excluded.at;
  end if;
  return n = 1;
end
$$;

-- A server ack, receipt or error for a WhatsApp message id, under `p_epoch`: what it changed,
-- per outbox row, as a JSON array of {outbox_id, state[, code, attempts]}. States only move
-- forward (a late ack after a read changes nothing), failure aside.
create or replace function public.jaga_outbox_record(p_name text, p_epoch bigint, p_msg_id text, p_state text, p_code text, p_at bigint)
  returns jsonb
  language plpgsql volatile security definer
  set search_path = ''
as $$
declare
  rank_ constant jsonb := '{"written":0,"acked":1,"delivered":2,"read":3,"failed":4}';
  w record;
  lowest integer;
  row_ jaga.outbox%rowtype;
  changes jsonb := '[]'::jsonb;
begin
  perform jaga.outbox_begin(p_name, p_epoch);
  for w in select x.outbox_id, x.state from jaga.outbox_wa x where x.lease = p_name and x.msg_id = p_msg_id order by x.outbox_id loop
    if p_state <> 'failed' and (rank_ ->> p_state)::int <= (rank_ ->> w.state)::int then continue; end if;
    update jaga.outbox_wa x set state = p_state, code = p_code, at = p_at where x.msg_id = p_msg_id and x.outbox_id = w.outbox_id;
    select * into row_ from jaga.outbox o where o.id = w.outbox_id;
    if p_state = 'failed' then
      changes := changes || jsonb_build_object('outbox_id', w.outbox_id, 'state', 'failed', 'code', coalesce(p_code, 'error'), 'attempts', row_.attempts);
      continue;
    end if;
    select coalesce(min((rank_ ->> x.state)::int), 0) into lowest from jaga.outbox_wa x where x.outbox_id = w.outbox_id;
    -- The row is acked once every message of it is; delivered once every one is.
    if lowest >= 1 and row_.acked_at is null then update jaga.outbox o set acked_at = p_at where o.id = w.outbox_id; end if;
    if lowest >= 2 then update jaga.outbox o set delivered_at = coalesce(o.delivered_at, p_at) where o.id = w.outbox_id; end if;
    changes := changes || jsonb_build_object('outbox_id', w.outbox_id, 'state', p_state);
  end loop;
  return changes;
end
$$;

-- Reads (unfenced: anyone holding the service role may look): a JSON array of rows, oldest first.
--   pending  unsent, not dead, due by p_at (next_at)     p_at, p_limit
--   unacked  written before p_at, no server ack yet       p_at, p_limit
--   id       the row p_id                                 p_id
--   key      the row queued under p_key                   p_key
--   msg      the rows sent under WhatsApp id p_key        p_key
-- One scalar per call, so a project's "max rows" setting never cuts it short.
create or replace function public.jaga_outbox_select(
  p_name text, p_what text, p_at bigint default 0, p_limit integer default 100, p_id bigint default 0, p_key text default '')
  returns jsonb
  language sql stable security definer
  set search_path = ''
as $$
  select coalesce(jsonb_agg(jaga.outbox_json(o) order by o.id), '[]'::jsonb)
    from (select * from jaga.outbox o
           where o.lease = p_name and case p_what
             when 'pending' then o.sent_at is null and o.dead_at is null and coalesce(o.next_at, 0) <= p_at
             when 'unacked' then o.sent_at is not null and o.sent_at < p_at and o.acked_at is null and o.dead_at is null
                                 and exists (select 1 from jaga.outbox_wa w where w.outbox_id = o.id)
             when 'id' then o.id = p_id
             when 'key' then o.dedupe_key = p_key
             when 'msg' then o.id in (select w.outbox_id from jaga.outbox_wa w where w.lease = p_name and w.msg_id = p_key)
             else false end
           order by o.id
           limit least(greatest(p_limit, 1), 1000)) o
$$;

-- Where the queue stands, for /wa, /health and /metrics.
create or replace function public.jaga_outbox_stats(p_name text)
  returns jsonb
  language sql stable security definer
  set search_path = ''
as $$
  select jsonb_build_object(
    'queued', count(*) filter (where o.sent_at is null and o.dead_at is null),
    'unacked', count(*) filter (where o.sent_at is not null and o.acked_at is null and o.dead_at is null
                                and exists (select 1 from jaga.outbox_wa w where w.outbox_id = o.id)),
    'retrying', count(*) filter (where o.sent_at is null and o.dead_at is null and o.next_at is not null),
    'dead', count(*) filter (where o.dead_at is not null),
    'oldest', min(o.created_at) filter (where o.sent_at is null and o.dead_at is null))
  from jaga.outbox o where o.lease = p_name
$$;

revoke all on function jaga.outbox_json(jaga.outbox) from public, anon, authenticated;
revoke all on function jaga.outbox_begin(text, bigint) from public, anon, authenticated;
revoke all on function public.jaga_outbox_enqueue(text, bigint, text, text, text, bigint, text, text) from public, anon, authenticated;
revoke all on function public.jaga_outbox_mark(text, bigint, bigint, text, bigint, text, text, text[]) from public, anon, authenticated;
revoke all on function public.jaga_outbox_record(text, bigint, text, text, text, bigint) from public, anon, authenticated;
revoke all on function public.jaga_outbox_select(text, text, bigint, integer, bigint, text) from public, anon, authenticated;
revoke all on function public.jaga_outbox_stats(text) from public, anon, authenticated;

grant execute on function public.jaga_outbox_enqueue(text, bigint, text, text, text, bigint, text, text) to service_role;
grant execute on function public.jaga_outbox_mark(text, bigint, bigint, text, bigint, text, text, text[]) to service_role;
grant execute on function public.jaga_outbox_record(text, bigint, text, text, text, bigint) to service_role;
grant execute on function public.jaga_outbox_select(text, text, bigint, integer, bigint, text) to service_role;
grant execute on function public.jaga_outbox_stats(text) to service_role;
