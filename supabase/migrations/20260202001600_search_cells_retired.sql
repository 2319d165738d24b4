-- Search cells retired: a user without a per-user index is ranked by a sketch scan of ALL their memories.
--
-- 20260202001500_search_user_indexes.sql kept the cells' path for large users not tuned yet, and the tuner
-- cleared a user's cells only when it built their index. `phase3 db tune-search` now indexes users from
-- 30,000 memories (phase3_sdk.db.tune.DEFAULT_MIN_MEMORIES) instead of 2,000, so users in between take the
-- sketch path for good: measured on real text (benchmarks/search.py), the sketch scan of all of a user's
-- memories re-ranked exactly kept recall@10 1.000 on every query at 5,000 and 20,000 memories and was faster
-- than their index; the cells nearest the query alone gave 0.92, queries losing most of their neighbours.
-- A user who still had cells from the earlier tuner would read only those cells: clearing the cells, and
-- every memory's cell (-1, unassigned, is always read), makes the path read all the caller's memories.
-- Nothing writes cells any more, so this stays true; the table and column are left for older SDKs' sake.
-- A user indexed under the old threshold keeps the index until the next tune-search drops it (fewer than
-- 15,000 memories: 30,000 / the rebuild factor 2), and until then is searched through it.
do $retire$
begin
  -- Index upkeep, not an edit of the memory: updated_at keeps the time of the last real change (the trigger
  -- of 20260202001300_search_cells.sql skips upkeep).
  perform pg_catalog.set_config('phase3.search_upkeep', 'on', true);
  update public.conversations set search_cell = -1 where search_cell <> -1;
  perform pg_catalog.set_config('phase3.search_upkeep', '', true);
  delete from public.memory_search_cells;
end
$retire$;
