-- The skill engine's write path: one function call per database round trip.
--
-- The engine (phase3_sdk._async.engine) runs the steps in the client process; these functions make each of
-- its writes a single request on both backends (PostgREST calls them through /rpc, the Postgres backend with
-- `select ... from public.fn(name => value)`). They are all SECURITY INVOKER, so RLS still decides what the
-- caller may touch; the usage counters follow from the rows they write, by triggers (a logged tool call
-- counts once, a finished execution counts once: 20260202001350_usage_counters.sql). Every function is safe
-- to call twice with the same arguments (the SDK retries transient failures): usage rows carry
-- client-generated ids, a step is appended once per stepId, and an execution finishes once.

-- Insert custom_tool_usage rows given as a jsonb array of objects (column name -> value); the insert trigger
-- counts each one on the tool it names. Rows already present (a retried call) are neither inserted nor
-- counted again. A tool deleted (or hidden) since it was resolved is logged with custom_tool_id null rather
-- than failing the whole call on the foreign key.
create or replace function public.log_tool_calls(p_usage jsonb)
returns integer
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_count integer := 0;
begin
  if p_usage is null or jsonb_typeof(p_usage) <> 'array' then
    return 0;
  end if;
  with added as (
    insert into public.custom_tool_usage as t (
      id, custom_tool_id, tool_name, user_id, input_params, output_result, status, error_message,
      execution_time_ms, memory_used_mb, skill_execution_id
    )
    select
      (u ->> 'id')::uuid,
      (select c.id from public.custom_tools c where c.id = (u ->> 'custom_tool_id')::uuid),
      u ->> 'tool_name',
      coalesce((u ->> 'user_id')::uuid, (select auth.uid())),
      coalesce(u -> 'input_params', '{}'::jsonb),
      nullif(u -> 'output_result', 'null'::jsonb),
      u ->> 'status',
      u ->> 'error_message',
      (u ->> 'execution_time_ms')::double precision,
      (u ->> 'memory_used_mb')::double precision,
      (u ->> 'skill_execution_id')::uuid
    from jsonb_array_elements(p_usage) as u
    on conflict (id) do nothing
    returning t.id
  )
  select count(*) into v_count from added;
  return v_count;
end;
$$;

revoke execute on function public.log_tool_calls(jsonb) from public, anon;
grant execute on function public.log_tool_calls(jsonb) to authenticated, service_role;


-- Insert an execution as `running`, holding a lease for p_owner that the database clock times (a client
-- clock could be skewed), and return it. The skill must be visible to the caller (RLS): the foreign key
-- alone would accept another user's private skill. A retried call returns the row the first one wrote.
create or replace function public.start_skill_execution(
  p_execution_id uuid,
  p_skill_id uuid,
  p_user_id uuid,
  p_input jsonb,
  p_snapshot jsonb,
  p_owner text,
  p_lease_seconds double precision
)
returns setof public.composite_skill_executions
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if not exists (select 1 from public.composite_skills s where s.id = p_skill_id) then
    raise exception 'no composite skill % is visible to this caller', p_skill_id using errcode = 'P0002';
  end if;
  insert into public.composite_skill_executions (
    id, composite_skill_id, user_id, input_params, status, total_steps, skill_snapshot, lease_owner,
    lease_expires_at
  )
  values (
    p_execution_id, p_skill_id, coalesce(p_user_id, (select auth.uid())), coalesce(p_input, '{}'::jsonb),
    'running', jsonb_array_length(coalesce(p_snapshot, '[]'::jsonb)), p_snapshot, p_owner,
    now() + make_interval(secs => p_lease_seconds)
  )
  on conflict (id) do nothing;
  return query select * from public.composite_skill_executions e where e.id = p_execution_id;
end;
$$;

revoke execute on function public.start_skill_execution(uuid, uuid, uuid, jsonb, jsonb, text, double precision)
  from public, anon;
grant execute on function public.start_skill_execution(uuid, uuid, uuid, jsonb, jsonb, text, double precision)
  to authenticated, service_role;


-- One step's checkpoint in one round trip: log its tool calls (log_tool_calls), append its record to
-- steps_executed, extend the lease. Only the lease owner may write, so a process that lost its lease (it
-- stalled past expiry and another resumed the run) cannot append behind the new owner's back.
-- Returns cancel_requested (so the executor learns of a cancel without another query), or null when the
-- caller does not hold the lease or the execution is no longer running. The tool calls are logged either
-- way: they did happen. A record whose stepId is already there (a retried call) is not appended again.
create or replace function public.checkpoint_skill_step(
  p_execution_id uuid,
  p_owner text,
  p_lease_seconds double precision,
  p_step jsonb,
  p_usage jsonb
)
returns boolean
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_cancel boolean;
begin
  perform public.log_tool_calls(p_usage);
  update public.composite_skill_executions e
  set
    steps_executed = case
      when e.steps_executed @> jsonb_build_array(jsonb_build_object('stepId', p_step -> 'stepId'))
        then e.steps_executed
      else e.steps_executed || jsonb_build_array(p_step)
    end,
    steps_completed = case
      when e.steps_executed @> jsonb_build_array(jsonb_build_object('stepId', p_step -> 'stepId'))
        then e.steps_completed
      when coalesce((p_step ->> 'success')::boolean, false) then e.steps_completed + 1
      else e.steps_completed
    end,
    lease_expires_at = now() + make_interval(secs => p_lease_seconds)
  where e.id = p_execution_id and e.lease_owner = p_owner and e.status = 'running'
  returning e.cancel_requested into v_cancel;
  return v_cancel;
end;
$$;

revoke execute on function public.checkpoint_skill_step(uuid, text, double precision, jsonb, jsonb) from public, anon;
grant execute on function public.checkpoint_skill_step(uuid, text, double precision, jsonb, jsonb)
  to authenticated, service_role;


-- End a running execution held by p_owner: status, final output, error, time; release the lease. The skill's
-- execution_count goes up once, by trigger, as the run leaves `running`. Returns the finished row, or
-- nothing when p_owner does not hold it; a retried call after success returns the row unchanged.
create or replace function public.finish_skill_execution(
  p_execution_id uuid,
  p_owner text,
  p_status text,
  p_final_output jsonb,
  p_error text,
  p_execution_time_ms double precision
)
returns setof public.composite_skill_executions
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_skill uuid;
begin
  update public.composite_skill_executions e
  set status = p_status,
      final_output = nullif(p_final_output, 'null'::jsonb),
      error_message = p_error,
      execution_time_ms = p_execution_time_ms,
      finished_at = now(),
      lease_owner = null,
      lease_expires_at = null
  where e.id = p_execution_id and e.lease_owner = p_owner and e.status = 'running'
  returning e.composite_skill_id into v_skill;
  if v_skill is not null then
    return query select * from public.composite_skill_executions e where e.id = p_execution_id;
    return;
  end if;
  -- A retry of a call whose answer was lost: the run is already finished exactly as asked.
  return query
    select * from public.composite_skill_executions e
    where e.id = p_execution_id and e.status = p_status and e.lease_owner is null and e.finished_at is not null
      and e.status <> 'running';
end;
$$;

revoke execute on function public.finish_skill_execution(uuid, text, text, jsonb, text, double precision)
  from public, anon;
grant execute on function public.finish_skill_execution(uuid, text, text, jsonb, text, double precision)
  to authenticated, service_role;


-- Ask a running execution to stop. A live lease holder sees the flag at its next checkpoint and ends the run
-- as `cancelled`; when nobody holds a live lease (the process died) there is nobody to see it, so the run is
-- ended as `cancelled` here. A finished execution is returned unchanged (the SDK decides what that means).
create or replace function public.cancel_skill_execution(p_execution_id uuid)
returns setof public.composite_skill_executions
language plpgsql
security invoker
set search_path = ''
as $$
begin
  update public.composite_skill_executions e
  set cancel_requested = true,
      status = case when e.lease_owner is null or e.lease_expires_at < now() then 'cancelled' else e.status end,
      finished_at = case when e.lease_owner is null or e.lease_expires_at < now() then now() else e.finished_at end,
      error_message = case
        when e.lease_owner is null or e.lease_expires_at < now() then 'cancelled' else e.error_message end,
      lease_owner = case when e.lease_owner is null or e.lease_expires_at < now() then null else e.lease_owner end,
      lease_expires_at = case
        when e.lease_owner is null or e.lease_expires_at < now() then null else e.lease_expires_at end
  where e.id = p_execution_id and e.status = 'running';
  return query select * from public.composite_skill_executions e where e.id = p_execution_id;
end;
$$;

revoke execute on function public.cancel_skill_execution(uuid) from public, anon;
grant execute on function public.cancel_skill_execution(uuid) to authenticated, service_role;
