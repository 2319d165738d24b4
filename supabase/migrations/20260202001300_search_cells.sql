-- Per-user search cells: what keeps one user's semantic search fast at 100,000 memories.
--
-- Until now semantic_search ranked ALL of the caller's memories by sketch distance (the covering index of
-- 20260202001000_search_layout.sql) before re-ranking the best few hundred exactly. That is linear in the
-- user's memory count: ~150-200 ns per memory read from the index, so ~20-30 ms at 100,000 memories on a
-- 2-core machine, whatever else is tuned (narrower sketches, partial indexes, a threshold instead of a sort
-- were each measured at 10-20% better, and a parallel scan was slower: worker start-up costs more than it saves
-- on 2 cores).
--
-- A cell is a cluster of one user's memories: `phase3 db tune-search` (phase3_sdk.db.tune) runs k-means over a
-- sample of a user's embeddings (about one cell per 300 memories), stores the centroids here and writes every
-- memory's nearest cell into conversations.search_cell. A query then reads only the cells nearest to it,
-- nearest first, until they hold about 1/12 of the user's memories (at least 4,000), in cell order from
-- the index below: an inverted-file (IVF) index per user. Measured on benchmarks/search.py's data (numpy):
-- 99.7-100% of a query's exact top 10 lie in the cells read, at 10,000 and 100,000 memories; recall@10 of
-- the whole search, after the sketch ranking and re-ranking, is 0.99 at both sizes.
--
-- Why per user rather than pgvector's ivfflat or hnsw: those index the whole table and filter by user after
-- the index scan, which loses recall for any user who is not most of the table (see the search issue), and a
-- global index's centroids would be averages of everyone's memories, readable by everyone; these are each
-- user's own, under RLS.
--
-- Correct without tuning, only slower: memories written after a user's cells were trained (and every memory
-- of a user never tuned) have search_cell -1, and -1 is always read. Tuning again folds them in.

create table if not exists public.memory_search_cells (
  user_id uuid not null references auth.users (id) on delete cascade,
  cell smallint not null constraint memory_search_cells_cell_check check (cell >= 0),
  centroid extensions.vector(768) not null,
  -- How many memories the cell held when it was trained: the search reads cells until it has read enough.
  members integer not null default 0 constraint memory_search_cells_members_check check (members >= 0),
  trained_at timestamptz not null default now(),
  primary key (user_id, cell)
);

-- A query reads all of the caller's centroids: keep each (3 KB) inside its row instead of in the TOAST table,
-- as for conversations.embedding (search_layout.sql); measured at 100,000 memories (333 cells), the whole
-- search went from 8.4 to 7.1 ms (p50).
alter table public.memory_search_cells alter column centroid set storage main;

alter table public.memory_search_cells enable row level security;

-- A user reads their own cells (semantic_search runs as the caller); only the tuner (the table owner or the
-- service role) writes them. A user who could write them could only slow down or degrade their own search.
drop policy if exists memory_search_cells_owner_read on public.memory_search_cells;
create policy memory_search_cells_owner_read on public.memory_search_cells
  for select to authenticated
  using ((select auth.uid()) = user_id);

revoke all on table public.memory_search_cells from anon, authenticated;
grant select on table public.memory_search_cells to authenticated;
grant select, insert, update, delete on table public.memory_search_cells to service_role;

-- Ingest: the sketch column called public.embedding_sketch for every memory written. A SQL function that
-- pins its search_path is never inlined, and this one rebuilt its two 768-wide threshold vectors for every
-- row: measured, 72 us of a bulk-inserted row's ~200 us were spent in the INSERT, 40 of them on the sketch.
-- The same formula written into the column, with the width that vector(768) fixes as a constant, lets the
-- planner fold the thresholds once per statement: 44 us per row (32 with no sketch at all). The values are
-- bit for bit what public.embedding_sketch computes (the search still uses it for the query; tests/search
-- checks that the two agree). Done once: re-running this file finds the column already rewritten.
do $swap$
begin
  if exists (
    select 1
    from pg_catalog.pg_attrdef d
    join pg_catalog.pg_attribute a on a.attrelid = d.adrelid and a.attnum = d.adnum
    where d.adrelid = 'public.conversations'::regclass
      and a.attname = 'embedding_sketch'
      and pg_catalog.pg_get_expr(d.adbin, d.adrelid) like '%embedding_sketch(%'
  ) then
    -- Dropping the column drops the covering index built on it (conversations_user_search_idx).
    alter table public.conversations drop column embedding_sketch;
    alter table public.conversations add column embedding_sketch bit(2304) generated always as ((
      extensions.binary_quantize(extensions.l2_normalize(embedding))::bit varying
      || extensions.binary_quantize(
        extensions.l2_normalize(embedding)
        operator(extensions.-) pg_catalog.array_fill((0.7 / pg_catalog.sqrt(768))::real, array[768])::extensions.vector
      )::bit varying
      || extensions.binary_quantize(
        pg_catalog.array_fill((-0.7 / pg_catalog.sqrt(768))::real, array[768])::extensions.vector
        operator(extensions.-) extensions.l2_normalize(embedding)
      )::bit varying
    )::bit(2304)) stored;
  end if;
end
$swap$;

-- -1: not assigned to a cell (never tuned, or written since). Not null, so that `search_cell = any(cells)`
-- can be one index condition; adding a column with a constant default rewrites nothing.
alter table public.conversations add column if not exists search_cell smallint not null default -1;

-- The index a search reads: the caller's memories cell by cell, each entry carrying the sketch and the filter
-- columns, so ranking never touches the table. Memories without an embedding are never searched.
create index if not exists conversations_search_cell_idx
  on public.conversations (user_id, search_cell, created_at desc)
  include (id, embedding_sketch, is_deleted, salience_tier)
  where embedding_sketch is not null;
-- The covering index it replaces was also what listed a user's memories newest first; that needs its own
-- narrow index again now that the search index is ordered by cell.
-- Skipped once 20260202001400_keyset_indexes.sql has replaced it by conversations_user_created_id_idx (the same key plus the
-- id tie-breaker): running this file again must not bring the narrower index back.
do $$
begin
  if to_regclass('public.conversations_user_created_id_idx') is null then
    create index if not exists conversations_user_created_idx on public.conversations (user_id, created_at desc);
  end if;
end
$$;
drop index if exists public.conversations_user_search_idx;

-- Moving memories between cells is index upkeep, not an edit of the memory: the tuner sets
-- phase3.search_upkeep for its own transaction, and updated_at keeps the time of the last real change.
drop trigger if exists set_updated_at on public.conversations;
create trigger set_updated_at before update on public.conversations
  for each row when (coalesce(pg_catalog.current_setting('phase3.search_upkeep', true), '') <> 'on')
  execute function public.set_updated_at();

-- A memory whose embedding changes may belong to another cell now: mark it unassigned (read by every query)
-- rather than leave it where no query near its new embedding would look.
create or replace function public.reset_search_cell()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  -- `is distinct from` would need pgvector's `=` on the search_path; spelled out, a null on either side counts
  -- as a change (a memory without an embedding is not in the search index anyway).
  if new.embedding is null or old.embedding is null
     or not (new.embedding operator(extensions.=) old.embedding) then
    new.search_cell := -1;
  end if;
  return new;
end;
$$;

drop trigger if exists reset_search_cell on public.conversations;
create trigger reset_search_cell before update of embedding on public.conversations
  for each row execute function public.reset_search_cell();

-- semantic_search, as in 20260202001001_search_functions.sql (same result, one more argument last), now
-- reading cells:
--  1. The cells to read (if the caller has any): nearest centroid first, until they hold enough memories.
--  2. Rank the memories of those cells, plus the unassigned ones, by sketch distance, from
--     conversations_search_cell_idx alone; filters apply here, exactly, before any ranking. If that finds
--     fewer candidates than the re-ranking wants (a selective filter), rank every cell's instead.
--  3. Re-rank the best `depth` by exact cosine distance, then read the full rows of the final k only.
-- A user without cells has only unassigned memories, so step 2 ranks them all: the earlier behaviour.
--
-- Plans: only the ranking scan depends on its values for a good plan, so only it is planned per call
-- (EXECUTE); the other statements and expressions keep PL/pgSQL's cached plans. Forcing custom plans for
-- the whole function, as the previous version did, re-plans all of them: ~1 ms more at 1,000 and 10,000
-- memories.
-- Bitmap scans and hash or merge joins are off because RLS adds `(select auth.uid()) = user_id` to every
-- scan of conversations, and with the user index back the planner liked to AND a bitmap of ALL the
-- caller's memories into the re-ranking lookup (10 ms at 100,000 memories, for 300 rows found by key).
-- `exact`: rank every matching memory by cosine distance instead (recall 1, linear: for audits, evaluations
-- and small users). A new argument makes a new function: the six-argument one goes, so that calls that
-- leave `exact` out are not ambiguous.
drop function if exists public.semantic_search(extensions.vector, integer, double precision, text, timestamptz, boolean);
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
  similarity double precision
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
as $$
#variable_conflict use_column
declare
  -- Read cells until they hold this many memories, or this share of the caller's: measured on
  -- benchmarks/search.py's data, reading ~8% of a 100,000-memory user (cells of ~300) or 40% of a
  -- 10,000-memory one gives recall@10 0.99 after re-ranking. The floor is a setting (`alter role
  -- authenticated set phase3.search_min_rows = ...`) so that it can be traded for speed, or tested small.
  min_rows integer := coalesce(nullif(pg_catalog.current_setting('phase3.search_min_rows', true), '')::integer, 4000);
  share constant integer := 12;
  caller uuid := (select auth.uid());
  k integer := least(greatest(coalesce(match_count, 10), 1), 1000);
  -- Re-ranking depth: each candidate costs one random heap page (~3 us when cached). Measured at 100,000
  -- memories over 150 queries: recall@10 0.973 with 200, 0.991 with 300, 0.995 with 400, the cells read
  -- being the same; 400 keeps a margin above 0.98 for ~0.3 ms.
  depth integer := least(greatest(coalesce(match_count, 10) * 30, 400), 20000);
  since timestamptz := coalesce(filter_since, '-infinity');
  sketch bit(2304);
  cells smallint[];
  every_cell smallint[];
  picked uuid[];
begin
  if caller is null or query_embedding is null then
    return;
  end if;
  if exact then
    -- Every matching memory by exact cosine distance: recall 1 by construction, linear in their number.
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
        order by m.embedding operator(extensions.<=>) $5
        limit $6
      ) s
    $exact$
    into picked
    using caller, since, include_deleted, filter_salience_tier, query_embedding, k;
  else
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
    -- Unassigned memories (-1) are always read. Spelled out here rather than in the query below, where the
    -- planner cannot see through the expression and read the user's whole heap instead (80 ms at 100,000).
    cells := coalesce(cells, '{}'::smallint[]) || (-1)::smallint;
    every_cell := coalesce(every_cell, '{}'::smallint[]) || (-1)::smallint;

    loop
      -- EXECUTE plans this statement for the values at hand every time (the rest of the function may use
      -- cached generic plans): a plan made for a user with few memories, kept and reused for one with many,
      -- measured 2-4x slower for the latter (12-30 ms instead of 6-9 ms at 100,000 memories).
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
      -- Fewer candidates than asked for means the filters are selective (or match_count is large) and the
      -- cells read ran out of matches: read every cell rather than return fewer hits than there are.
      exit when coalesce(pg_catalog.cardinality(picked), 0) >= depth
        or pg_catalog.cardinality(cells) = pg_catalog.cardinality(every_cell);
      cells := every_cell;
    end loop;
  end if;

  return query
  with ranked as (
    select c.id as hit, c.embedding operator(extensions.<=>) query_embedding as distance
    from pg_catalog.unnest(picked) as p(candidate)
    join public.conversations c on c.id = p.candidate
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
$$;

revoke execute on function public.semantic_search(extensions.vector, integer, double precision, text, timestamptz, boolean, boolean) from public, anon;
grant execute on function public.semantic_search(extensions.vector, integer, double precision, text, timestamptz, boolean, boolean) to authenticated, service_role;
