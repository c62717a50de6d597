-- Standby, continued: the commands the active instance is running (src/standby/shared-runs.ts),
-- so the instance that takes over after a kill -9 knows what the dead one was in the middle of.
-- Same conventions as 20261215080000_standby_lease.sql: schema `jaga`, row-level security on with
-- no policy, SECURITY DEFINER functions with an empty search_path for service_role only, every
-- write fenced.
--
-- Why a record and not a queue: a command is not re-run by the next instance. `/restart`,
-- `/flush`, `/stop` and `/dns fix` change hosts, and a half-run one may have done its work (the
-- app restarted, the log flushed) before its instance died; running it again would do it twice,
-- on an answer nobody asked for again. So the new active instance says which commands were cut
-- off, in its takeover message and in the chat each came from, and the admin decides. The row is
-- also what keeps a message WhatsApp delivers twice (the old instance died before its ack) from
-- running twice: its id is taken once per lease.

create table jaga.command_run (
  lease      text not null check (lease ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  -- The transport's id of the message that ran it (a WhatsApp message id, or the console's).
  msg_id     text not null check (length(msg_id) between 1 and 200),
  chat_id    text not null check (length(chat_id) between 1 and 200),
  sender     text not null check (length(sender) between 1 and 200),
  -- The command as typed, masked by the client (no NIK, no token) and cut to 300 characters.
  command    text not null check (length(command) between 1 and 300),
  instance   text not null check (length(instance) between 1 and 200),
  started_at bigint not null,
  ended_at   bigint,
  -- How it ended: the audit log's outcome, or 'cut off' (its instance died under it).
  outcome    text check (length(outcome) <= 32),
  epoch      bigint not null,
  primary key (lease, msg_id)
);
create index command_run_running on jaga.command_run (lease, epoch) where ended_at is null;

alter table jaga.command_run enable row level security;
revoke all on table jaga.command_run from public, anon, authenticated, service_role;
create trigger command_run_fenced before insert or update or delete on jaga.command_run for each row execute function jaga.fenced_write();

-- A command begins, under p_epoch: true when the message was not taken before (run it), false
-- when it was (WhatsApp delivered it again: do not run it twice). Rows that ended a day ago go.
create or replace function public.jaga_run_begin(
  p_name text, p_epoch bigint, p_msg_id text, p_chat_id text, p_sender text, p_command text, p_instance text, p_at bigint)
  returns boolean
  language plpgsql volatile security definer
  set search_path = ''
as $$
declare
  n integer;
begin
  perform jaga.outbox_begin(p_name, p_epoch);
  delete from jaga.command_run r where r.lease = p_name and r.ended_at < p_at - 86400000;
  insert into jaga.command_run (lease, msg_id, chat_id, sender, command, instance, started_at, epoch)
  values (p_name, p_msg_id, p_chat_id, p_sender, p_command, p_instance, p_at, p_epoch)
  on conflict (lease, msg_id) do nothing;
  get diagnostics n = row_count;
  return n = 1;
end
$$;

-- The command ended with p_outcome (true), or had ended before (false).
create or replace function public.jaga_run_end(p_name text, p_epoch bigint, p_msg_id text, p_outcome text, p_at bigint)
  returns boolean
  language plpgsql volatile security definer
  set search_path = ''
as $$
declare
  n integer;
begin
  perform jaga.outbox_begin(p_name, p_epoch);
  update jaga.command_run r set ended_at = p_at, outcome = left(p_outcome, 32)
   where r.lease = p_name and r.msg_id = p_msg_id and r.ended_at is null;
  get diagnostics n = row_count;
  return n = 1;
end
$$;

-- The term p_epoch begins: the commands earlier terms left running end as 'cut off', and are
-- returned (oldest first) for the takeover message. A second call returns none.
create or replace function public.jaga_run_cut_off(p_name text, p_epoch bigint, p_at bigint)
  returns table (msg_id text, chat_id text, sender text, command text, instance text, started_at bigint)
  language plpgsql volatile security definer
  set search_path = ''
as $$
begin
  perform jaga.outbox_begin(p_name, p_epoch);
  return query
    update jaga.command_run r set ended_at = p_at, outcome = 'cut off'
     where r.lease = p_name and r.ended_at is null and r.epoch < p_epoch
    returning r.msg_id, r.chat_id, r.sender, r.command, r.instance, r.started_at;
end
$$;

revoke all on function public.jaga_run_begin(text, bigint, text, text, text, text, text, bigint) from public, anon, authenticated;
revoke all on function public.jaga_run_end(text, bigint, text, text, bigint) from public, anon, authenticated;
revoke all on function public.jaga_run_cut_off(text, bigint, bigint) from public, anon, authenticated;
grant execute on function public.jaga_run_begin(text, bigint, text, text, text, text, text, bigint) to service_role;
grant execute on function public.jaga_run_end(text, bigint, text, text, bigint) to service_role;
grant execute on function public.jaga_run_cut_off(text, bigint, bigint) to service_role;
