-- semantic_search walks an uncertain answer again with at least twice its first walk's list.
--
-- An entry whose calibrated list is longer than its first walk (80) walked an uncertain answer again with
-- that list. Calibration chooses 100 to 160 at 100,000 memories from one build of the same data to the next
-- (the search benchmark's builds chose 100, 120 and 160), and a second walk of 100 after one of 80 finds
-- almost nothing the first did not: the queries it left below 9 of their true 10 were uncertain ones whose
-- missing neighbours a walk of 160 reaches. An uncertain answer now walks again with the longer of the
-- entry's list and twice the first walk's (at most 1,000); an entry with one list still walks three times it
-- (20260202002700_search_walks_aside.sql). Which queries walk again is unchanged: the same share walks twice,
-- some of them further.
--
-- Measured on real text (the search benchmark's corpus, a user of 100,000 memories beside 20 of 1,000, 3,000
-- held-out queries; the SQL function with the entry's list set to 100 and to 120 on one graph, the uncertain
-- walk at that list and at 160 taking turns query by query; queries below 0.9, recall@10 mean, p50 / mean
-- ms): a list of 100, 5 -> 3, 0.9973 -> 0.9977, 3.27 -> 3.36 / 6.27 -> 6.40; of 120, 4 -> 3,
-- 0.9975 -> 0.9977, 3.35 -> 3.31 / 6.23 -> 6.36; the entry's own list of 160 on that graph, 3. Offline on the
-- same queries' cached candidates, an uncertain walk of 250 instead of 160 left the same 3: answers more
-- confident than retry_below, which walk once (a walk of 400 finds their missing neighbours). Each is a query
-- that joins two topics ("The result is deliberately discarded to ensure that all cycles are found."): the
-- walk returns one topic's memories, the 3rd most similar memory is the other's. A walk aside (see
-- 20260202002700_search_walks_aside.sql) finds what they miss, as it does for the one such query left at
-- 20,000 memories and the one at 5,000 (4,000 queries each), but no cheap test tells them from confident
-- answers: among the answers more confident than retry_below, their confidence ranks at 0.8%, 2.3%, 13%, 10%
-- and 38% from the bottom, the query's similarity to the mean of its 10 hits at 0.2% to 37%.
--
-- Same signature and result as before: replaced in place, callers and grants unchanged; the version guard is
-- as in 20260202001700_search_rerank_once.sql.

-- The function pins hnsw.* settings, which are placeholders only a superuser may set until pgvector's library
-- is loaded in this session (see 20260202001500_search_user_indexes.sql): calling any of its functions loads it.
select extensions.vector_dims('[1]'::extensions.vector);

do $guard$
begin
  if coalesce(
    substring(
      pg_catalog.obj_description(pg_catalog.to_regprocedure('public.semantic_search(extensions.vector, integer, double precision, text, timestamptz, boolean, boolean)'), 'pg_proc')
      from 'semantic_search version ([0-9]+)'
    ),
    '0'
  ) <= '20260202002800' then
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
  caller uuid := (select auth.uid());
  k integer := least(greatest(coalesce(match_count, 10), 1), 1000);
  depth integer := least(greatest(coalesce(match_count, 10) * 30, 400), 20000);
  since timestamptz := coalesce(filter_since, '-infinity');
  method text;
  ef integer;
  sketch bit(2304);
  -- The caller's memories by sketch distance to the query's, best first (the untuned path, and the second
  -- opinion for a hard query the graph cannot walk further for).
  sketch_scan constant text := $scan$
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
  $scan$;
  -- The caller's matching memories in the order given (%s: a graph's, or one no index serves), the first
  -- $6 with their exact distances, nearest first: each row's distance is computed where it is read. ($7, if
  -- given, is the query's sketch.)
  ranked_scan constant text := $ranked$
    select pg_catalog.array_agg(s.id order by s.distance, s.id),
           pg_catalog.array_agg(s.distance order by s.distance, s.id)
    from (
      select m.id, m.embedding operator(extensions.<=>) $5 as distance
      from public.conversations m
      where m.user_id = $1
        and m.embedding is not null
        and m.created_at >= $2
        and ($3 or not m.is_deleted)
        and ($4::text is null or m.salience_tier = $4)
      order by %s
      limit $6
    ) s
  $ranked$;
  -- Candidates and their exact cosine distances, nearest first (null: candidates not ranked yet).
  picked uuid[];
  distances double precision[];
  more uuid[];
  hard_below double precision;
  graph text;
  large boolean;
  pool integer;
  first_ef integer;
  retry_below double precision;
  more_distances double precision[];
  hard boolean := false;
  walk_ef integer;
  spread double precision;
  confidence double precision;
  -- The query with its first answer's direction taken out (a hard query's walk aside), and that direction.
  aside extensions.vector;
  centre extensions.vector;
  aside_hits uuid[];
  aside_distances double precision[];
begin
  if caller is null or query_embedding is null then
    return;
  end if;

  if not exact then
    -- What is known of the caller, in one statement: their index entry, if any, and their size mark.
    select s.ef_search, s.fallback_below, s.graph, s.first_ef_search, s.retry_below, s.confidence_spread,
           exists (select 1 from public.memory_search_large_users l where l.user_id = caller)
    into ef, hard_below, graph, first_ef, retry_below, spread, large
    from (select) as one
    left join public.memory_search_indexes s on s.user_id = caller;
    if ef is not null then
      method := 'hnsw';
      -- The only other plan for these orderings is the caller's rows sorted: correct, but linear.
      perform pg_catalog.set_config('enable_sort', 'off', true);
      -- The caller's id is bound as a value, so the planner proves the partial index's predicate
      -- (user_id = '<caller>') from it and reads only the caller's graph.
      if graph = 'sketch' then
        -- The graph's best quarter of its candidate list (at least 5k), by sketch distance, ranked exactly:
        -- each candidate ranked is a row read (phase3_sdk.db.tune.rerank_pool says why, and computes the same).
        ef := least(greatest(ef, 4 * k), 1000);
        -- The first walk's list: the entry's shorter one, or the whole list when there is none.
        first_ef := least(greatest(coalesce(first_ef, ef), 4 * k), ef);
        pool := greatest(first_ef / 4, 5 * k);
        perform pg_catalog.set_config('hnsw.ef_search', first_ef::text, true);
        sketch := public.embedding_sketch(query_embedding)::bit(2304);
        execute pg_catalog.format(ranked_scan, 'm.embedding_sketch operator(extensions.<~>) $7')
        into picked, distances
        using caller, since, include_deleted, filter_salience_tier, query_embedding, pool, sketch;
        if coalesce(pg_catalog.cardinality(picked), 0) >= k then
          -- How sure the answer looks: its k-th hit's similarity, raised by how far the candidates behind
          -- it fall off (the 4k-th of those ranked, or the last). A flat list means the walk settled among
          -- memories no nearer the query than each other, and the true neighbours may lie elsewhere. An
          -- entry without a spread (null: measured by the k-th hit alone) is tested as it was measured.
          confidence := 1 - distances[k]
                        + coalesce(spread, 0)
                          * (distances[least(pg_catalog.cardinality(distances), 4 * k)] - distances[k]);
        end if;
        hard := coalesce(confidence < hard_below, false);
        if hard then
          -- A hard query (its answer least confident): the graph search is least reliable there, so it walks
          -- again with a list of at least 400 (twice the entry's, at most pgvector's 1,000). Where that is
          -- no longer than the list walked, the sketch scan below reads every sketch instead.
          walk_ef := least(greatest(400, 2 * ef), 1000);
          if walk_ef <= first_ef then
            walk_ef := null;
          end if;
          if walk_ef is not null and first_ef < ef then
            -- An entry whose calibrated list is longer than its first walk: also a walk aside, for the query
            -- minus its projection on the mean of its first k hits (unit vectors). A longer walk for the
            -- query itself goes back to where the first one settled; this one starts from the side of it.
            select extensions.avg(extensions.l2_normalize(m.embedding))
            into centre
            from public.conversations m
            where m.user_id = caller and m.id = any(picked[1:k]);
            aside := extensions.l2_normalize(query_embedding);
            if centre is not null and (centre operator(extensions.<#>) centre) < 0 then
              aside := aside operator(extensions.-) (
                pg_catalog.array_fill(
                  ((aside operator(extensions.<#>) centre) / (centre operator(extensions.<#>) centre))::real,
                  array[extensions.vector_dims(centre)]
                )::extensions.vector operator(extensions.*) centre
              );
              perform pg_catalog.set_config('hnsw.ef_search', first_ef::text, true);
              -- Its best 2k by sketch distance to the aside, ranked exactly against the query itself: a
              -- larger share found no more (offline at 100,000 memories, 20 to 50 of the 80).
              execute pg_catalog.format(ranked_scan, 'm.embedding_sketch operator(extensions.<~>) $7')
              into aside_hits, aside_distances
              using caller, since, include_deleted, filter_salience_tier, query_embedding, 2 * k,
                    public.embedding_sketch(aside)::bit(2304);
            end if;
          end if;
        elsif retry_below is not null and (confidence is null or confidence < retry_below) then
          -- An uncertain answer (less confident than retry_below, or fewer than k hits) walks again with the
          -- whole list and at least twice the first walk's (a list of 100 after a walk of 80 is no second
          -- opinion), or where the entry has one list only, three times it.
          walk_ef := least(case when first_ef < ef then greatest(ef, 2 * first_ef) else 3 * ef end, 1000);
          if walk_ef <= first_ef then
            walk_ef := null;
          end if;
        end if;
        if walk_ef is not null then
          perform pg_catalog.set_config('hnsw.ef_search', walk_ef::text, true);
          execute pg_catalog.format(ranked_scan, 'm.embedding_sketch operator(extensions.<~>) $7')
          into more, more_distances
          using caller, since, include_deleted, filter_salience_tier, query_embedding,
                greatest(walk_ef / 4, 5 * k), sketch;
          -- Every walk's candidates by exact distance (a candidate of two has the same distance in each).
          select pg_catalog.array_agg(u.candidate order by u.distance, u.candidate),
                 pg_catalog.array_agg(u.distance order by u.distance, u.candidate)
          into picked, distances
          from (
            select distinct w.candidate, w.distance
            from rows from (
              pg_catalog.unnest(
                coalesce(picked, '{}'::uuid[]) || coalesce(more, '{}'::uuid[])
                || coalesce(aside_hits, '{}'::uuid[])
              ),
              pg_catalog.unnest(
                coalesce(distances, '{}'::double precision[])
                || coalesce(more_distances, '{}'::double precision[])
                || coalesce(aside_distances, '{}'::double precision[])
              )
            ) as w(candidate, distance)
          ) u;
          more := null;
          -- Answered by the graph: the sketch scan below is for a hard query that could not walk further.
          hard := false;
        end if;
      else
        -- An entry from before 20260202001800: a graph over half-precision copies, its best 2k.
        perform pg_catalog.set_config('hnsw.ef_search', greatest(ef, 2 * k)::text, true);
        execute pg_catalog.format(
          ranked_scan,
          '(m.embedding::extensions.halfvec(768)) operator(extensions.<=>) $5::extensions.halfvec(768)'
        )
        into picked, distances
        using caller, since, include_deleted, filter_salience_tier, query_embedding, 2 * k;
        hard := hard_below is not null and coalesce(pg_catalog.cardinality(picked), 0) >= k
                and 1 - distances[k] < hard_below;
      end if;
      perform pg_catalog.set_config('enable_sort', 'on', true);
      -- A hard query the graph could not walk further for (its entry's list already 1,000 long, or a
      -- half-precision graph): the best candidates by sketch distance over ALL the caller's memories join
      -- the ranking.
      if hard then
        method := 'hnsw+sketch';
        sketch := coalesce(sketch, public.embedding_sketch(query_embedding)::bit(2304));
        execute sketch_scan
        into more
        using caller, since, include_deleted, filter_salience_tier, sketch, depth;
        picked := picked || coalesce(more, '{}'::uuid[]);
        distances := null;
      end if;
      -- Fewer than k hits means the filters are selective enough that the graph search gave up
      -- (hnsw.max_scan_tuples) or there are fewer matches than k: rank the matches exactly instead.
      if coalesce(pg_catalog.cardinality(picked), 0) < k then
        method := null;
        exact := true;
      end if;
    else
      -- A caller not marked as holding 2,000 memories or more (public.memory_search_large_users, kept by
      -- the triggers of 20260202002300_search_large_users_marked.sql) is ranked exactly: no count here.
      if not large then
        exact := true;
      else
        -- Not tuned (fewer memories than tune-search indexes, or not run yet): a sketch scan of all the
        -- caller's memories, the best `depth` re-ranked exactly below.
        method := 'sketch';
        sketch := public.embedding_sketch(query_embedding)::bit(2304);
        execute sketch_scan
        into picked
        using caller, since, include_deleted, filter_salience_tier, sketch, depth;
      end if;
    end if;
  end if;

  if exact then
    -- The exact ranking returns its rows itself: ranked by id and distance alone (a row carried through the
    -- sort would be its whole width), then joined to their columns, with no arrays in between.
    -- Not through EXECUTE, unlike the other scans: a plan kept for the session (see
    -- 20260202001900_search_exact_plan_kept.sql).
    -- `+ 0`: an expression no index can order by, so that a per-user HNSW index is never used here. The
    -- sort key is the selected distance itself: each distance is computed once.
    return query
    select
      c.id, c.user_id, c.instance_key, c.messages, c.primary_emotion, c.secondary_emotions,
      c.valence, c.arousal, c.dominance, c.novelty, c.self_relevance, c.emotional_salience, c.salience_tier,
      c.extracted_topics, c.decay_multiplier, c.user_marked_important, c.is_deleted,
      c.attachment_context, c.prospective_self_context, c.created_at, c.updated_at,
      1 - r.distance as similarity,
      'exact'::text as search_method
    from (
      select m.id, (m.embedding operator(extensions.<=>) query_embedding) + 0 as distance
      from public.conversations m
      where m.user_id = caller
        and m.embedding is not null
        and m.created_at >= since
        and (include_deleted or not m.is_deleted)
        and (filter_salience_tier is null or m.salience_tier = filter_salience_tier)
      order by distance, m.id
      limit k
    ) r
    join public.conversations c on c.id = r.id
    where match_threshold is null or 1 - r.distance >= match_threshold
    order by r.distance, c.id;
    return;
  end if;

  if distances is null then
    -- Sketch candidates (with the graph's, for a hard query): ranked by exact distance, each read once.
    select pg_catalog.array_agg(r.hit order by r.distance, r.hit),
           pg_catalog.array_agg(r.distance order by r.distance, r.hit)
    into picked, distances
    from (
      select c.id as hit, c.embedding operator(extensions.<=>) query_embedding as distance
      from (select distinct u.candidate from pg_catalog.unnest(picked) as u(candidate)) p
      join public.conversations c on c.id = p.candidate
      order by 2, 1
      limit k
    ) r;
  end if;

  return query
  select
    c.id, c.user_id, c.instance_key, c.messages, c.primary_emotion, c.secondary_emotions,
    c.valence, c.arousal, c.dominance, c.novelty, c.self_relevance, c.emotional_salience, c.salience_tier,
    c.extracted_topics, c.decay_multiplier, c.user_marked_important, c.is_deleted,
    c.attachment_context, c.prospective_self_context, c.created_at, c.updated_at,
    1 - r.distance as similarity,
    method as search_method
  from rows from (pg_catalog.unnest(picked[1:k]), pg_catalog.unnest(distances[1:k])) as r(hit, distance)
  join public.conversations c on c.id = r.hit
  where match_threshold is null or 1 - r.distance >= match_threshold
  order by r.distance, c.id;
end;
$$
    $def$;
    comment on function public.semantic_search(extensions.vector, integer, double precision, text, timestamptz, boolean, boolean) is
      'The caller''s memories most similar to query_embedding (semantic_search version 20260202002800).';
  end if;
end
$guard$;

revoke execute on function public.semantic_search(extensions.vector, integer, double precision, text, timestamptz, boolean, boolean) from public, anon;
grant execute on function public.semantic_search(extensions.vector, integer, double precision, text, timestamptz, boolean, boolean) to authenticated, service_role;
