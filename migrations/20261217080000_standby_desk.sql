-- Standby, continued: the incident desk shared by the instances of one Jaga
-- (src/standby/shared-incidents.ts), so the instance that takes over continues the incidents the
-- old one opened — same numbers, same threads, no second opening alert — and queues their
-- reminders and resolutions in the shared outbox. Same conventions as
-- 20261215080000_standby_lease.sql: schema `jaga`, row-level security on with no policy,
-- SECURITY DEFINER functions with an empty search_path for service_role only, every write fenced.
--
-- Why every change and its alert are ONE function call: the embedded store commits an incident
-- change and its outbox row in one SQLite transaction, so a crash keeps both or neither. Through
-- PostgREST every call is its own transaction, so the client renders the alert first, from the
-- incident as the change will leave it (the number the next incident gets, the state after an
-- ack), and the function commits change and alert together — or neither, when the incident is
-- no longer what the client rendered from (its `version`, or the number taken meanwhile), and
-- the client reads again and renders again.

create table jaga.incident (
  lease           text not null check (lease ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  -- The short number chat shows (#12): consecutive within a lease.
  id              bigint not null check (id > 0),
  uid             uuid not null,
  host            text not null check (host ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  app             text not null default '' check (app ~ '^[A-Za-z0-9._-]{0,64}$'),
  kind            text not null check (kind ~ '^[a-z][a-z0-9_.-]{0,31}$'),
  state           text not null default 'open' check (state in ('open', 'acknowledged', 'resolved')),
  summary         text not null default '' check (length(summary) <= 2000),
  opened_at       bigint not null,
  acknowledged_at bigint,
  acknowledged_by text check (length(acknowledged_by) <= 200),
  resolved_at     bigint,
  -- What was known when it opened: masked and bounded by the desk (at most 40 lines, 4 KB).
  evidence        jsonb not null default '[]'::jsonb check (jsonb_typeof(evidence) = 'array' and length(evidence::text) <= 16384),
  -- Goes up with every change of state: a client's render is only committed against the version it read.
  version         integer not null default 1,
  epoch           bigint not null,
  primary key (lease, id),
  unique (lease, uid),
  constraint incident_lifecycle check (
    (state = 'open'         and acknowledged_at is null and resolved_at is null) or
    (state = 'acknowledged' and acknowledged_at is not null and resolved_at is null) or
    (state = 'resolved'     and resolved_at is not null)
  )
);
-- One incident not yet resolved per (host, app, kind) and lease.
create unique index incident_one_open on jaga.incident (lease, host, app, kind) where state <> 'resolved';
create index incident_resolved_at on jaga.incident (lease, resolved_at) where resolved_at is not null;

create table jaga.incident_event (
  lease       text not null,
  incident_id bigint not null,
  seq         bigint generated always as identity primary key,
  at          bigint not null,
  kind        text not null check (kind in ('opened', 'reminded', 'acknowledged', 'action', 'resolved')),
  by          text check (length(by) <= 200),
  detail      text check (length(detail) <= 500),
  epoch       bigint not null,
  foreign key (lease, incident_id) references jaga.incident (lease, id) on delete cascade
);
create index incident_event_of on jaga.incident_event (lease, incident_id, seq);

alter table jaga.incident enable row level security;
alter table jaga.incident_event enable row level security;
revoke all on table jaga.incident, jaga.incident_event from public, anon, authenticated, service_role;
create trigger incident_fenced before insert or update or delete on jaga.incident for each row execute function jaga.fenced_write();
create trigger incident_event_fenced before insert or update or delete on jaga.incident_event for each row execute function jaga.fenced_write();

-- An incident as the client reads it (src/store/store.ts Incident, with its version).
create or replace function jaga.incident_json(i jaga.incident) returns jsonb
  language sql stable
  set search_path = ''
as $$
  select jsonb_build_object(
    'id', i.id, 'uid', i.uid, 'host', i.host, 'app', i.app, 'kind', i.kind, 'state', i.state, 'summary', i.summary,
    'opened_at', i.opened_at, 'acknowledged_at', i.acknowledged_at, 'acknowledged_by', i.acknowledged_by,
    'resolved_at', i.resolved_at, 'version', i.version)
$$;

-- Queues an incident's message (p_alert: {chat_id, text, dedupe_key, thread, edit}) in the
-- shared outbox, in the caller's transaction; false when its key was queued before.
create or replace function jaga.incident_alert(p_name text, p_epoch bigint, p_alert jsonb, p_at bigint) returns boolean
  language plpgsql volatile security definer
  set search_path = ''
as $$
begin
  if p_alert is null or jsonb_typeof(p_alert) <> 'object' then return false; end if;
  return public.jaga_outbox_enqueue(p_name, p_epoch, p_alert ->> 'chat_id', p_alert ->> 'text', p_alert ->> 'dedupe_key', p_at,
                                    p_alert ->> 'thread', p_alert ->> 'edit');
end
$$;

-- What an opening needs to know first (unfenced read): the incident open for the key, if any,
-- and the number the next incident of this lease gets.
create or replace function public.jaga_incident_peek(p_name text, p_host text, p_app text, p_kind text)
  returns jsonb
  language sql stable security definer
  set search_path = ''
as $$
  select jsonb_build_object(
    'open', (select jaga.incident_json(i) from jaga.incident i
              where i.lease = p_name and i.host = p_host and i.app = p_app and i.kind = p_kind and i.state <> 'resolved'),
    'next', (select coalesce(max(i.id), 0) + 1 from jaga.incident i where i.lease = p_name))
$$;

-- Opens an incident numbered p_id, with its evidence, its `opened` event and its alert, under
-- p_epoch — or changes nothing and says why: {created: false, incident} when one is open for the
-- key; {created: false, next} when p_id is no longer the next number (render again with it).
create or replace function public.jaga_incident_open(
  p_name text, p_epoch bigint, p_host text, p_app text, p_kind text, p_uid text, p_id bigint,
  p_summary text, p_at bigint, p_evidence jsonb default '[]'::jsonb, p_alert jsonb default null)
  returns jsonb
  language plpgsql volatile security definer
  set search_path = ''
as $$
declare
  row_ jaga.incident%rowtype;
  next_ bigint;
begin
  perform jaga.outbox_begin(p_name, p_epoch);
  -- Openings of one lease one at a time: the number and the one-open-per-key rule are read and
  -- written by the same transaction.
  perform pg_advisory_xact_lock(hashtextextended('jaga.incident:' || p_name, 0));
  select * into row_ from jaga.incident i
   where i.lease = p_name and i.host = p_host and i.app = p_app and i.kind = p_kind and i.state <> 'resolved';
  if found then return jsonb_build_object('created', false, 'incident', jaga.incident_json(row_)); end if;
  select coalesce(max(i.id), 0) + 1 into next_ from jaga.incident i where i.lease = p_name;
  if p_id is distinct from next_ then return jsonb_build_object('created', false, 'next', next_); end if;
  insert into jaga.incident (lease, id, uid, host, app, kind, summary, opened_at, evidence, epoch)
  values (p_name, p_id, p_uid::uuid, p_host, p_app, p_kind, coalesce(p_summary, ''), p_at, coalesce(p_evidence, '[]'::jsonb), p_epoch)
  returning * into row_;
  insert into jaga.incident_event (lease, incident_id, at, kind, epoch) values (p_name, p_id, p_at, 'opened', p_epoch);
  perform jaga.incident_alert(p_name, p_epoch, p_alert, p_at);
  return jsonb_build_object('created', true, 'incident', jaga.incident_json(row_));
end
$$;

-- One change of incident p_id, under p_epoch, committed with its alert only if the incident is
-- still at p_version (else {stale: true, incident}: read again, render again):
--   ack      open -> acknowledged by p_by             event `acknowledged`
--   resolve  open|acknowledged -> resolved            event `resolved` (p_detail: the quiet time)
--   notify   no change; the alert only (a reminder)   event `reminded`, when a row was queued
--   event    no change, no alert; event p_event_kind by p_by with p_detail (an action run)
-- Returns {incident, changed, queued}; {incident: null} when there is no such incident.
create or replace function public.jaga_incident_change(
  p_name text, p_epoch bigint, p_id bigint, p_op text, p_version integer, p_at bigint,
  p_by text default null, p_detail text default null, p_alert jsonb default null, p_event_kind text default null)
  returns jsonb
  language plpgsql volatile security definer
  set search_path = ''
as $$
declare
  row_ jaga.incident%rowtype;
  changed boolean := false;
  queued boolean := false;
begin
  perform jaga.outbox_begin(p_name, p_epoch);
  select * into row_ from jaga.incident i where i.lease = p_name and i.id = p_id for update;
  if not found then return jsonb_build_object('incident', null); end if;
  if p_op = 'event' then
    insert into jaga.incident_event (lease, incident_id, at, kind, by, detail, epoch)
    values (p_name, p_id, p_at, p_event_kind, left(p_by, 200), left(p_detail, 500), p_epoch);
    return jsonb_build_object('incident', jaga.incident_json(row_), 'changed', false, 'queued', false);
  end if;
  if p_version is distinct from row_.version then
    return jsonb_build_object('stale', true, 'incident', jaga.incident_json(row_));
  end if;
  if p_op = 'ack' then
    if row_.state = 'open' then
      update jaga.incident i set state = 'acknowledged', acknowledged_at = p_at, acknowledged_by = left(p_by, 200), version = i.version + 1
       where i.lease = p_name and i.id = p_id returning * into row_;
      insert into jaga.incident_event (lease, incident_id, at, kind, by, epoch) values (p_name, p_id, p_at, 'acknowledged', left(p_by, 200), p_epoch);
      changed := true;
    end if;
  elsif p_op = 'resolve' then
    if row_.state <> 'resolved' then
      update jaga.incident i set state = 'resolved', resolved_at = p_at, version = i.version + 1
       where i.lease = p_name and i.id = p_id returning * into row_;
      insert into jaga.incident_event (lease, incident_id, at, kind, detail, epoch) values (p_name, p_id, p_at, 'resolved', p_detail, p_epoch);
      changed := true;
    end if;
  elsif p_op = 'notify' then
    queued := jaga.incident_alert(p_name, p_epoch, p_alert, p_at);
    if queued then
      insert into jaga.incident_event (lease, incident_id, at, kind, epoch) values (p_name, p_id, p_at, 'reminded', p_epoch);
    end if;
    return jsonb_build_object('incident', jaga.incident_json(row_), 'changed', false, 'queued', queued);
  else
    raise exception using errcode = '22023', message = format('jaga_incident_change: unknown op %s', p_op);
  end if;
  if changed then queued := jaga.incident_alert(p_name, p_epoch, p_alert, p_at); end if;
  return jsonb_build_object('incident', jaga.incident_json(row_), 'changed', changed, 'queued', queued);
end
$$;

-- Reads (unfenced): a JSON array of incidents.
--   id     the incident p_id
--   open   open and acknowledged, oldest first
--   since  opened or resolved at or after p_at, oldest opened first
create or replace function public.jaga_incident_select(p_name text, p_what text, p_id bigint default 0, p_at bigint default 0)
  returns jsonb
  language sql stable security definer
  set search_path = ''
as $$
  select coalesce(jsonb_agg(jaga.incident_json(i) order by i.opened_at, i.id), '[]'::jsonb)
    from jaga.incident i
   where i.lease = p_name and case p_what
     when 'id' then i.id = p_id
     when 'open' then i.state <> 'resolved'
     when 'since' then i.opened_at >= p_at or i.resolved_at >= p_at
     else false end
$$;

-- The evidence kept when incident p_id opened and its timeline, oldest event first; null when
-- there is no such incident.
create or replace function public.jaga_incident_timeline(p_name text, p_id bigint)
  returns jsonb
  language sql stable security definer
  set search_path = ''
as $$
  select jsonb_build_object(
    'evidence', i.evidence,
    'events', coalesce((select jsonb_agg(jsonb_build_object('at', e.at, 'kind', e.kind, 'by', e.by, 'detail', e.detail) order by e.seq)
                          from jaga.incident_event e where e.lease = p_name and e.incident_id = p_id), '[]'::jsonb))
    from jaga.incident i where i.lease = p_name and i.id = p_id
$$;

revoke all on function jaga.incident_json(jaga.incident) from public, anon, authenticated;
revoke all on function jaga.incident_alert(text, bigint, jsonb, bigint) from public, anon, authenticated;
revoke all on function public.jaga_incident_peek(text, text, text, text) from public, anon, authenticated;
revoke all on function public.jaga_incident_open(text, bigint, text, text, text, text, bigint, text, bigint, jsonb, jsonb) from public, anon, authenticated;
revoke all on function public.jaga_incident_change(text, bigint, bigint, text, integer, bigint, text, text, jsonb, text) from public, anon, authenticated;
revoke all on function public.jaga_incident_select(text, text, bigint, bigint) from public, anon, authenticated;
revoke all on function public.jaga_incident_timeline(text, bigint) from public, anon, authenticated;

grant execute on function public.jaga_incident_peek(text, text, text, text) to service_role;
grant execute on function public.jaga_incident_open(text, bigint, text, text, text, text, bigint, text, bigint, jsonb, jsonb) to service_role;
grant execute on function public.jaga_incident_change(text, bigint, bigint, text, integer, bigint, text, text, jsonb, text) to service_role;
grant execute on function public.jaga_incident_select(text, text, bigint, bigint) to service_role;
grant execute on function public.jaga_incident_timeline(text, bigint) to service_role;
