-- semantic_search no longer counts the caller's memories on every call: which users hold at least 2,000
-- (exact_limit, below which every search is ranked exactly) is kept in a table, by triggers on
-- public.conversations.
--
-- A caller without a per-user index used to count their memories, up to 2,000, before each search, to choose
-- between the exact ranking and the sketch scan. Most users of an app are below 2,000, and for them the count
-- was the one thing the search did that a plain `order by embedding <=> q limit k` does not: 0.11 ms of a
-- 1.5 ms search at 1,000 memories (real text, 900 held-out queries taking turns with a copy of the function
-- without the count, two runs: 1.562 / 1.634 ms with it, 1.454 / 1.521 without, the plain statement 1.515 /
-- 1.582). Looking the caller up here costs one primary-key probe, in the statement that reads their index
-- entry (two statements took 0.01-0.016 ms more).
--
-- The triggers re-count only what can change the answer, and only a sixteenth of the time:
--   * an inserted memory whose id hashes to 0 mod 16 counts its owner's memories (up to 2,000) if the owner
--     is not marked yet, and marks them at 2,000. Counting on every insert added 0.13 ms to a 0.42 ms
--     single-row insert; sampled, the median insert is 0.01-0.02 ms slower (an owner already marked costs
--     a probe). A bulk insert marks its owner as its sampled rows are checked, once the owner has 2,000:
--     a 20,000-row COPY took 2.65 and 2.77 s against 2.50 and 2.73 with the trigger disabled.
--   * a deleted memory sampled the same way unmarks its owner below 2,000;
--   * a memory moved to another user re-checks both, every time (rare, and not sampled).
-- A mark is therefore late by 16 writes on average (each write has the same one-in-16 chance). A late mark
-- picks the other path, and each path says what it is: an unmarked user over 2,000 is ranked exactly (a
-- little slower than the sketch scan, as right as ever); a marked user under 2,000 gets the sketch scan of
-- all their memories, its best 400 or more re-ranked exactly (`search_method` 'sketch', approximate;
-- recall@10 1.000 on real text at 5,000 memories). The backfill below, running this file again, and
-- `phase3 db tune-search` set every mark right.
--
-- The search's result is unchanged; replaced in place, callers and grants unchanged; the version guard is
-- as in 20260202001700_search_rerank_once.sql.

create table if not exists public.memory_search_large_users (
  user_id uuid primary key references auth.users (id) on delete cascade,
  marked_at timestamptz not null default now()
);

alter table public.memory_search_large_users enable row level security;

-- A user reads their own mark (semantic_search runs as the caller); only the triggers write.
drop policy if exists memory_search_large_users_owner_read on public.memory_search_large_users;
create policy memory_search_large_users_owner_read on public.memory_search_large_users
  for select to authenticated
  using ((select auth.uid()) = user_id);

revoke all on table public.memory_search_large_users from anon, authenticated;
grant select on table public.memory_search_large_users to authenticated;
grant select, insert, update, delete on table public.memory_search_large_users to service_role;

-- Marks (or unmarks) the owners of a written memory. SECURITY DEFINER: the writer may not write the table
-- (or a user could unmark themselves); it is a trigger function, callable by no API role.
create or replace function public.mark_large_memory_owners()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  -- semantic_search ranks a user below this many memories exactly.
  exact_limit constant integer := 2000;
begin
  if tg_op in ('INSERT', 'UPDATE')
     and not exists (select 1 from public.memory_search_large_users l where l.user_id = new.user_id)
     and (select count(*) from (
            select 1 from public.conversations c where c.user_id = new.user_id limit exact_limit
          ) s) >= exact_limit then
    insert into public.memory_search_large_users (user_id) values (new.user_id) on conflict do nothing;
  end if;
  if tg_op in ('DELETE', 'UPDATE')
     and exists (select 1 from public.memory_search_large_users l where l.user_id = old.user_id)
     and (select count(*) from (
            select 1 from public.conversations c where c.user_id = old.user_id limit exact_limit
          ) s) < exact_limit then
    delete from public.memory_search_large_users l where l.user_id = old.user_id;
  end if;
  return null;
end
$$;

revoke execute on function public.mark_large_memory_owners() from public, anon, authenticated, service_role;

-- After the row is written, so that the count includes it; the WHEN clause, evaluated without calling the
-- function, keeps fifteen writes in sixteen at no cost. uuid_hash, not the id's first digit: ids an app
-- makes itself may be time-ordered (uuid v7), whose leading digits hardly change.
drop trigger if exists mark_large_owner_inserted on public.conversations;
create trigger mark_large_owner_inserted after insert on public.conversations
  for each row when ((pg_catalog.uuid_hash(new.id) & 15) = 0)
  execute function public.mark_large_memory_owners();

drop trigger if exists mark_large_owner_deleted on public.conversations;
create trigger mark_large_owner_deleted after delete on public.conversations
  for each row when ((pg_catalog.uuid_hash(old.id) & 15) = 0)
  execute function public.mark_large_memory_owners();

drop trigger if exists mark_large_owner_moved on public.conversations;
create trigger mark_large_owner_moved after update of user_id on public.conversations
  for each row when (old.user_id is distinct from new.user_id)
  execute function public.mark_large_memory_owners();

-- Emptying the table unmarks everyone.
create or replace function public.unmark_large_memory_owners()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from public.memory_search_large_users;
  return null;
end
$$;

revoke execute on function public.unmark_large_memory_owners() from public, anon, authenticated, service_role;

drop trigger if exists unmark_large_owners_truncated on public.conversations;
create trigger unmark_large_owners_truncated after truncate on public.conversations
  for each statement execute function public.unmark_large_memory_owners();

-- Sets every mark of only_users (all users when null) as it should be now, and says how many were wrong;
-- with dry_run, only says. What this file does below, and `phase3 db tune-search` after imports (the
-- triggers above cannot see a concurrent import's rows). Not SECURITY DEFINER: for the table owner alone.
create or replace function public.set_large_memory_owners(
  only_users uuid[] default null,
  dry_run boolean default false
)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  -- As in public.mark_large_memory_owners().
  exact_limit constant integer := 2000;
  missing uuid[];
  stray uuid[];
begin
  with large as (
    select c.user_id from public.conversations c
    where only_users is null or c.user_id = any(only_users)
    group by c.user_id having count(*) >= exact_limit
  )
  select
    array(select l.user_id from large l
          where not exists (select 1 from public.memory_search_large_users m where m.user_id = l.user_id)),
    array(select m.user_id from public.memory_search_large_users m
          where (only_users is null or m.user_id = any(only_users))
            and not exists (select 1 from large l where l.user_id = m.user_id))
  into missing, stray;
  if not dry_run then
    insert into public.memory_search_large_users (user_id)
    select pg_catalog.unnest(missing) on conflict do nothing;
    delete from public.memory_search_large_users m where m.user_id = any(stray);
  end if;
  return pg_catalog.cardinality(missing) + pg_catalog.cardinality(stray);
end
$$;

revoke execute on function public.set_large_memory_owners(uuid[], boolean) from public, anon, authenticated, service_role;

-- Every mark as it should be now (the memories already there; and set right again when run again).
select public.set_large_memory_owners();

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
  ) <= '20260202002300' then
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
  -- The caller's memories by sketch distance to the query's, best first (the untuned path, and a hard
  -- query's second opinion).
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
begin
  if caller is null or query_embedding is null then
    return;
  end if;

  if not exact then
    -- What is known of the caller, in one statement: their index entry, if any, and their size mark.
    select s.ef_search, s.fallback_below, s.graph, s.first_ef_search, s.retry_below,
           exists (select 1 from public.memory_search_large_users l where l.user_id = caller)
    into ef, hard_below, graph, first_ef, retry_below, large
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
        -- An uncertain answer (its k-th hit less similar than retry_below, or fewer than k hits) walks again
        -- with the whole list, unless it is hard already: the sketch scan below reads every sketch anyway.
        if first_ef < ef and retry_below is not null
           and (coalesce(pg_catalog.cardinality(picked), 0) < k or 1 - distances[k] < retry_below)
           and not (hard_below is not null and coalesce(pg_catalog.cardinality(picked), 0) >= k
                    and 1 - distances[k] < hard_below) then
          perform pg_catalog.set_config('hnsw.ef_search', ef::text, true);
          execute pg_catalog.format(ranked_scan, 'm.embedding_sketch operator(extensions.<~>) $7')
          into more, more_distances
          using caller, since, include_deleted, filter_salience_tier, query_embedding, greatest(ef / 4, 5 * k),
                sketch;
          -- Both walks' candidates by exact distance (a candidate of both has the same distance in each).
          select pg_catalog.array_agg(u.candidate order by u.distance, u.candidate),
                 pg_catalog.array_agg(u.distance order by u.distance, u.candidate)
          into picked, distances
          from (
            select distinct w.candidate, w.distance
            from rows from (
              pg_catalog.unnest(coalesce(picked, '{}'::uuid[]) || coalesce(more, '{}'::uuid[])),
              pg_catalog.unnest(
                coalesce(distances, '{}'::double precision[]) || coalesce(more_distances, '{}'::double precision[])
              )
            ) as w(candidate, distance)
          ) u;
          more := null;
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
      end if;
      perform pg_catalog.set_config('enable_sort', 'on', true);
      -- A hard query (its k-th hit far from it): the graph search is least reliable exactly there, so the
      -- best candidates by sketch distance over ALL the caller's memories join the ranking.
      if hard_below is not null and coalesce(pg_catalog.cardinality(picked), 0) >= k
         and 1 - distances[k] < hard_below then
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
      -- the triggers above) is ranked exactly: no count here.
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
    -- `+ 0`: an expression no index can order by, so that a per-user HNSW index is never used here.
    return query
    select
      c.id, c.user_id, c.instance_key, c.messages, c.primary_emotion, c.secondary_emotions,
      c.valence, c.arousal, c.dominance, c.novelty, c.self_relevance, c.emotional_salience, c.salience_tier,
      c.extracted_topics, c.decay_multiplier, c.user_marked_important, c.is_deleted,
      c.attachment_context, c.prospective_self_context, c.created_at, c.updated_at,
      1 - r.distance as similarity,
      'exact'::text as search_method
    from (
      select m.id, m.embedding operator(extensions.<=>) query_embedding as distance
      from public.conversations m
      where m.user_id = caller
        and m.embedding is not null
        and m.created_at >= since
        and (include_deleted or not m.is_deleted)
        and (filter_salience_tier is null or m.salience_tier = filter_salience_tier)
      order by (m.embedding operator(extensions.<=>) query_embedding) + 0, m.id
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
      'The caller''s memories most similar to query_embedding (semantic_search version 20260202002300).';
  end if;
end
$guard$;

revoke execute on function public.semantic_search(extensions.vector, integer, double precision, text, timestamptz, boolean, boolean) from public, anon;
grant execute on function public.semantic_search(extensions.vector, integer, double precision, text, timestamptz, boolean, boolean) to authenticated, service_role;
