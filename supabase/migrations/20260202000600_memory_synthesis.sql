-- Memory synthesis: background jobs, the patterns they detect and the recommendations made from them.

create table if not exists public.memory_synthesis_jobs (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  synthesis_type text not null constraint memory_synthesis_jobs_type_check
    check (synthesis_type in ('emotional_patterns', 'prospective_self', 'relational_memory', 'narrative_coherence', 'full_synthesis')),
  time_range_start timestamptz,
  time_range_end timestamptz,
  status text not null default 'pending'
    constraint memory_synthesis_jobs_status_check check (status in ('pending', 'running', 'completed', 'failed')),
  progress double precision not null default 0 constraint memory_synthesis_jobs_progress_range check (progress between 0 and 1),
  error_message text,
  insights jsonb,
  memories_analyzed integer not null default 0,
  patterns_detected integer not null default 0,
  is_recurring boolean not null default false,
  cron_schedule text,
  last_run timestamptz,
  -- A pending job becomes claimable at next_run (null: at once); recurring jobs are re-queued with a new one.
  next_run timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- Added for the job queue: a lease that a live worker heartbeats, and a bounded number of attempts.
  lease_owner text,
  lease_expires_at timestamptz,
  attempts integer not null default 0,
  max_attempts integer not null default 3 constraint memory_synthesis_jobs_max_attempts_check check (max_attempts between 1 and 100),
  constraint memory_synthesis_jobs_time_range_check check (time_range_end is null or time_range_start is null or time_range_start <= time_range_end),
  constraint memory_synthesis_jobs_recurring_check check (not is_recurring or cron_schedule is not null)
);

-- Skipped once 20260202001400_keyset_indexes.sql has replaced it by memory_synthesis_jobs_user_created_id_idx (the same key plus the
-- id tie-breaker): running this file again must not bring the narrower index back.
do $$
begin
  if to_regclass('public.memory_synthesis_jobs_user_created_id_idx') is null then
    create index if not exists memory_synthesis_jobs_user_created_idx on public.memory_synthesis_jobs (user_id, created_at desc);
  end if;
end
$$;
-- The claim query reads only jobs that are waiting or running.
create index if not exists memory_synthesis_jobs_queue_idx on public.memory_synthesis_jobs (coalesce(next_run, created_at))
  where status in ('pending', 'running');

drop trigger if exists set_updated_at on public.memory_synthesis_jobs;
create trigger set_updated_at before update on public.memory_synthesis_jobs
  for each row execute function public.set_updated_at();

alter table public.memory_synthesis_jobs enable row level security;

drop policy if exists memory_synthesis_jobs_owner_all on public.memory_synthesis_jobs;
create policy memory_synthesis_jobs_owner_all on public.memory_synthesis_jobs
  for all to authenticated
  using ((select auth.uid()) = user_id)
  with check ((select auth.uid()) = user_id);

revoke all on table public.memory_synthesis_jobs from anon;
grant select, insert, update, delete on table public.memory_synthesis_jobs to authenticated, service_role;


create table if not exists public.memory_patterns (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  pattern_type text not null,
  layer integer not null constraint memory_patterns_layer_range check (layer between 1 and 7),
  description text not null,
  evidence jsonb not null default '{}'::jsonb,
  confidence double precision not null default 0 constraint memory_patterns_confidence_range check (confidence between 0 and 1),
  first_detected timestamptz not null default now(),
  last_observed timestamptz not null default now(),
  observation_count integer not null default 1,
  user_confirmed boolean not null default false,
  user_notes text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- Added: a stable identity for a pattern, so that detecting it again merges instead of duplicating.
  pattern_key text,
  source_job_id uuid references public.memory_synthesis_jobs (id) on delete set null,
  constraint memory_patterns_user_key unique (user_id, pattern_key)
);

create index if not exists memory_patterns_user_layer_idx on public.memory_patterns (user_id, layer);
create index if not exists memory_patterns_source_job_idx on public.memory_patterns (source_job_id);

drop trigger if exists set_updated_at on public.memory_patterns;
create trigger set_updated_at before update on public.memory_patterns
  for each row execute function public.set_updated_at();

alter table public.memory_patterns enable row level security;

drop policy if exists memory_patterns_owner_all on public.memory_patterns;
create policy memory_patterns_owner_all on public.memory_patterns
  for all to authenticated
  using ((select auth.uid()) = user_id)
  with check ((select auth.uid()) = user_id);

revoke all on table public.memory_patterns from anon;
grant select, insert, update, delete on table public.memory_patterns to authenticated, service_role;


create table if not exists public.synthesis_recommendations (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  pattern_id uuid references public.memory_patterns (id) on delete cascade,
  recommendation text not null,
  category text not null,
  priority text not null default 'medium' constraint synthesis_recommendations_priority_check check (priority in ('low', 'medium', 'high')),
  status text not null default 'pending'
    constraint synthesis_recommendations_status_check check (status in ('pending', 'acknowledged', 'working_on', 'completed')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- At most one recommendation per pattern, so re-running synthesis keeps the user's status on it.
  constraint synthesis_recommendations_pattern_key unique (pattern_id)
);

create index if not exists synthesis_recommendations_user_status_idx on public.synthesis_recommendations (user_id, status);

drop trigger if exists set_updated_at on public.synthesis_recommendations;
create trigger set_updated_at before update on public.synthesis_recommendations
  for each row execute function public.set_updated_at();

alter table public.synthesis_recommendations enable row level security;

drop policy if exists synthesis_recommendations_owner_all on public.synthesis_recommendations;
create policy synthesis_recommendations_owner_all on public.synthesis_recommendations
  for all to authenticated
  using ((select auth.uid()) = user_id)
  with check ((select auth.uid()) = user_id);

revoke all on table public.synthesis_recommendations from anon;
grant select, insert, update, delete on table public.synthesis_recommendations to authenticated, service_role;
