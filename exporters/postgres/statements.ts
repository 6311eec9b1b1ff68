// The statements the writer sends, one per part of a batch. Runs, step
// attempts and events go as one `insert … select` each from the rows sent in
// bulk (a run's row has 25 columns: Kysely's multi-row insert made 1,000 runs'
// rows a 25,000-parameter statement that took Postgres 200 ms) (engine.ts: arrays
// through `unnest` on Postgres, about twice Kysely's multi-row insert
// (DESIGN.md: ~145k vs ~72k rows/s); one JSON array through `json_each` on SQLite).

import type { Kysely } from 'kysely';
import { type PipelineDescription, type SpanflowEvent, safeJson, safeText } from '../../sdk/index.ts';
import type { Engine } from './engine.ts';
import { RowError } from './faults.ts';
import { sql } from './kysely.ts';
import { eventColumns, type RunState, runColumns, type StepState, stepColumns } from './rows.ts';
import type { Database } from './schema.ts';

/** Rows made into SQL values; a value that cannot be is a data error of the rows given (the writer isolates it), not of the database. */
function values<T>(make: () => T): T {
  try {
    return make();
  } catch (error) {
    throw new RowError(`a row could not be made into SQL values: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

const RUN_COLUMNS = [
  'status',
  'ended_at',
  'duration_ms',
  'error',
  'failed_node',
  'suspended',
  'resume_from',
  'run_meta',
  'pipeline_meta',
  'metrics',
  'trace_id',
  'heartbeat_at',
  'items_fed',
  'items_completed',
  'items_failed',
  'items_skipped',
  'events_dropped',
] as const;

const STEP_COLUMNS = ['node_kind', 'item_id', 'status', 'started_at', 'ended_at', 'duration_ms', 'error', 'error_type', 'skip_reason', 'meta', 'span_id'] as const;

export async function insertPipelines(db: Kysely<Database>, schema: string, pipelines: readonly PipelineDescription[]): Promise<void> {
  await db
    .withSchema(schema)
    .insertInto('pipelines')
    .values(values(() => pipelines.map((p) => ({ name: safeText(p.name), hash: p.hash, kind: p.kind, graph: safeJson(p.graph), mermaid: safeText(p.mermaid) }))))
    .onConflict((oc) => oc.columns(['name', 'hash']).doNothing())
    .execute();
}

/** Runs, new or changed, in one statement: the newest values win, and the heartbeat is the database's now. */
export async function upsertRuns(db: Kysely<Database>, engine: Engine, schema: string, runs: readonly RunState[]): Promise<void> {
  const c = values(() => runColumns(runs));
  const rows = engine.rows([
    { type: 'uuid', values: c.ids },
    { type: 'text', values: c.pipelines },
    { type: 'text', values: c.hashes },
    { type: 'text', values: c.kinds },
    { type: 'text', values: c.statuses },
    { type: 'time', values: c.started },
    { type: 'time', values: c.ended },
    { type: 'float', values: c.durations },
    { type: 'json', values: c.errors },
    { type: 'text', values: c.failedNodes },
    { type: 'json', values: c.suspended },
    { type: 'text', values: c.resumeFrom },
    { type: 'json', values: c.runMetas },
    { type: 'json', values: c.pipelineMetas },
    { type: 'json', values: c.metrics },
    { type: 'text', values: c.traceIds },
    { type: 'uuid', values: c.parents },
    { type: 'text', values: c.hosts },
    { type: 'int', values: c.pids },
    { type: 'int', values: c.fed },
    { type: 'int', values: c.completed },
    { type: 'int', values: c.failed },
    { type: 'int', values: c.skipped },
    { type: 'int', values: c.dropped },
    { type: 'uuid', values: c.retryOf },
  ]);
  // A new row's heartbeat is its column's default, the database's now, as is a changed row's.
  await sql`insert into ${sql.table(`${schema}.runs`)}
      (id, pipeline, pipeline_hash, kind, status, started_at, ended_at, duration_ms, error, failed_node, suspended, resume_from,
       run_meta, pipeline_meta, metrics, trace_id, parent_run_id, host, pid, items_fed, items_completed, items_failed, items_skipped,
       events_dropped, retry_of)
    ${rows}
    on conflict (id) do update set ${sql.join(RUN_COLUMNS.map((col) => (col === 'heartbeat_at' ? sql`heartbeat_at = ${engine.now}` : sql`${sql.id(col)} = excluded.${sql.id(col)}`)))}`.execute(db);
}

/** Step attempts, new or updated, in one statement: the newest values win. */
export async function upsertSteps(db: Kysely<Database>, engine: Engine, schema: string, steps: readonly StepState[]): Promise<void> {
  // One row per key in a statement (Postgres refuses to update a row twice in one upsert): the last state of each.
  const unique = new Map<string, StepState>();
  for (const step of steps) unique.set(`${step.runId} ${step.node} ${step.index ?? ''} ${step.attempt}`, step);
  const c = values(() => stepColumns(unique.size === steps.length ? steps : [...unique.values()]));
  const rows = engine.rows([
    { type: 'uuid', values: c.runIds },
    { type: 'text', values: c.nodes },
    { type: 'text', values: c.kinds },
    { type: 'int', values: c.attempts },
    { type: 'int', values: c.indexes },
    { type: 'text', values: c.itemIds },
    { type: 'text', values: c.statuses },
    { type: 'time', values: c.started },
    { type: 'time', values: c.ended },
    { type: 'float', values: c.durations },
    { type: 'json', values: c.errors },
    { type: 'text', values: c.errorTypes },
    { type: 'text', values: c.skipReasons },
    { type: 'json', values: c.metas },
    { type: 'text', values: c.spanIds },
  ]);
  await sql`insert into ${sql.table(`${schema}.step_attempts`)}
      (run_id, node, node_kind, attempt, item_index, item_id, status, started_at, ended_at, duration_ms, error, error_type, skip_reason, meta, span_id)
    ${rows}
    on conflict ${engine.stepKey} do update set ${sql.join(STEP_COLUMNS.map((col) => sql`${sql.id(col)} = excluded.${sql.id(col)}`))}`.execute(db);
}

/**
 * Events, in one statement. A plain insert (no `on conflict`, which costs
 * ~15%): the writer tells a retry that finds its rows already there (the
 * answer to the try before was lost) by the unique violation it gets.
 */
export async function insertEvents(db: Kysely<Database>, engine: Engine, schema: string, events: readonly SpanflowEvent[]): Promise<void> {
  const c = values(() => eventColumns(events));
  const rows = engine.rows([
    { type: 'uuid', values: c.runIds },
    { type: 'int', values: c.seqs },
    { type: 'time', values: c.times },
    { type: 'text', values: c.types },
    { type: 'text', values: c.nodes },
    { type: 'text', values: c.items },
    { type: 'int', values: c.attempts },
    { type: 'json', values: c.data },
  ]);
  await sql`insert into ${sql.table(`${schema}.events`)} (run_id, seq, time, type, node, item, attempt, data) ${rows}`.execute(db);
}
