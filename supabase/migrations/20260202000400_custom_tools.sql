-- Custom tools (a JavaScript function body run in a sandbox) and the audit log of every tool call.

create table if not exists public.custom_tools (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  name text not null constraint custom_tools_name_length check (char_length(name) between 1 and 100),
  description text not null default '',
  parameters jsonb not null default '{}'::jsonb constraint custom_tools_parameters_is_object check (jsonb_typeof(parameters) = 'object'),
  code text not null,
  signature text,
  capabilities text[] not null default '{}',
  sandbox_profile text not null default 'standard'
    constraint custom_tools_sandbox_profile_check check (sandbox_profile in ('strict', 'standard', 'permissive')),
  version text not null default '1.0.0',
  tags text[] not null default '{}',
  icon text,
  usage_count bigint not null default 0,
  last_used timestamptz,
  is_enabled boolean not null default true,
  visibility text not null default 'private' constraint custom_tools_visibility_check check (visibility in ('private', 'public')),
  clone_source_id uuid references public.custom_tools (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- A skill names its tools by name, so a name must mean one tool per user.
  constraint custom_tools_user_name_key unique (user_id, name)
);

create index if not exists custom_tools_clone_source_idx on public.custom_tools (clone_source_id);
-- Tool resolution falls back on an enabled public tool by name.
create index if not exists custom_tools_public_name_idx on public.custom_tools (name) where visibility = 'public' and is_enabled;

drop trigger if exists set_updated_at on public.custom_tools;
create trigger set_updated_at before update on public.custom_tools
  for each row execute function public.set_updated_at();

alter table public.custom_tools enable row level security;

-- One permissive policy per action: the owner does everything, and everyone signed in also reads a public
-- tool. Two permissive SELECT policies (owner, public) would both be evaluated on every row read
-- (Supabase's linter: multiple_permissive_policies), so reading is one policy with both conditions.
drop policy if exists custom_tools_owner_all on public.custom_tools;
drop policy if exists custom_tools_public_read on public.custom_tools;
drop policy if exists custom_tools_select on public.custom_tools;
create policy custom_tools_select on public.custom_tools
  for select to authenticated
  using ((select auth.uid()) = user_id or visibility = 'public');
drop policy if exists custom_tools_insert on public.custom_tools;
create policy custom_tools_insert on public.custom_tools
  for insert to authenticated
  with check ((select auth.uid()) = user_id);
drop policy if exists custom_tools_update on public.custom_tools;
create policy custom_tools_update on public.custom_tools
  for update to authenticated
  using ((select auth.uid()) = user_id)
  with check ((select auth.uid()) = user_id);
drop policy if exists custom_tools_delete on public.custom_tools;
create policy custom_tools_delete on public.custom_tools
  for delete to authenticated
  using ((select auth.uid()) = user_id);

revoke all on table public.custom_tools from anon;
grant select, insert, update, delete on table public.custom_tools to authenticated, service_role;


create table if not exists public.custom_tool_usage (
  id uuid primary key default gen_random_uuid(),
  -- Null for a Python handler registered in the caller's process: it has no row, but its calls are logged too.
  custom_tool_id uuid references public.custom_tools (id) on delete set null,
  tool_name text,
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  input_params jsonb not null default '{}'::jsonb,
  output_result jsonb,
  status text not null constraint custom_tool_usage_status_check check (status in ('success', 'failure', 'timeout')),
  error_message text,
  execution_time_ms double precision,
  memory_used_mb double precision,
  "timestamp" timestamptz not null default now()
);

-- Skipped once 20260202001400_keyset_indexes.sql has replaced it by custom_tool_usage_user_time_id_idx (the same key plus the
-- id tie-breaker): running this file again must not bring the narrower index back.
do $$
begin
  if to_regclass('public.custom_tool_usage_user_time_id_idx') is null then
    create index if not exists custom_tool_usage_user_time_idx on public.custom_tool_usage (user_id, "timestamp" desc);
  end if;
end
$$;
create index if not exists custom_tool_usage_tool_idx on public.custom_tool_usage (custom_tool_id);

alter table public.custom_tool_usage enable row level security;

drop policy if exists custom_tool_usage_owner_all on public.custom_tool_usage;
create policy custom_tool_usage_owner_all on public.custom_tool_usage
  for all to authenticated
  using ((select auth.uid()) = user_id)
  with check ((select auth.uid()) = user_id);

revoke all on table public.custom_tool_usage from anon;
grant select, insert, update, delete on table public.custom_tool_usage to authenticated, service_role;


-- usage_count and last_used are kept by triggers on custom_tool_usage (20260202001350_usage_counters.sql): one
-- logged call, one count, and nobody can move them any other way.
