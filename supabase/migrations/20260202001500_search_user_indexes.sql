-- Per-user HNSW indexes: what keeps semantic search's recall on real embeddings, and makes it fast at
-- 100,000 memories per user.
--
-- Measured on real text (benchmarks/search.py: documentation paragraphs embedded with WordLlama, one user
-- beside 20 users of 1,000), the search cells of 20260202001300_search_cells.sql reached recall@10 0.91-0.92
-- with queries losing most of their true neighbours, and at 90,000 memories were no faster than the exact
-- scan: real embeddings are anisotropic (dense regions and outliers), so the nearest cells by centroid miss
-- neighbours that lie just across a boundary, and reading enough cells to find them means reading most of
-- the user. pgvector's HNSW graph has no such boundaries, and built over ONE user's memories (a partial
-- index, `where user_id = '<the user>'`) it needs no filter by user, which is what makes a table-wide HNSW
-- index lose recall or be skipped by the planner (see the search issue).
--
-- `phase3 db tune-search` (phase3_sdk.db.tune) builds one for each user with enough memories (it needs the
-- table owner: an index is DDL) and records it here; memories written afterwards enter the graph as they
-- are inserted, so nothing goes stale between tunes. semantic_search then picks per call:
--   * exact = true, or a caller with fewer than 2,000 memories: every matching memory by exact distance
--     (recall 1; ~2-3 ms at 1,000).
--   * a caller with an index: the index's best candidates, re-ranked by exact distance (approximate;
--     ef_search calibrated per user). A hard query, whose k-th hit is less similar than the user's
--     calibrated threshold, adds the best candidates of a sketch scan of all the caller's memories.
--   * a large caller without an index yet (not tuned): the sketch ranking of the search cells (approximate).
-- Each hit says which (`search_method`: 'exact', 'hnsw', 'hnsw+sketch' or 'sketch').
--
-- Measured and dropped (100,000 memories of real text, 2 cores shared with other work, so times are
-- inflated; recall@10 over held-out queries, mean / worst):
--   * a per-user HNSW over the full vectors, ef_search 100: 0.988 / 0.8 already at 20,000; calibrated
--     (ef 400) at 100,000: 0.995 / 0.8 and 44 ms p50: the 400 MB graph does not fit shared_buffers.
--   * a per-user HNSW over the 2,304-bit sketches (Hamming, 57 MB): the graph loses neighbours under
--     Hamming distance: 0.980 / 0.1 at ef 250, 0.994 / 0.9 at ef 640 (23 ms).
--   * the same over half-precision copies (195 MB), kept: 0.990 / 0.8 at ef 400 (12 ms) alone; with
--     the hard-query sketch scan, 0.999 / 0.8, the one query below 0.9 missing two memories at
--     similarity 0.539 for two at 0.537.
--   * m 32, ef_construction 128 instead of pgvector's 16 / 64: calibration still chose ef 400, the worst
--     query went from 0.8 to 0.9, and the build took 338 s instead of 62 s.
--   * the sketch ranking of ALL a user's memories (no index), 36 ms: recall 1.000, but linear.

create table if not exists public.memory_search_indexes (
  user_id uuid primary key references auth.users (id) on delete cascade,
  -- The partial index on public.conversations that holds this user's memories.
  index_name text not null,
  -- Live memories with embeddings when the index was built, and since-then counts are compared with it to
  -- decide whether to rebuild (phase3 db tune-search --dry-run reports them).
  memories integer not null constraint memory_search_indexes_memories_check check (memories >= 0),
  -- hnsw.ef_search for this user's queries: the candidate list the graph search keeps.
  ef_search integer not null default 100
    constraint memory_search_indexes_ef_search_check check (ef_search between 10 and 1000),
  -- Queries whose k-th best hit from the index is less similar than this are hard (few memories near
  -- them, many nearly tied): they are ranked by the full sketch scan instead. Calibrated by the tuner.
  fallback_below double precision,
  built_at timestamptz not null default now()
);
-- An earlier draft of this file had no fallback_below.
alter table public.memory_search_indexes add column if not exists fallback_below double precision;

alter table public.memory_search_indexes enable row level security;

-- A user reads their own entry (semantic_search runs as the caller); only the tuner writes.
drop policy if exists memory_search_indexes_owner_read on public.memory_search_indexes;
create policy memory_search_indexes_owner_read on public.memory_search_indexes
  for select to authenticated
  using ((select auth.uid()) = user_id);

revoke all on table public.memory_search_indexes from anon, authenticated;
grant select on table public.memory_search_indexes to authenticated;
grant select, insert, update, delete on table public.memory_search_indexes to service_role;

-- The function below pins hnsw.* settings. Until pgvector's library is loaded in this session those names
-- are placeholders, which only a superuser may set (42501 on a fresh `supabase db push` session, where the
-- migration role is not one); calling any pgvector function loads it and makes them ordinary settings.
select extensions.vector_dims('[1]'::extensions.vector);

-- The result type gains `search_method`, so the function is dropped and made again (by full signature);
-- hybrid_search calls it by name and needs nothing.
-- Left alone once a later file has replaced it: those mark their version in the function's comment
-- ("semantic_search version <file>", from 20260202001700_search_rerank_once.sql on), and running this
-- file again after them must not put this version back.
do $guard$
begin
  if coalesce(
    pg_catalog.obj_description(pg_catalog.to_regprocedure('public.semantic_search(extensions.vector, integer, double precision, text, timestamptz, boolean, boolean)'), 'pg_proc'), ''
  ) not like '%semantic_search version %' then
    execute $drop$drop function if exists public.semantic_search(extensions.vector, integer, double precision, text, timestamptz, boolean, boolean)$drop$;
    execute $def$
create or replace function public.semantic_search(
  query_embedding extensions.vector(768),
  match_count integer default 10,
  match_threshold double precision default null,
  filter_salience_tier text default null,
  filter_since timestamptz default null,
  include_deleted boolean default false,
  exact boolean default false
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
  search_method text
)
language plpgsql
stable
security invoker
set search_path = ''
-- A 100,000-memory ranking can be costed above jit_above_cost; compiling it takes longer than running it.
set jit = off
set enable_bitmapscan = off
set enable_hashjoin = off
set enable_mergejoin = off
-- Set here so that the per-user value the body sets (set_config(..., true)) ends with the call instead of
-- leaking into the caller's transaction. relaxed_order: when filters (deleted, tier, since) drop entries
-- the graph search goes on until it has enough; the order is restored below by exact distance.
set hnsw.ef_search = 100
set hnsw.iterative_scan = relaxed_order
set enable_sort = on
as $$
#variable_conflict use_column
declare
  -- Below this many memories an exact scan is as fast as any index (and needs none).
  exact_limit constant integer := 2000;
  min_rows integer := coalesce(nullif(pg_catalog.current_setting('phase3.search_min_rows', true), '')::integer, 4000);
  share constant integer := 12;
  caller uuid := (select auth.uid());
  k integer := least(greatest(coalesce(match_count, 10), 1), 1000);
  depth integer := least(greatest(coalesce(match_count, 10) * 30, 400), 20000);
  since timestamptz := coalesce(filter_since, '-infinity');
  method text;
  ef integer;
  owned integer;
  sketch bit(2304);
  cells smallint[];
  every_cell smallint[];
  picked uuid[];
  more uuid[];
  hard_below double precision;
  kth_similarity double precision;
begin
  if caller is null or query_embedding is null then
    return;
  end if;

  if not exact then
    select s.ef_search, s.fallback_below into ef, hard_below
    from public.memory_search_indexes s where s.user_id = caller;
    if ef is not null then
      method := 'hnsw';
      -- The caller's graph is over half-precision copies of their embeddings (1.5 KB instead of 3 KB per
      -- memory: half the pages a search reads, which at 100,000 memories no longer fit shared_buffers).
      -- Its best 2k are re-ranked below by exact distance.
      perform pg_catalog.set_config('hnsw.ef_search', greatest(ef, 2 * k)::text, true);
      -- The only other plan for this ordering is the caller's rows sorted by distance: correct, but
      -- linear, and what the planner picked for large users in the baseline (a table-wide HNSW index).
      -- A sort it cannot avoid still happens (the ranking below); this only tips the choice here.
      perform pg_catalog.set_config('enable_sort', 'off', true);
      -- The caller's id is bound as a value, so the planner proves the partial index's predicate
      -- (user_id = '<caller>') from it and reads only the caller's graph.
      execute $hnsw$
        select pg_catalog.array_agg(s.id)
        from (
          select m.id
          from public.conversations m
          where m.user_id = $1
            and m.embedding is not null
            and m.created_at >= $2
            and ($3 or not m.is_deleted)
            and ($4::text is null or m.salience_tier = $4)
          order by (m.embedding::extensions.halfvec(768)) operator(extensions.<=>) $5::extensions.halfvec(768)
          limit $6
        ) s
      $hnsw$
      into picked
      using caller, since, include_deleted, filter_salience_tier, query_embedding, 2 * k;
      perform pg_catalog.set_config('enable_sort', 'on', true);
      -- A hard query (its k-th hit far from it): the graph search is least reliable exactly there, so the
      -- best candidates by sketch distance over ALL the caller's memories join the ranking.
      if hard_below is not null and coalesce(pg_catalog.cardinality(picked), 0) >= k then
        select 1 - max(r.distance) into kth_similarity
        from (
          select c.embedding operator(extensions.<=>) query_embedding as distance
          from pg_catalog.unnest(picked) as p(candidate)
          join public.conversations c on c.id = p.candidate
          order by 1
          limit k
        ) r;
        if kth_similarity < hard_below then
          method := 'hnsw+sketch';
          sketch := public.embedding_sketch(query_embedding)::bit(2304);
          execute $scan$
            select pg_catalog.array_agg(s.id)
            from (
              select m.id
              from public.conversations m
              where m.user_id = $1
                and m.embedding_sketch is not null
                and m.created_at >= $2
                and ($3 or not m.is_deleted)
                and ($4::text is null or m.salience_tier = $4)
              order by m.embedding_sketch operator(extensions.<~>) $5
              limit $6
            ) s
          $scan$
          into more
          using caller, since, include_deleted, filter_salience_tier, sketch, depth;
          picked := picked || coalesce(more, '{}'::uuid[]);
        end if;
      end if;
      -- Fewer than k hits means the filters are selective enough that the graph search gave up
      -- (hnsw.max_scan_tuples) or there are fewer matches than k: rank the matches exactly instead.
      if coalesce(pg_catalog.cardinality(picked), 0) < k then
        method := null;
        exact := true;
      end if;
    else
      select count(*) into owned
      from (select 1 from public.conversations c where c.user_id = caller limit exact_limit) s;
      if owned < exact_limit then
        exact := true;
      end if;
    end if;
  end if;

  if exact then
    method := 'exact';
    -- `+ 0`: an expression no index can order by, so that a per-user HNSW index is never used here.
    execute $exact$
      select pg_catalog.array_agg(s.id)
      from (
        select m.id
        from public.conversations m
        where m.user_id = $1
          and m.embedding is not null
          and m.created_at >= $2
          and ($3 or not m.is_deleted)
          and ($4::text is null or m.salience_tier = $4)
        order by (m.embedding operator(extensions.<=>) $5) + 0
        limit $6
      ) s
    $exact$
    into picked
    using caller, since, include_deleted, filter_salience_tier, query_embedding, k;
  elsif method is null then
    -- A large caller not tuned yet: the sketch ranking of 20260202001300_search_cells.sql, unchanged.
    method := 'sketch';
    sketch := public.embedding_sketch(query_embedding)::bit(2304);
    select
      pg_catalog.array_agg(s.cell) filter (where s.before < greatest(min_rows, s.total / share)),
      pg_catalog.array_agg(s.cell)
    into cells, every_cell
    from (
      select
        c.cell,
        coalesce(sum(c.members) over (nearest rows between unbounded preceding and 1 preceding), 0) as before,
        sum(c.members) over () as total
      from public.memory_search_cells c
      where c.user_id = caller
      window nearest as (order by c.centroid operator(extensions.<=>) query_embedding, c.cell)
    ) s;
    cells := coalesce(cells, '{}'::smallint[]) || (-1)::smallint;
    every_cell := coalesce(every_cell, '{}'::smallint[]) || (-1)::smallint;
    loop
      execute $scan$
        select pg_catalog.array_agg(s.id)
        from (
          select m.id
          from public.conversations m
          where m.user_id = $1
            and m.search_cell = any($2)
            and m.embedding_sketch is not null
            and m.created_at >= $3
            and ($4 or not m.is_deleted)
            and ($5::text is null or m.salience_tier = $5)
          order by m.embedding_sketch operator(extensions.<~>) $6
          limit $7
        ) s
      $scan$
      into picked
      using caller, cells, since, include_deleted, filter_salience_tier, sketch, depth;
      exit when coalesce(pg_catalog.cardinality(picked), 0) >= depth
        or pg_catalog.cardinality(cells) = pg_catalog.cardinality(every_cell);
      cells := every_cell;
    end loop;
  end if;

  return query
  with ranked as (
    select c.id as hit, c.embedding operator(extensions.<=>) query_embedding as distance
    from (select distinct u.candidate from pg_catalog.unnest(picked) as u(candidate)) p
    join public.conversations c on c.id = p.candidate
    order by 2
    limit k
  )
  select
    c.id, c.user_id, c.instance_key, c.messages, c.primary_emotion, c.secondary_emotions,
    c.valence, c.arousal, c.dominance, c.novelty, c.self_relevance, c.emotional_salience, c.salience_tier,
    c.extracted_topics, c.decay_multiplier, c.user_marked_important, c.is_deleted,
    c.attachment_context, c.prospective_self_context, c.created_at, c.updated_at,
    1 - r.distance as similarity,
    method as search_method
  from ranked r
  join public.conversations c on c.id = r.hit
  where match_threshold is null or 1 - r.distance >= match_threshold
  order by r.distance, c.id;
end;
$$
    $def$;
  end if;
end
$guard$;

revoke execute on function public.semantic_search(extensions.vector, integer, double precision, text, timestamptz, boolean, boolean) from public, anon;
grant execute on function public.semantic_search(extensions.vector, integer, double precision, text, timestamptz, boolean, boolean) to authenticated, service_role;
