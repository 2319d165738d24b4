-- The synthesis worker's writes: finishing a job (merging its patterns and recommendations and completing or
-- re-queueing it, in ONE transaction) and failing a job (retry later or give up). Both are guarded by the lease:
-- they lock the job row and act only while it is still running under the caller's lease, so a worker whose lease
-- expired and was reclaimed by another worker can never write a second copy of a job's results.
--
-- Both are security invoker: the worker calls finish_synthesis_job impersonating the job's user, so RLS on
-- memory_patterns / synthesis_recommendations guarantees the results land in that user's rows and nobody else's.
-- A user could already update their own job rows and patterns directly (the owner policies allow it), so
-- granting these functions to authenticated opens nothing new.

-- claim_synthesis_jobs first fails the running jobs whose lease expired on their last attempt. Without this index
-- that is a scan of the whole table on every claim (1.3 ms at 10,000 jobs); with it, a probe of the few running rows.
create index if not exists memory_synthesis_jobs_running_lease_idx
  on public.memory_synthesis_jobs (lease_expires_at) where status = 'running';

-- Merge p_patterns into the job owner's memory_patterns and synthesis_recommendations, then complete the job
-- (or re-queue it at p_next_run when it is recurring). Returns the job row, or no row when the caller does not
-- hold the job's lease any more (another worker reclaimed it): the caller must then drop its results.
--
-- p_patterns: a JSON array of {pattern_key, pattern_type, layer, description, evidence, confidence,
-- recommendation: {recommendation, category, priority} | null}. Merge rules, per (user_id, pattern_key):
--   * new key: a new pattern (observation_count 1) and, if given, a new recommendation;
--   * known key: observation_count + 1 and last_observed = now(); description, evidence, confidence, type and
--     layer are refreshed unless the user confirmed the pattern (a confirmed pattern is the user's, not ours);
--   * its recommendation keeps its status always; its text and priority are refreshed only while it is still
--     pending and its pattern unconfirmed (never change what a user already acknowledged or works on).
create or replace function public.finish_synthesis_job(
  p_job_id uuid,
  p_worker text,
  p_patterns jsonb,
  p_insights jsonb,
  p_memories_analyzed integer,
  p_next_run timestamptz default null
)
returns setof public.memory_synthesis_jobs
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_job public.memory_synthesis_jobs;
  v_total integer := 0;
  v_new integer := 0;
  v_recommendations integer := 0;
begin
  if p_patterns is null or jsonb_typeof(p_patterns) <> 'array' then
    raise exception 'p_patterns must be a JSON array' using errcode = '22023';
  end if;

  -- The lease guard. FOR UPDATE also keeps claim_synthesis_jobs (SKIP LOCKED) off the row until we commit.
  select * into v_job
  from public.memory_synthesis_jobs
  where id = p_job_id and status = 'running' and lease_owner = p_worker
  for update;
  if not found then
    return;
  end if;
  if v_job.is_recurring and p_next_run is null then
    raise exception 'job % is recurring: p_next_run must give its next run', p_job_id using errcode = '22023';
  end if;

  with given as (
    -- One row per key (the most confident), since ON CONFLICT may not touch a row twice in one statement.
    select distinct on (x.pattern_key) x.*
    from jsonb_to_recordset(p_patterns) as x(
      pattern_key text, pattern_type text, layer integer, description text, evidence jsonb,
      confidence double precision, recommendation jsonb
    )
    order by x.pattern_key, x.confidence desc
  ),
  merged as (
    insert into public.memory_patterns as m (
      id, user_id, pattern_key, pattern_type, layer, description, evidence, confidence, source_job_id
    )
    select gen_random_uuid(), v_job.user_id, g.pattern_key, g.pattern_type, g.layer, g.description,
           coalesce(g.evidence, '{}'::jsonb), g.confidence, v_job.id
    from given g
    on conflict (user_id, pattern_key) do update set
      observation_count = m.observation_count + 1,
      last_observed = now(),
      source_job_id = excluded.source_job_id,
      pattern_type = case when m.user_confirmed then m.pattern_type else excluded.pattern_type end,
      layer = case when m.user_confirmed then m.layer else excluded.layer end,
      description = case when m.user_confirmed then m.description else excluded.description end,
      evidence = case when m.user_confirmed then m.evidence else excluded.evidence end,
      confidence = case when m.user_confirmed then m.confidence else excluded.confidence end
    -- xmax = 0 only on a freshly inserted row version: tells a new pattern from a merged one.
    returning m.id, m.pattern_key, m.user_confirmed, (m.xmax = 0) as inserted
  ),
  recommended as (
    insert into public.synthesis_recommendations as r (id, user_id, pattern_id, recommendation, category, priority)
    select gen_random_uuid(), v_job.user_id, mg.id,
           g.recommendation ->> 'recommendation', g.recommendation ->> 'category',
           coalesce(g.recommendation ->> 'priority', 'medium')
    from merged mg
    join given g using (pattern_key)
    where jsonb_typeof(g.recommendation) = 'object'
    on conflict (pattern_id) do update set
      recommendation = excluded.recommendation,
      category = excluded.category,
      priority = excluded.priority
    where r.status = 'pending'
      and not exists (select 1 from public.memory_patterns p where p.id = r.pattern_id and p.user_confirmed)
    returning r.id
  )
  select (select count(*) from merged), (select count(*) from merged where inserted), (select count(*) from recommended)
  into v_total, v_new, v_recommendations;

  return query
  update public.memory_synthesis_jobs j
  set status = case when j.is_recurring then 'pending' else 'completed' end,
      progress = 1,
      insights = coalesce(p_insights, '{}'::jsonb)
        || jsonb_build_object('patterns_new', v_new, 'patterns_merged', v_total - v_new,
                              'recommendations_written', v_recommendations),
      memories_analyzed = greatest(coalesce(p_memories_analyzed, 0), 0),
      patterns_detected = v_total,
      error_message = null,
      last_run = now(),
      -- A recurring job is the same row, re-queued: its next run starts with a fresh budget of attempts.
      next_run = case when j.is_recurring then p_next_run else j.next_run end,
      attempts = case when j.is_recurring then 0 else j.attempts end,
      lease_owner = null,
      lease_expires_at = null
  where j.id = v_job.id
  returning j.*;
end
$$;

-- A run of the job raised. While attempts remain the job goes back to pending, claimable after
-- p_retry_in_seconds; after the last attempt it is failed with the reason. A recurring job that used up its
-- attempts is not dropped: it is re-queued for its next scheduled run (p_next_run) with the reason kept in
-- error_message and last_run set, because one bad night must not end a nightly schedule.
-- Returns the job row, or no row when the caller no longer holds the lease.
create or replace function public.fail_synthesis_job(
  p_job_id uuid,
  p_worker text,
  p_error text,
  p_retry_in_seconds double precision default 0,
  p_next_run timestamptz default null
)
returns setof public.memory_synthesis_jobs
language plpgsql
security invoker
set search_path = ''
as $$
begin
  return query
  update public.memory_synthesis_jobs j
  set status = case
        when j.attempts < j.max_attempts then 'pending'
        when j.is_recurring and p_next_run is not null then 'pending'
        else 'failed' end,
      next_run = case
        when j.attempts < j.max_attempts then now() + make_interval(secs => greatest(coalesce(p_retry_in_seconds, 0), 0))
        when j.is_recurring and p_next_run is not null then p_next_run
        else j.next_run end,
      attempts = case when j.attempts >= j.max_attempts and j.is_recurring and p_next_run is not null then 0
                      else j.attempts end,
      last_run = case when j.attempts >= j.max_attempts then now() else j.last_run end,
      error_message = left(coalesce(nullif(p_error, ''), 'the job failed without a message'), 4000),
      progress = 0,
      lease_owner = null,
      lease_expires_at = null
  where j.id = p_job_id and j.status = 'running' and j.lease_owner = p_worker
  returning j.*;
end
$$;

revoke execute on function public.finish_synthesis_job(uuid, text, jsonb, jsonb, integer, timestamptz) from public, anon;
revoke execute on function public.fail_synthesis_job(uuid, text, text, double precision, timestamptz) from public, anon;
grant execute on function public.finish_synthesis_job(uuid, text, jsonb, jsonb, integer, timestamptz) to authenticated, service_role;
grant execute on function public.fail_synthesis_job(uuid, text, text, double precision, timestamptz) to authenticated, service_role;
