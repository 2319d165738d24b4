-- semantic_search: the caller's memories nearest to a query embedding.
--
-- The parameter type is written `extensions.vector(768)`: a function's own `set search_path` does not
-- cover its signature, which resolves with the caller's path (the root of the old 42704 failure).
-- It runs as the caller (security invoker), so RLS decides whose rows are seen, and it never takes a user
-- id: the old `user_id_param` let any caller read any user's memories.

-- The old signature, if an earlier attempt created it, must not survive next to the safe one.
drop function if exists public.semantic_search(extensions.vector, uuid, integer, double precision);

create or replace function public.semantic_search(
  query_embedding extensions.vector(768),
  match_count integer default 10,
  match_threshold double precision default null,
  filter_salience_tier text default null,
  filter_since timestamptz default null,
  include_deleted boolean default false
)
returns table (
  id uuid,
  user_id uuid,
  instance_key text,
  messages jsonb,
  primary_emotion text,
  secondary_emotions text[],
  valence double precision,
  arousal double precision,
  dominance double precision,
  novelty double precision,
  self_relevance double precision,
  emotional_salience double precision,
  salience_tier text,
  extracted_topics text[],
  decay_multiplier double precision,
  user_marked_important boolean,
  is_deleted boolean,
  attachment_context text,
  prospective_self_context text,
  created_at timestamptz,
  updated_at timestamptz,
  similarity double precision
)
language sql
stable
security invoker
set search_path = ''
as $$
  select
    c.id, c.user_id, c.instance_key, c.messages, c.primary_emotion, c.secondary_emotions,
    c.valence, c.arousal, c.dominance, c.novelty, c.self_relevance, c.emotional_salience, c.salience_tier,
    c.extracted_topics, c.decay_multiplier, c.user_marked_important, c.is_deleted,
    c.attachment_context, c.prospective_self_context, c.created_at, c.updated_at,
    1 - (c.embedding operator(extensions.<=>) query_embedding) as similarity
  from public.conversations c
  -- RLS already limits rows to the caller; saying it here as well lets the planner use the user index,
  -- and keeps a service-role caller (which bypasses RLS) to the user it impersonates.
  where c.user_id = (select auth.uid())
    and c.embedding is not null
    and (include_deleted or not c.is_deleted)
    and (filter_salience_tier is null or c.salience_tier = filter_salience_tier)
    and (filter_since is null or c.created_at >= filter_since)
    and (match_threshold is null or 1 - (c.embedding operator(extensions.<=>) query_embedding) >= match_threshold)
  order by c.embedding operator(extensions.<=>) query_embedding
  limit least(greatest(coalesce(match_count, 10), 1), 1000)
$$;

revoke execute on function public.semantic_search(extensions.vector, integer, double precision, text, timestamptz, boolean) from public, anon;
grant execute on function public.semantic_search(extensions.vector, integer, double precision, text, timestamptz, boolean) to authenticated, service_role;
