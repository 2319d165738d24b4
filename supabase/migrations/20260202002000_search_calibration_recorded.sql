-- memory_search_indexes.calibration: which calibration measured an entry's ef_search, so that a new one can
-- measure it again unasked.
--
-- phase3 db tune-search (phase3_sdk.db.tune) chooses each indexed user's ef_search by calibration, whose
-- method changes between versions of the SDK: 0.2.0 scores what semantic_search returns, hard-query rescue
-- included, where earlier versions scored the graph alone and chose longer lists (ef_search 160 where 100-120
-- was enough at 100,000 memories, ~1 ms a query). An entry keeps its ef_search until the index is rebuilt,
-- so users tuned before kept the old list. With this column the next tune-search run finds entries measured
-- by an earlier method (null: written before this file) and calibrates them again, keeping the index; the
-- dry run reports them as `recalibrate`. 0 marks an ef_search given by hand (--ef-search), left as it is.
-- The numbers are phase3_sdk.db.tune.CALIBRATION's. Only the tuner (service_role) writes the table; the
-- policies and grants of 20260202001500_search_user_indexes.sql cover the new column as they are.

alter table public.memory_search_indexes
  add column if not exists calibration integer
    constraint memory_search_indexes_calibration_check check (calibration >= 0);

comment on column public.memory_search_indexes.calibration is
  'Which calibration chose ef_search (phase3_sdk.db.tune.CALIBRATION); 0: given by hand; null: before 0.2.0.';
