-- Keyset pages whose cost does not depend on how far into a list they are.
--
-- A page after the cursor (x, y) in the order (created_at desc, id desc) asks for
--   created_at <= x and (created_at < x or (created_at = x and id < y))
-- (the SDK adds the redundant first bound: phase3_sdk.resources.query.page_query). With an index that ends
-- with the tie-breaker, (user_id, created_at desc, id desc), the bound is an index condition: the scan
-- starts at the cursor, the `or` only filters the few rows that share created_at = x, and the rows come
-- out in the page's order with no sort. Without it (the old (user_id, created_at desc) indexes, no bound)
-- every page read the index from the user's newest row and threw away every row before the cursor
-- (`Rows Removed by Filter: 25001` at position 25,000), so listing everything cost the square of the rows.
--
-- One index per owner-only table, on its default order (what list() and page() use when no order is
-- given). A B-tree is read backwards just as well, so each also serves the ascending order. The old
-- two-column indexes are a prefix of the new ones and are dropped: every query they served, the new ones
-- serve, and a second index on the same columns would only slow inserts (conversations is the bulk-ingest
-- table). Tools and skills are not indexed here: their read policy is "own or public", which a per-user
-- index cannot bound.
--
-- Re-runnable: every statement is `if not exists` / `if exists`.

create index if not exists conversations_user_created_id_idx
  on public.conversations (user_id, created_at desc, id desc);
drop index if exists public.conversations_user_created_idx;

create index if not exists custom_tool_usage_user_time_id_idx
  on public.custom_tool_usage (user_id, "timestamp" desc, id desc);
drop index if exists public.custom_tool_usage_user_time_idx;

create index if not exists composite_skill_executions_user_created_id_idx
  on public.composite_skill_executions (user_id, created_at desc, id desc);
drop index if exists public.composite_skill_executions_user_created_idx;

create index if not exists memory_synthesis_jobs_user_created_id_idx
  on public.memory_synthesis_jobs (user_id, created_at desc, id desc);
drop index if exists public.memory_synthesis_jobs_user_created_idx;

create index if not exists memory_patterns_user_created_id_idx
  on public.memory_patterns (user_id, created_at desc, id desc);

create index if not exists synthesis_recommendations_user_created_id_idx
  on public.synthesis_recommendations (user_id, created_at desc, id desc);
