-- pgvector lives in the `extensions` schema, as on every Supabase project.
--
-- The old migrations ran a bare `create extension if not exists vector`, then named `vector(768)` in a
-- function signature. `supabase db push` logs in as a temporary role and runs `set session role postgres`,
-- so the role's usual `extensions` search_path entry is missing and the type did not resolve
-- (42704 type "vector" does not exist). From here on every use is schema-qualified: `extensions.vector`.

create schema if not exists extensions;

-- A database where someone already ran a bare `create extension vector` has it in `public`: move it, so
-- `extensions.vector` resolves everywhere (this is what Supabase's own advice for the linter warning does).
do $$
declare
  current_schema_name text;
begin
  select n.nspname into current_schema_name
  from pg_extension e join pg_namespace n on n.oid = e.extnamespace
  where e.extname = 'vector';

  if current_schema_name is null then
    create extension vector with schema extensions;
  elsif current_schema_name <> 'extensions' then
    alter extension vector set schema extensions;
  end if;
end
$$;

grant usage on schema extensions to anon, authenticated, service_role;
