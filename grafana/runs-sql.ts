// The runs dashboard's SQL, on the store's tables (exporters/postgres/schema.ts).
// Grafana fills in `${schema}` (a constant: the store's schema), `$pipeline`
// (quoted, comma-separated values), `$run` (a run id) and `$__timeFilter(…)`.
// `$run` is compared as text, so an empty selection matches nothing instead
// of failing a cast.

import type { StoredRunStatus } from '../exporters/postgres/index.ts';
import type { StepStatus } from '../sdk/index.ts';
import { SCHEMA } from './sql.ts';

/** A step status as an SQL literal (checked against the engine's statuses). */
const is = (...statuses: StepStatus[]) => statuses.map((s) => `'${s}'`).join(', ');
/** A stored run's status as an SQL literal (checked against the store's). */
const runIs = (...statuses: StoredRunStatus[]) => statuses.map((s) => `'${s}'`).join(', ');

const runs = `${SCHEMA}.runs`;
const steps = `${SCHEMA}.step_attempts`;
const pipelines = `${SCHEMA}.pipelines`;

/** The definition of the selected run's pipeline. */
const definition = `def as (
  select p.kind, p.graph
  from ${pipelines} p
  join ${runs} r on r.pipeline = p.name and r.pipeline_hash = p.hash
  where r.id::text = '$run'
)`;

/** The nodes (graph pipelines) or stages (stage pipelines) of that definition, in order. */
const definitionNodes = `${definition},
node as (
  select e.value as n, e.ordinality as i, def.kind
  from def, jsonb_array_elements(coalesce(def.graph -> 'nodes', def.graph -> 'stages')) with ordinality e
)`;

/**
 * A stage batch keeps no row for an item that went well: each stage of the
 * selected run (none for a graph run) with what the store has of it. Its task
 * tallies come from the run's metrics, written when the batch ends (none while
 * it runs, nor for a batch a crash interrupted): items that passed = the
 * successes of its last task, time = its tasks' attempt durations added up.
 * Its failed and retried items are step-attempt rows (node 'stage/task', or
 * 'stage'), written as they happen.
 */
const stageStats = `selected as (
  select id, status, metrics, started_at, ended_at from ${runs} where id::text = '$run'
),
went_wrong as (
  select split_part(sa.node, '/', 1) as name,
         count(*) filter (where sa.status in (${is('failed', 'timed_out')})) as failed,
         count(*) filter (where sa.status = ${is('cancelled')}) as cancelled,
         count(*) filter (where sa.status = ${is('retrying')}) as retried
  from ${steps} sa join selected on sa.run_id = selected.id
  group by 1
),
stage as (
  select node.n ->> 'name' as name,
         node.i,
         selected.status,
         selected.metrics is not null as tallied,
         coalesce((selected.metrics -> 'steps' -> ((node.n ->> 'name') || '/' || (node.n -> 'tasks' -> -1 ->> 'name')) ->> 'succeeded')::int, 0) as passed,
         (select coalesce(sum((t.value ->> 'totalMs')::float8), 0)
            from jsonb_each(coalesce(selected.metrics -> 'steps', '{}'::jsonb)) t
            where split_part(t.key, '/', 1) = node.n ->> 'name') as ms,
         coalesce(w.failed, 0) as failed,
         coalesce(w.cancelled, 0) as cancelled,
         coalesce(w.retried, 0) as retried,
         selected.started_at,
         selected.ended_at
  from node
  cross join selected
  left join went_wrong w on w.name = node.n ->> 'name'
  where node.kind = 'stages'
)`;

export const RUNS_SQL = {
  /** The pipeline variable: every pipeline with a stored run (sub-pipelines too). */
  pipelines: `select distinct pipeline from ${runs} order by 1`,

  /** The run variable: top-level runs of the time range, newest first. */
  runVariable: `
select id::text as __value,
       pipeline || ' · ' || status || ' · ' || to_char(started_at, 'YYYY-MM-DD HH24:MI:SS') || ' · ' || left(id::text, 8) as __text
from ${runs}
where parent_run_id is null and pipeline in ($pipeline) and $__timeFilter(started_at)
order by started_at desc
limit 200`,

  recentRuns: `
select started_at as "started",
       pipeline,
       status,
       duration_ms / 1000.0 as "duration",
       coalesce(failed_node, '') as "failed step",
       coalesce(error ->> 'type', '') as "error",
       coalesce(items_completed::text || ' done, ' || items_failed || ' failed, ' || items_skipped || ' skipped', '') as "items",
       id::text as "run",
       trace_id as "trace",
       concat_ws(' · ',
         case when resumes > 0 then 'resumed ' || resumes || '×' end,
         case when retry_of is not null then 'retry of ' || left(retry_of::text, 8) end,
         case when retried_by is not null then 'retried by ' || left(retried_by::text, 8) end) as "durable",
       coalesce(retried_by, retry_of)::text as "linked run",
       floor(extract(epoch from started_at) * 1000) - 1000 as from_ms,
       floor(extract(epoch from coalesce(ended_at, heartbeat_at, now())) * 1000) + 1000 as to_ms
from ${runs}
where parent_run_id is null and pipeline in ($pipeline) and $__timeFilter(started_at)
order by started_at desc
limit 200`,

  failures: `
select sa.node as "step",
       coalesce(sa.error_type, sa.status) as "error type",
       count(*) filter (where sa.status <> ${is('retrying')}) as "failed",
       count(*) filter (where sa.status = ${is('retrying')}) as "retried",
       count(distinct sa.run_id) as "runs",
       max(r.started_at) as "last seen"
from ${steps} sa
join ${runs} r on r.id = sa.run_id
where sa.status in (${is('failed', 'timed_out', 'retrying')}) and r.pipeline in ($pipeline) and $__timeFilter(r.started_at)
group by 1, 2
order by 3 desc, 4 desc
limit 100`,

  /**
   * Each attempt as two rows: its status at its start, and null at its end (a gap until the next attempt).
   * A stage batch adds each stage over the batch (its workers run from its start to its end), coloured by
   * how its items ended there: failed when one failed in it, cancelled when one was cancelled (or the batch
   * was cancelled or interrupted), else succeeded; running while the batch runs.
   */
  stepTimeline: `
with recursive tree (id, prefix) as (
  select id, ''::text from ${runs} where id::text = '$run'
  union all
  select c.id, t.prefix || c.pipeline || ' / ' from ${runs} c join tree t on c.parent_run_id = t.id
),
${definitionNodes},
${stageStats},
attempt as (
  select t.prefix || sa.node || coalesce('[' || sa.item_index || ']', '') as step, sa.status, sa.started_at, sa.ended_at
  from ${steps} sa join tree t on t.id = sa.run_id
  where sa.started_at is not null
  union all
  select stage.name,
         case when stage.status in (${runIs('pending', 'running')}) then ${is('running')}
              when stage.failed > 0 then ${is('failed')}
              when stage.cancelled > 0 or stage.status in (${runIs('cancelled', 'interrupted')}) then ${is('cancelled')}
              else ${is('succeeded')} end,
         stage.started_at, stage.ended_at
  from stage
)
select time, step, status from (
  select started_at as time, step, status, 1 as edge from attempt
  union all
  select ended_at, step, null, 0 from attempt where ended_at is not null
) s
order by time, edge`,

  /**
   * Node-graph nodes: id, title, subtitle (kind), time in the run (ms) and attempts, arcs by outcome in the
   * selected run. A stage: its tasks' time, its items that passed, failed and were retried, and arcs in
   * proportion to its items (see stageStats).
   */
  graphNodes: `
with ${definitionNodes},
${stageStats},
ran as (
  select sa.node as id,
         count(*) filter (where sa.attempt > 0) as attempts,
         sum(sa.duration_ms) as ms,
         bool_or(sa.status in (${is('failed', 'timed_out')})) as failed,
         bool_or(sa.status = ${is('succeeded')}) as succeeded
  from ${steps} sa join selected on sa.run_id = selected.id
  group by 1
)
select node.n ->> 'name' as id,
       node.n ->> 'name' as title,
       case when node.kind = 'stages' then 'stage ×' || (node.n ->> 'workers') else node.n ->> 'kind' end as subtitle,
       round(coalesce(stage.ms, ran.ms, 0)::numeric, 1) as mainstat,
       case
         when stage.name is null then case coalesce(ran.attempts, 0) when 1 then '1 attempt' else coalesce(ran.attempts, 0) || ' attempts' end
         when stage.status in (${runIs('pending', 'running')}) then 'running · ' || stage.failed || ' failed so far'
         when not stage.tallied then stage.status || ' · ' || stage.failed || ' failed · no tallies kept'
         else stage.passed || ' passed · ' || stage.failed || ' failed · ' || stage.retried || ' retried'
       end as secondarystat,
       case when stage.name is null then case when ran.failed then 1 else 0 end
            else stage.failed::float8 / greatest(stage.passed + stage.failed + stage.cancelled, 1) end as arc__failed,
       case when stage.name is null then case when ran.succeeded and not ran.failed then 1 else 0 end
            else stage.passed::float8 / greatest(stage.passed + stage.failed + stage.cancelled, 1) end as arc__succeeded,
       case when stage.name is null then case when coalesce(ran.failed or ran.succeeded, false) then 0 else 1 end
            when stage.passed + stage.failed + stage.cancelled = 0 then 1
            else stage.cancelled::float8 / (stage.passed + stage.failed + stage.cancelled) end as arc__other
from node
left join stage on stage.i = node.i
left join ran on ran.id = node.n ->> 'name' and node.kind <> 'stages'
order by node.i`,

  /** Node-graph edges: \`to\` targets, switch routes and default, a map's worker, and a stage chain's links. */
  graphEdges: `
with ${definitionNodes},
edge as (
  select n ->> 'name' as source, t.value #>> '{}' as target
  from node cross join lateral jsonb_array_elements(
    case jsonb_typeof(n -> 'to') when 'array' then n -> 'to' when 'string' then jsonb_build_array(n -> 'to') else '[]'::jsonb end) t
  union
  select n ->> 'name', r.value #>> '{}'
  from node cross join lateral jsonb_each(case jsonb_typeof(n -> 'routes') when 'object' then n -> 'routes' else '{}'::jsonb end) r
  union
  select n ->> 'name', n ->> 'default' from node where n ->> 'default' is not null
  union
  select n ->> 'name', n ->> 'worker' from node where n ->> 'worker' is not null
  union
  select a.n ->> 'name', b.n ->> 'name' from node a join node b on b.i = a.i + 1 where a.kind = 'stages'
)
select source || ' -> ' || target as id, source, target
from edge
where target is not null and target <> 'STOP'
order by 1`,
} as const;
