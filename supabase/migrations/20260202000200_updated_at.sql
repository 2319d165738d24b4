-- One trigger function keeps `updated_at` honest on every table, whatever the client sends.

create or replace function public.set_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

revoke execute on function public.set_updated_at() from public, anon;
