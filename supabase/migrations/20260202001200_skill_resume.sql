-- Finding interrupted skill executions to resume (`skills.resume_expired`).
--
-- An execution whose process died stays `running` with a lease nobody renews. This lists the ones whose lease
-- has expired, so a resumer can claim each with claim_skill_execution (which re-checks the lease under a row
-- lock: listing here is only a hint, two resumers may list the same row and exactly one will claim it).
--
-- Why a function rather than a plain select: "expired" must be judged by the database clock, as the lease was
-- set by it (start/claim/checkpoint use now()); a client's clock may be skewed, and PostgREST's filter grammar
-- cannot say `lease_expires_at < now()`.
--
-- SECURITY INVOKER: RLS decides whose executions a caller sees, so a user finds only their own runs, and only
-- the service role (which bypasses RLS) finds everyone's.
--
-- Only runs the SDK's engine started are listed: they have a skill_snapshot (what a resume runs from) and a
-- lease. A `running` row without a lease was written by something that does not take leases (the app's own
-- executor, say): nobody can tell whether its process is alive, so it is never taken over from here.
--
-- Oldest expiry first, so the run that has waited longest is resumed first; the partial index
-- composite_skill_executions_running_idx (lease_expires_at) where status = 'running' serves exactly this query.
-- Only ids and owners are returned: the resumer's claim returns the full row anyway, and a batch of snapshots
-- and checkpoints would be read for nothing.
create or replace function public.find_expired_skill_executions(p_limit integer default 10)
returns table (id uuid, user_id uuid, lease_expires_at timestamptz)
language sql
stable
security invoker
set search_path = ''
as $$
  select e.id, e.user_id, e.lease_expires_at
  from public.composite_skill_executions e
  where e.status = 'running'
    and e.skill_snapshot is not null
    and e.lease_expires_at < now()
  order by e.lease_expires_at, e.id
  limit greatest(coalesce(p_limit, 10), 0);
$$;

revoke execute on function public.find_expired_skill_executions(integer) from public, anon;
grant execute on function public.find_expired_skill_executions(integer) to authenticated, service_role;
