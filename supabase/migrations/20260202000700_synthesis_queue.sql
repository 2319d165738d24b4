-- The synthesis job queue: claiming with a lease, heartbeats, and giving up after a bounded number of tries.
-- Plain functions so that a worker on a direct connection and one going through PostgREST (`rpc`) share them.

-- Claim up to p_limit jobs for p_worker. A job is claimable when it is pending and due, or when it is
-- running but its lease expired (its worker died). FOR UPDATE SKIP LOCKED lets many workers claim at once
-- without waiting on each other or taking the same job.
create or replace function public.claim_synthesis_jobs(
  p_worker text,
  p_limit integer default 1,
  p_lease_seconds integer default 60
)
returns setof public.memory_synthesis_jobs
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if p_worker is null or p_worker = '' then
    raise exception 'p_worker must name the worker' using errcode = '22023';
  end if;

  -- A job whose worker died on every one of its attempts is not retried forever.
  update public.memory_synthesis_jobs
  set status = 'failed',
      error_message = format('abandoned: its worker stopped heartbeating on each of %s attempts', attempts),
      lease_owner = null,
      lease_expires_at = null
  where status = 'running' and lease_expires_at < now() and attempts >= max_attempts;

  return query
  with candidates as (
    select j.id
    from public.memory_synthesis_jobs j
    where (j.status = 'pending' and coalesce(j.next_run, j.created_at) <= now())
       or (j.status = 'running' and j.lease_expires_at < now())
    order by coalesce(j.next_run, j.created_at)
    limit greatest(p_limit, 0)
    for update skip locked
  )
  update public.memory_synthesis_jobs j
  set status = 'running',
      lease_owner = p_worker,
      lease_expires_at = now() + make_interval(secs => p_lease_seconds),
      attempts = j.attempts + 1,
      progress = 0,
      error_message = null
  from candidates c
  where j.id = c.id
  returning j.*;
end
$$;

-- Extend the lease and report progress. False means the lease is no longer the caller's: stop working.
create or replace function public.heartbeat_synthesis_job(
  p_job_id uuid,
  p_worker text,
  p_progress double precision default null,
  p_lease_seconds integer default 60
)
returns boolean
language plpgsql
security invoker
set search_path = ''
as $$
begin
  update public.memory_synthesis_jobs
  set lease_expires_at = now() + make_interval(secs => p_lease_seconds),
      progress = coalesce(least(greatest(p_progress, 0), 1), progress)
  where id = p_job_id and status = 'running' and lease_owner = p_worker;
  return found;
end
$$;

revoke execute on function public.claim_synthesis_jobs(text, integer, integer) from public, anon;
revoke execute on function public.heartbeat_synthesis_job(uuid, text, double precision, integer) from public, anon;
grant execute on function public.claim_synthesis_jobs(text, integer, integer) to authenticated, service_role;
grant execute on function public.heartbeat_synthesis_job(uuid, text, double precision, integer) to authenticated, service_role;
