-- Conversation memories: what semantic, full-text and hybrid search look through and what synthesis reads.

-- The full-text document of a memory: its topics weigh more than the words of its messages. Generated
-- columns need an immutable expression; array_to_string is only marked stable (for arrays of arbitrary
-- types), but over text[] it is deterministic, so the wrapper may honestly be immutable.
create or replace function public.conversation_search_document(messages jsonb, topics text[])
returns tsvector
language sql
immutable
parallel safe
set search_path = ''
as $$
  select
    setweight(to_tsvector('english'::regconfig, coalesce(array_to_string(topics, ' '), '')), 'A')
    || setweight(
      jsonb_to_tsvector('english'::regconfig, coalesce(jsonb_path_query_array(messages, '$[*].content'), '[]'::jsonb), '["string"]'),
      'B'
    )
$$;

create table if not exists public.conversations (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  instance_key text,
  messages jsonb not null default '[]'::jsonb constraint conversations_messages_is_array check (jsonb_typeof(messages) = 'array'),
  primary_emotion text,
  secondary_emotions text[] not null default '{}',
  valence double precision constraint conversations_valence_range check (valence between -1 and 1),
  arousal double precision constraint conversations_arousal_range check (arousal between 0 and 1),
  dominance double precision constraint conversations_dominance_range check (dominance between 0 and 1),
  novelty double precision constraint conversations_novelty_range check (novelty between 0 and 1),
  self_relevance double precision constraint conversations_self_relevance_range check (self_relevance between 0 and 1),
  emotional_salience double precision constraint conversations_emotional_salience_range check (emotional_salience between 0 and 1),
  salience_tier text constraint conversations_salience_tier_check check (salience_tier in ('critical', 'high', 'medium', 'low')),
  extracted_topics text[] not null default '{}',
  embedding extensions.vector(768),
  decay_multiplier double precision not null default 1,
  user_marked_important boolean not null default false,
  is_deleted boolean not null default false,
  attachment_context text,
  prospective_self_context text,
  search_document tsvector generated always as (public.conversation_search_document(messages, extracted_topics)) stored,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- Every query is per user and mostly newest first; this index also serves exact per-user vector search
-- (the search issue measured that an exact scan of one user's rows beats a filtered ANN index on recall).
-- Skipped once 20260202001400_keyset_indexes.sql has replaced it by conversations_user_created_id_idx (the same key plus the
-- id tie-breaker): running this file again must not bring the narrower index back.
do $$
begin
  if to_regclass('public.conversations_user_created_id_idx') is null then
    create index if not exists conversations_user_created_idx on public.conversations (user_id, created_at desc);
  end if;
end
$$;
create index if not exists conversations_search_document_idx on public.conversations using gin (search_document);

-- Created only where missing: 20260202001300_search_cells.sql redefines this trigger (it skips index upkeep),
-- and running this file again must not undo that.
do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_trigger
    where tgrelid = 'public.conversations'::regclass and tgname = 'set_updated_at'
  ) then
    create trigger set_updated_at before update on public.conversations
      for each row execute function public.set_updated_at();
  end if;
end
$$;

alter table public.conversations enable row level security;

drop policy if exists conversations_owner_all on public.conversations;
create policy conversations_owner_all on public.conversations
  for all to authenticated
  using ((select auth.uid()) = user_id)
  with check ((select auth.uid()) = user_id);

-- anon never reads memories: no grant at all, so it fails loudly instead of seeing an empty table.
revoke all on table public.conversations from anon;
grant select, insert, update, delete on table public.conversations to authenticated, service_role;
