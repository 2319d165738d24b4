-- Search layout: how a memory's embedding is stored and indexed so that one user's search stays fast
-- from ten memories to a hundred thousand. The numbers behind each choice are in benchmarks/search.py
-- (PostgreSQL 18, pgvector 0.8.5, 2 cores, 131,000 rows x 768 dimensions, 33 users).

-- 1. Keep the embedding inside the row. A vector(768) is 3,080 bytes and pgvector's default storage is
--    EXTERNAL, so every embedding lived in the TOAST table and an exact per-user scan paid one TOAST
--    lookup per row: 57 ms for a user with 10,000 memories, 730 ms at 100,000. MAIN keeps it inline
--    unless the whole row outgrows a page (huge message logs are moved out first): 19 ms and 270 ms.
--    Only rows written from now on are affected; VACUUM FULL re-lays existing ones.
alter table public.conversations alter column embedding set storage main;

-- 2. A binary sketch of the embedding: one bit per dimension (the sign), 96 bytes. Hamming distance on
--    it ranks candidates, and the exact cosine distance re-ranks the best few hundred of them.
alter table public.conversations
  add column if not exists embedding_bq bit(768)
  generated always as (extensions.binary_quantize(embedding)::bit(768)) stored;

-- 3. The per-user index carries the sketch and the filter columns, so ranking all of a user's memories is
--    an index-only scan over ~130 bytes per memory (13 MB for 100,000) instead of a heap scan over 3.5 KB
--    per memory (350 MB). Same key as conversations_user_created_idx (user, newest first), which it
--    replaces for every query that one served.
create index if not exists conversations_user_search_idx
  on public.conversations (user_id, created_at desc)
  include (id, embedding_bq, is_deleted, salience_tier);
drop index if exists public.conversations_user_created_idx;

-- No HNSW index. Measured here: on 131,000 rows it takes 58 s to build (maintenance_work_mem 1 GB) and is
-- 551 MB, four times shared_buffers; per user it post-filters (recall 0.7-0.95 even with iterative
-- scans), and with it present the planner used it for a 10,000-memory user's exact query and returned
-- 0 rows. Every insert also pays for it, which the bulk ingest target cannot afford.
