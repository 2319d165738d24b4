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

drop policy if exists custom_tools_owner_all on public.custom_tools;
create policy custom_tools_owner_all on public.custom_tools
  for all to authenticated
  using ((select auth.uid()) = user_id)
  with check ((select auth.uid()) = user_id);

drop policy if exists custom_tools_public_read on public.custom_tools;
create policy custom_tools_public_read on public.custom_tools
  for select to authenticated
  using (visibility = 'public');

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

create index if not exists custom_tool_usage_user_time_idx on public.custom_tool_usage (user_id, "timestamp" desc);
create index if not exists custom_tool_usage_tool_idx on public.custom_tool_usage (custom_tool_id);

alter table public.custom_tool_usage enable row level security;

drop policy if exists custom_tool_usage_owner_all on public.custom_tool_usage;
create policy custom_tool_usage_owner_all on public.custom_tool_usage
  for all to authenticated
  using ((select auth.uid()) = user_id)
  with check ((select auth.uid()) = user_id);

revoke all on table public.custom_tool_usage from anon;
grant select, insert, update, delete on table public.custom_tool_usage to authenticated, service_role;


-- Counting a use must not lose updates when two runs finish together, and must work for a public tool the
-- caller does not own (RLS would hide that update), hence one atomic update in a security definer function
-- that checks visibility itself.
create or replace function public.record_tool_use(p_tool_id uuid)
returns void
language sql
security definer
set search_path = ''
as $$
  update public.custom_tools
  set usage_count = usage_count + 1, last_used = now()
  where id = p_tool_id
    and (user_id = (select auth.uid()) or visibility = 'public' or (select auth.role()) = 'service_role');
$$;

revoke execute on function public.record_tool_use(uuid) from public, anon;
grant execute on function public.record_tool_use(uuid) to authenticated, service_role;
