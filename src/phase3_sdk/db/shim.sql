-- The Supabase layout the Phase 3 migrations expect, for a plain PostgreSQL (the embedded server, CI).
--
-- Everything is added only where missing, and nothing that exists is altered, so on a real Supabase
-- project this script changes nothing (its objects exist there and belong to Supabase's own roles,
-- which `postgres` may not even touch: hence existence checks instead of `create ... if not exists`,
-- which still checks the CREATE privilege on the schema first).
--
-- Deliberately NOT done here:
--   * `extensions` is not put on the database's search_path: `supabase db push` runs with
--     `"$user", public`, and the migrations must prove they do not depend on it.
--   * the vector extension is not created here: a new Supabase project does not have it either, so
--     the migrations must create it (`create extension if not exists vector with schema extensions`).
--     EmbeddedDatabase adds it after this script when asked to (phase3_sdk.db.embedded.apply_shim).

-- Roles, as Supabase defines them: API roles cannot log in; PostgREST logs in as `authenticator` and
-- switches to one of them per request.
do $shim$
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
    grant anon, authenticated, service_role to authenticator;
  end if;
end
$shim$;

-- Schemas. Supabase grants usage on each to the three API roles.
do $shim$
begin
  if not exists (select from pg_namespace where nspname = 'extensions') then
    create schema extensions;
    grant usage on schema extensions to anon, authenticated, service_role;
  end if;
  if not exists (select from pg_namespace where nspname = 'auth') then
    create schema auth;
    grant usage on schema auth to anon, authenticated, service_role;
  end if;
  if not has_schema_privilege('anon', 'public', 'usage')
     or not has_schema_privilege('authenticated', 'public', 'usage')
     or not has_schema_privilege('service_role', 'public', 'usage') then
    grant usage on schema public to anon, authenticated, service_role;
  end if;
end
$shim$;

-- auth.users: the columns the Phase 3 schema and the SDK read (a subset of GoTrue's table).
do $shim$
begin
  if to_regclass('auth.users') is null then
    create table auth.users (
      id uuid primary key default gen_random_uuid(),
      email text unique,
      encrypted_password text,
      raw_user_meta_data jsonb,
      raw_app_meta_data jsonb,
      created_at timestamptz default now(),
      updated_at timestamptz default now(),
      role text default 'authenticated',
      aud text default 'authenticated'
    );
    -- Supabase keeps auth.users away from the API roles; only the service role may read it.
    grant select on auth.users to service_role;
  end if;
end
$shim$;

-- auth.uid(), auth.role(), auth.jwt(): GoTrue's current definitions (migration
-- 20240624145325_recreate_auth_functions): the claims PostgREST puts in `request.jwt.claims`, with the
-- older per-claim settings first.
do $shim$
begin
  if to_regprocedure('auth.uid()') is null then
    create function auth.uid()
      returns uuid
      set search_path to ''
    as $func$
      select
        coalesce(
          nullif(current_setting('request.jwt.claim.sub', true), ''),
          (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
        )::uuid
    $func$ language sql stable;
    grant execute on function auth.uid() to anon, authenticated, service_role;
  end if;
  if to_regprocedure('auth.role()') is null then
    create function auth.role()
      returns text
      set search_path to ''
    as $func$
      select
        coalesce(
          nullif(current_setting('request.jwt.claim.role', true), ''),
          (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
        )::text
    $func$ language sql stable;
    grant execute on function auth.role() to anon, authenticated, service_role;
  end if;
  if to_regprocedure('auth.email()') is null then
    create function auth.email()
      returns text
      set search_path to ''
    as $func$
      select
        coalesce(
          nullif(current_setting('request.jwt.claim.email', true), ''),
          (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
        )::text
    $func$ language sql stable;
    grant execute on function auth.email() to anon, authenticated, service_role;
  end if;
  if to_regprocedure('auth.jwt()') is null then
    create function auth.jwt()
      returns jsonb
      set search_path to ''
    as $func$
      select
        coalesce(
          nullif(current_setting('request.jwt.claim', true), ''),
          nullif(current_setting('request.jwt.claims', true), '')
        )::jsonb
    $func$ language sql stable;
    grant execute on function auth.jwt() to anon, authenticated, service_role;
  end if;
end
$shim$;

-- What Supabase grants on objects the `postgres` role creates in public: everything to the three API
-- roles, with row level security deciding what each may see. Re-stating a default privilege that is
-- already set changes nothing.
alter default privileges for role postgres in schema public
  grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on functions to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on sequences to anon, authenticated, service_role;

-- The Supabase CLI's migration history, created with the CLI's own statements (pkg/migration/history.go).
do $shim$
begin
  if not exists (select from pg_namespace where nspname = 'supabase_migrations') then
    create schema supabase_migrations;
  end if;
  if to_regclass('supabase_migrations.schema_migrations') is null then
    create table supabase_migrations.schema_migrations (version text not null primary key);
  end if;
end
$shim$;
alter table supabase_migrations.schema_migrations add column if not exists statements text[];
alter table supabase_migrations.schema_migrations add column if not exists name text;
