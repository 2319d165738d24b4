-- Semantic, full-text and hybrid search over the caller's memories.
--
-- Same rules as every function here: parameter types are schema-qualified (`extensions.vector`, since a
-- function's own search_path does not cover its signature, which resolves with the caller's path: the
-- root of the old 42704 failure), bodies name operators with operator(extensions.<=>), functions run as
-- the caller (security invoker, so RLS decides whose rows are seen), they never take a user id (the old
-- `user_id_param` let any caller read any user's memories), and everything but the query has a default.

-- The old signature, if an earlier attempt created it, must not survive next to the safe one.
drop function if exists public.semantic_search(extensions.vector, uuid, integer, double precision);

-- semantic_search chooses its plan per query, in one round trip.
--  * Fewer than 2,000 memories (most users): an exact scan of the caller's rows by cosine distance.
--  * More: rank all of the caller's memories by Hamming distance between 2-bit sketches
--    (public.embedding_sketch), read from the covering index conversations_user_search_idx without
--    touching the table, then re-rank the best `depth` of them by exact cosine distance.
--  Filters (tier, since, deleted) apply exactly, before any ranking, so they never cost recall (an HNSW
--  index post-filters). Both paths first rank narrow (id, distance) rows and fetch the full rows of the
--  final k only: sorting 1,000 full rows, and computing every distance twice (once for the order, once
--  for `similarity`), was what made the old function take 2.2 ms for 1,000 memories where the bare
--  exact scan takes 0.9 ms.
--  The caller's memory count is counted only up to the limit, on the same index (0.2 ms). Numbers for
--  each path: benchmarks/search.py and the note in 20260202001000_search_layout.sql.
-- Created only while 20260202001300_search_cells.sql has not replaced it with the seven-argument version:
-- running this file again after that one must not put the six-argument function back beside it (every call
-- that leaves `exact` out would then be ambiguous, 42725, starting with hybrid_search below).
do $guard$
begin
  if to_regprocedure('public.semantic_search(extensions.vector, integer, double precision, text, timestamptz, boolean, boolean)') is null then
    execute $def$
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
language plpgsql
stable
security invoker
set search_path = ''
-- PL/pgSQL caches plans and after five calls may keep a generic one, planned without knowing the caller
-- or the query; measured, that plan is 4x slower (20 ms instead of 5 ms at 10,000 memories). Planning
-- each call costs ~0.2 ms.
set plan_cache_mode = force_custom_plan
-- A 100,000-memory ranking is costed above jit_above_cost, and compiling it would take longer than
-- running it.
set jit = off
as $$
#variable_conflict use_column
declare
  -- Below this many memories the exact scan is as fast as the sketch path and has nothing to tune.
  exact_limit constant integer := 2000;
  caller uuid := (select auth.uid());
  k integer := least(greatest(coalesce(match_count, 10), 1), 1000);
  depth integer;
  owned integer;
  sketch bit(2304);
begin
  if caller is null or query_embedding is null then
    return;
  end if;
  select count(*) into owned
  from (select 1 from public.conversations c where c.user_id = caller limit exact_limit) s;

  if owned < exact_limit then
    return query
    with ranked as (
      select c.id as hit, c.embedding operator(extensions.<=>) query_embedding as distance
      from public.conversations c
      where c.user_id = caller
        and c.embedding is not null
        and (include_deleted or not c.is_deleted)
        and (filter_salience_tier is null or c.salience_tier = filter_salience_tier)
        and (filter_since is null or c.created_at >= filter_since)
      order by 2
      limit k
    )
    select
      c.id, c.user_id, c.instance_key, c.messages, c.primary_emotion, c.secondary_emotions,
      c.valence, c.arousal, c.dominance, c.novelty, c.self_relevance, c.emotional_salience, c.salience_tier,
      c.extracted_topics, c.decay_multiplier, c.user_marked_important, c.is_deleted,
      c.attachment_context, c.prospective_self_context, c.created_at, c.updated_at,
      1 - r.distance as similarity
    from ranked r
    join public.conversations c on c.id = r.hit
    where match_threshold is null or 1 - r.distance >= match_threshold
    order by r.distance, c.id;
    return;
  end if;

  -- Re-ranking depth: each candidate costs one random heap page. Measured on benchmarks/search.py's data
  -- (recall@10 after re-ranking): 200 gives 1.00 at 10,000 memories and 0.99 at 100,000.
  depth := least(greatest(k * 30, 300), 20000);
  sketch := public.embedding_sketch(query_embedding)::bit(2304);
  return query
  with candidates as materialized (
    select c.id as candidate
    from public.conversations c
    where c.user_id = caller
      and c.embedding_sketch is not null
      and (include_deleted or not c.is_deleted)
      and (filter_salience_tier is null or c.salience_tier = filter_salience_tier)
      and (filter_since is null or c.created_at >= filter_since)
    order by c.embedding_sketch operator(extensions.<~>) sketch
    limit depth
  ),
  ranked as (
    select c.id as hit, c.embedding operator(extensions.<=>) query_embedding as distance
    from public.conversations c
    where c.id in (select candidates.candidate from candidates)
      and c.user_id = caller
    order by 2
    limit k
  )
  select
    c.id, c.user_id, c.instance_key, c.messages, c.primary_emotion, c.secondary_emotions,
    c.valence, c.arousal, c.dominance, c.novelty, c.self_relevance, c.emotional_salience, c.salience_tier,
    c.extracted_topics, c.decay_multiplier, c.user_marked_important, c.is_deleted,
    c.attachment_context, c.prospective_self_context, c.created_at, c.updated_at,
    1 - r.distance as similarity
  from ranked r
  join public.conversations c on c.id = r.hit
  where match_threshold is null or 1 - r.distance >= match_threshold
  order by r.distance, c.id;
end;
$$
$def$;
    execute $def$ revoke execute on function public.semantic_search(extensions.vector, integer, double precision, text, timestamptz, boolean) from public, anon $def$;
    execute $def$ grant execute on function public.semantic_search(extensions.vector, integer, double precision, text, timestamptz, boolean) to authenticated, service_role $def$;
  end if;
end
$guard$;

-- text_search: PostgreSQL full-text search over the generated search_document (topics weigh A, message
-- text B), GIN-indexed. `query` is web-search syntax: words, "quoted phrases", or, -excluded. Needs no
-- embeddings at all. rank is ts_rank_cd (cover density), higher is better.
create or replace function public.text_search(
  query text,
  match_count integer default 10,
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
  rank double precision
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
    pg_catalog.ts_rank_cd(c.search_document, q.tsq)::double precision as rank
  from pg_catalog.websearch_to_tsquery('english'::regconfig, coalesce(query, '')) as q(tsq),
       public.conversations c
  where c.user_id = (select auth.uid())
    and c.search_document operator(pg_catalog.@@) q.tsq
    and (include_deleted or not c.is_deleted)
    and (filter_salience_tier is null or c.salience_tier = filter_salience_tier)
    and (filter_since is null or c.created_at >= filter_since)
  order by rank desc, c.created_at desc, c.id
  limit least(greatest(coalesce(match_count, 10), 1), 1000)
$$;

revoke execute on function public.text_search(text, integer, text, timestamptz, boolean) from public, anon;
grant execute on function public.text_search(text, integer, text, timestamptz, boolean) to authenticated, service_role;

-- hybrid_search: reciprocal rank fusion of semantic_search and text_search, in one round trip.
-- score = semantic_weight / (rrf_k + semantic rank) + text_weight / (rrf_k + text rank), a side that did
-- not find the memory adding nothing; each side contributes its best max(5 x match_count, 50) candidates
-- (the semantic side only those with positive similarity).
-- Without query_embedding it is text search scored the same way.
create or replace function public.hybrid_search(
  query_text text,
  query_embedding extensions.vector(768) default null,
  match_count integer default 10,
  semantic_weight double precision default 1.0,
  text_weight double precision default 1.0,
  rrf_k integer default 60,
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
  similarity double precision,
  rank double precision,
  score double precision
)
language sql
stable
security invoker
set search_path = ''
as $$
  with params as (
    select
      least(greatest(coalesce(match_count, 10), 1), 1000) as k,
      least(greatest(coalesce(match_count, 10) * 5, 50), 1000) as depth,
      greatest(coalesce(rrf_k, 60), 1)::double precision as rrf,
      greatest(coalesce(semantic_weight, 1.0), 0) as w_sem,
      greatest(coalesce(text_weight, 1.0), 0) as w_text
  ),
  semantic as (
    select s.id, s.similarity, row_number() over (order by s.similarity desc, s.id) as position
    from params p, public.semantic_search(query_embedding, p.depth, null, filter_salience_tier, filter_since, include_deleted) s
    -- Only memories that are actually alike count as found by meaning: an unrelated one (cosine <= 0)
    -- would otherwise earn a semantic rank just for existing, and could tie a memory matching both ways.
    where query_embedding is not null and s.similarity > 0
  ),
  fulltext as (
    select t.id, t.rank, row_number() over (order by t.rank desc, t.created_at desc, t.id) as position
    from params p, public.text_search(query_text, p.depth, filter_salience_tier, filter_since, include_deleted) t
  ),
  fused as (
    select
      coalesce(s.id, f.id) as id,
      s.similarity,
      f.rank,
      coalesce(p.w_sem / (p.rrf + s.position), 0) + coalesce(p.w_text / (p.rrf + f.position), 0) as score
    from semantic s
    full join fulltext f on f.id = s.id
    cross join params p
  )
  select
    c.id, c.user_id, c.instance_key, c.messages, c.primary_emotion, c.secondary_emotions,
      c.valence, c.arousal, c.dominance, c.novelty, c.self_relevance, c.emotional_salience, c.salience_tier,
      c.extracted_topics, c.decay_multiplier, c.user_marked_important, c.is_deleted,
      c.attachment_context, c.prospective_self_context, c.created_at, c.updated_at,
    fused.similarity, fused.rank, fused.score
  from fused
  join public.conversations c on c.id = fused.id
  order by fused.score desc, fused.similarity desc nulls last, c.id
  limit (select k from params)
$$;

revoke execute on function public.hybrid_search(text, extensions.vector, integer, double precision, double precision, integer, text, timestamptz, boolean) from public, anon;
grant execute on function public.hybrid_search(text, extensions.vector, integer, double precision, double precision, integer, text, timestamptz, boolean) to authenticated, service_role;
