-- Composite skills (ordered steps chaining tools) and their durable executions.

create table if not exists public.composite_skills (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  name text not null constraint composite_skills_name_length check (char_length(name) between 1 and 100),
  description text not null default '',
  steps jsonb not null default '[]'::jsonb constraint composite_skills_steps_is_array check (jsonb_typeof(steps) = 'array'),
  version text not null default '1.0.0',
  tags text[] not null default '{}',
  icon text,
  execution_count bigint not null default 0,
  last_executed timestamptz,
  is_enabled boolean not null default true,
  visibility text not null default 'private' constraint composite_skills_visibility_check check (visibility in ('private', 'public')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- `skills.execute("name")` must mean one skill per user.
  constraint composite_skills_user_name_key unique (user_id, name)
);

drop trigger if exists set_updated_at on public.composite_skills;
create trigger set_updated_at before update on public.composite_skills
  for each row execute function public.set_updated_at();

alter table public.composite_skills enable row level security;

-- One permissive policy per action: the owner does everything, and everyone signed in also reads a public
-- skill. Two permissive SELECT policies (owner, public) would both be evaluated on every row read
-- (Supabase's linter: multiple_permissive_policies), so reading is one policy with both conditions.
drop policy if exists composite_skills_owner_all on public.composite_skills;
drop policy if exists composite_skills_public_read on public.composite_skills;
drop policy if exists composite_skills_select on public.composite_skills;
create policy composite_skills_select on public.composite_skills
  for select to authenticated
  using ((select auth.uid()) = user_id or visibility = 'public');
drop policy if exists composite_skills_insert on public.composite_skills;
create policy composite_skills_insert on public.composite_skills
  for insert to authenticated
  with check ((select auth.uid()) = user_id);
drop policy if exists composite_skills_update on public.composite_skills;
create policy composite_skills_update on public.composite_skills
  for update to authenticated
  using ((select auth.uid()) = user_id)
  with check ((select auth.uid()) = user_id);
drop policy if exists composite_skills_delete on public.composite_skills;
create policy composite_skills_delete on public.composite_skills
  for delete to authenticated
  using ((select auth.uid()) = user_id);

revoke all on table public.composite_skills from anon;
grant select, insert, update, delete on table public.composite_skills to authenticated, service_role;


create table if not exists public.composite_skill_executions (
  id uuid primary key default gen_random_uuid(),
  composite_skill_id uuid not null references public.composite_skills (id) on delete cascade,
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  input_params jsonb not null default '{}'::jsonb,
  -- One checkpoint per finished step: {stepId, success, output | error, skipped, attempts, execution_time_ms}.
  steps_executed jsonb not null default '[]'::jsonb constraint composite_skill_executions_steps_is_array check (jsonb_typeof(steps_executed) = 'array'),
  final_output jsonb,
  status text not null default 'running'
    constraint composite_skill_executions_status_check check (status in ('running', 'completed', 'failed', 'cancelled')),
  error_message text,
  execution_time_ms double precision,
  steps_completed integer not null default 0,
  total_steps integer not null default 0,
  created_at timestamptz not null default now(),
  -- Added for durability: the steps as they were when the run started (a resume must not pick up an edited
  -- skill halfway), and a lease so that a dead process's run can be resumed by exactly one other process.
  skill_snapshot jsonb,
  lease_owner text,
  lease_expires_at timestamptz,
  cancel_requested boolean not null default false,
  finished_at timestamptz,
  updated_at timestamptz not null default now()
);

create index if not exists composite_skill_executions_skill_idx on public.composite_skill_executions (composite_skill_id);
-- Skipped once 20260202001400_keyset_indexes.sql has replaced it by composite_skill_executions_user_created_id_idx (the same key plus the
-- id tie-breaker): running this file again must not bring the narrower index back.
do $$
begin
  if to_regclass('public.composite_skill_executions_user_created_id_idx') is null then
    create index if not exists composite_skill_executions_user_created_idx on public.composite_skill_executions (user_id, created_at desc);
  end if;
end
$$;
-- Finding interrupted runs to resume looks only at the running ones.
create index if not exists composite_skill_executions_running_idx on public.composite_skill_executions (lease_expires_at)
  where status = 'running';

drop trigger if exists set_updated_at on public.composite_skill_executions;
create trigger set_updated_at before update on public.composite_skill_executions
  for each row execute function public.set_updated_at();

alter table public.composite_skill_executions enable row level security;

drop policy if exists composite_skill_executions_owner_all on public.composite_skill_executions;
create policy composite_skill_executions_owner_all on public.composite_skill_executions
  for all to authenticated
  using ((select auth.uid()) = user_id)
  with check ((select auth.uid()) = user_id);

revoke all on table public.composite_skill_executions from anon;
grant select, insert, update, delete on table public.composite_skill_executions to authenticated, service_role;

-- Tool calls made by a skill point at their execution.
alter table public.custom_tool_usage
  add column if not exists skill_execution_id uuid references public.composite_skill_executions (id) on delete set null;
create index if not exists custom_tool_usage_skill_execution_idx on public.custom_tool_usage (skill_execution_id);


-- execution_count and last_executed are kept by triggers on composite_skill_executions
-- (20260202001350_usage_counters.sql): one finished execution, one count.


-- Take (or extend) the lease on a running execution. Returns the row when the caller now holds the lease:
-- it was free, expired, or already the caller's. Row locking makes two resumers race safely: one wins.
create or replace function public.claim_skill_execution(p_execution_id uuid, p_owner text, p_lease_seconds integer default 60)
returns setof public.composite_skill_executions
language sql
security invoker
set search_path = ''
as $$
  update public.composite_skill_executions
  set lease_owner = p_owner, lease_expires_at = now() + make_interval(secs => p_lease_seconds)
  where id = p_execution_id
    and status = 'running'
    and (lease_owner is null or lease_owner = p_owner or lease_expires_at < now())
  returning *;
$$;

revoke execute on function public.claim_skill_execution(uuid, text, integer) from public, anon;
grant execute on function public.claim_skill_execution(uuid, text, integer) to authenticated, service_role;
