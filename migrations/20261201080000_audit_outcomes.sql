-- The pipeline's new audit outcomes: a command refused by a rate or in-flight limit ('limited'),
-- and the life of a destructive command's confirmation ('planned' → 'confirmed' | 'cancelled' |
-- 'expired'). The list matches OUTCOMES in src/store/store.ts; a test keeps the two equal.
alter table public.command_audit drop constraint if exists command_audit_outcome_check;
alter table public.command_audit add constraint command_audit_outcome_check
  check (outcome in ('ok', 'error', 'denied', 'invalid', 'timeout', 'limited', 'planned', 'confirmed', 'cancelled', 'expired'));
