-- Search layout: how a memory's embedding is stored and indexed so that one user's search stays fast
-- from ten memories to a hundred thousand. The numbers behind each choice are in benchmarks/search.py
-- (PostgreSQL 18, pgvector 0.8.5, 2 cores, shared_buffers 128 MB, 131,000 rows x 768 dimensions).

-- 1. Keep the embedding inside the row. A vector(768) is 3,080 bytes and pgvector's default storage is
--    EXTERNAL, so every embedding lived in the TOAST table and an exact per-user scan paid one TOAST
--    lookup per row: 57 ms for a user with 10,000 memories, 730 ms at 100,000. MAIN keeps it inline
--    unless the whole row outgrows a page (huge message logs are moved out first): 19 ms and 270 ms.
--    Only rows written from now on are affected; VACUUM FULL re-lays existing ones.
alter table public.conversations alter column embedding set storage main;

-- 2. A 2-bit sketch of the embedding for a cheap first ranking (Hamming distance), which the exact cosine
--    distance then re-ranks. Three 768-bit planes of the unit-normalised embedding: x > 0, x > t and
--    x < -t, with t = 0.7 / sqrt(768), i.e. 0.7 times the RMS coordinate of any unit vector of this width,
--    so it needs nothing from the data. The Hamming distance of two sketches is then the L1 distance of
--    the coordinates quantised to four levels, where the sign alone (binary_quantize) keeps one bit.
--    Measured on benchmarks/search.py's data at 100,000 memories (numpy, 40 queries): to keep recall@10
--    >= 0.99 after exact re-ranking, the sign sketch needs the best 800 candidates re-ranked (0.96 at
--    400), this one 200-300 (1.00 at 400); and each re-ranked candidate is a random heap page (~20 us
--    when the user's rows outgrow shared_buffers), while the wider sketch costs ~0.03 us more per
--    Hamming comparison. Centring the vectors first (subtracting the corpus mean) helps a little more,
--    but the mean of the app's real embeddings is not known here and would be frozen into every stored
--    sketch: not worth a guess.
--    Immutable (pgvector's functions and array_fill are), so it may define a generated column; the
--    search function computes the query's sketch with the same function, so the two always agree.
create or replace function public.embedding_sketch(embedding extensions.vector)
returns bit varying
language sql
immutable
strict  -- a memory without an embedding has no sketch (and array_fill refuses a null width)
parallel safe
set search_path = ''
as $$
  select
    extensions.binary_quantize(u.v)::bit varying
    || extensions.binary_quantize(u.v operator(extensions.-) t.hi)::bit varying
    || extensions.binary_quantize(t.lo operator(extensions.-) u.v)::bit varying
  from (select extensions.l2_normalize(embedding) as v) u,
       lateral (
         select
           pg_catalog.array_fill((0.7 / pg_catalog.sqrt(extensions.vector_dims(u.v)))::real, array[extensions.vector_dims(u.v)])::extensions.vector as hi,
           pg_catalog.array_fill((-0.7 / pg_catalog.sqrt(extensions.vector_dims(u.v)))::real, array[extensions.vector_dims(u.v)])::extensions.vector as lo
       ) t
$$;

revoke execute on function public.embedding_sketch(extensions.vector) from public, anon;
grant execute on function public.embedding_sketch(extensions.vector) to authenticated, service_role;

-- An earlier draft of this migration stored the 1-bit sign sketch; its column (and the index carrying
-- it) goes, so that a database that ran the draft ends up like a fresh one.
alter table public.conversations drop column if exists embedding_bq;

alter table public.conversations
  add column if not exists embedding_sketch bit(2304)
  generated always as (public.embedding_sketch(embedding)::bit(2304)) stored;

-- 3. The per-user index carries the sketch and the filter columns, so ranking all of a user's memories is
--    an index-only scan over ~350 bytes per memory (36 MB for 100,000) instead of a heap scan over 3.5 KB
--    per memory (350 MB), and the filters apply exactly, before ranking. Same key as
--    conversations_user_created_idx (user, newest first), which it replaces for every query that one
--    served.
--    Skipped once 20260202001300_search_cells.sql has replaced it by conversations_search_cell_idx: running
--    this file again after that one must neither build the old index nor drop the one listing depends on.
do $$
begin
  if to_regclass('public.conversations_search_cell_idx') is null then
    create index if not exists conversations_user_search_idx
      on public.conversations (user_id, created_at desc)
      include (id, embedding_sketch, is_deleted, salience_tier);
    drop index if exists public.conversations_user_created_idx;
  end if;
end
$$;

-- No HNSW index. Measured here: on 131,000 rows it takes ~60 s to build (maintenance_work_mem 1 GB) and
-- is 551 MB, four times shared_buffers; per user it post-filters (recall 0.7-0.95 even with iterative
-- scans), and with it present the planner used it for a 10,000-memory user's exact query and returned
-- 0 rows. Every insert also pays for it, which the bulk ingest target cannot afford.
