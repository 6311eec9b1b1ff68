// The statements the writer sends, one per part of a batch. Runs are few and
// go through Kysely's builder; step attempts and events are many and go as
// one `insert … select from unnest(arrays)` each: about twice Kysely's
// multi-row insert (DESIGN.md: ~145k vs ~72k rows/s), with the arrays sent as
// literals built in rows.ts.

import { type Kysely, sql } from 'kysely';
import { type PipelineDescription, type SpanflowEvent, safeJson, safeText } from '../../sdk/index.ts';
import { RowError } from './faults.ts';
import { arrayLiteral, eventColumns, type RunState, runRow, type StepState, stepColumns } from './rows.ts';
import type { Database } from './schema.ts';

const RUN_CHUNK = 500;

/** Rows made into SQL values; a value that cannot be is a data error of the rows given (the writer isolates it), not of the database. */
function values<T>(make: () => T): T {
  try {
    return make();
  } catch (error) {
    throw new RowError(`a row could not be made into SQL values: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/** An array parameter, as its literal text. */
const lit = (values: readonly (string | number | null)[]) => sql.val(arrayLiteral(values));

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

/** Runs, new or changed: the newest values win, and the heartbeat is the server's now(). */
export async function upsertRuns(db: Kysely<Database>, schema: string, runs: readonly RunState[]): Promise<void> {
  const set = Object.fromEntries(RUN_COLUMNS.map((c) => [c, sql.ref(`excluded.${c}`)])) as never;
  for (let i = 0; i < runs.length; i += RUN_CHUNK) {
    await db
      .withSchema(schema)
      .insertInto('runs')
      .values(values(() => runs.slice(i, i + RUN_CHUNK).map((run) => ({ ...runRow(run), heartbeat_at: sql<Date>`now()` }))))
      .onConflict((oc) => oc.column('id').doUpdateSet(set))
      .execute();
  }
}

/** Step attempts, new or updated, in one statement: the newest values win. */
export async function upsertSteps(db: Kysely<Database>, schema: string, steps: readonly StepState[]): Promise<void> {
  // One row per key in a statement (Postgres refuses to update a row twice in one upsert): the last state of each.
  const unique = new Map<string, StepState>();
  for (const step of steps) unique.set(`${step.runId} ${step.node} ${step.index ?? ''} ${step.attempt}`, step);
  const c = values(() => stepColumns(unique.size === steps.length ? steps : [...unique.values()]));
  await sql`insert into ${sql.table(`${schema}.step_attempts`)}
      (run_id, node, node_kind, attempt, item_index, item_id, status, started_at, ended_at, duration_ms, error, error_type, skip_reason, meta, span_id)
    select r, n, k, a, ix, id, st, to_timestamp(sa / 1000.0), to_timestamp(ea / 1000.0), d, e, et, sr, m, sp
    from unnest(${lit(c.runIds)}::uuid[], ${lit(c.nodes)}::text[], ${lit(c.kinds)}::text[], ${lit(c.attempts)}::int4[],
                ${lit(c.indexes)}::int4[], ${lit(c.itemIds)}::text[], ${lit(c.statuses)}::text[], ${lit(c.started)}::float8[],
                ${lit(c.ended)}::float8[], ${lit(c.durations)}::float8[], ${lit(c.errors)}::jsonb[], ${lit(c.errorTypes)}::text[],
                ${lit(c.skipReasons)}::text[], ${lit(c.metas)}::jsonb[], ${lit(c.spanIds)}::text[])
      as u(r, n, k, a, ix, id, st, sa, ea, d, e, et, sr, m, sp)
    on conflict on constraint step_attempts_key do update set ${sql.join(STEP_COLUMNS.map((col) => sql`${sql.id(col)} = excluded.${sql.id(col)}`))}`.execute(db);
}

/**
 * Events, in one statement. A plain insert (no `on conflict`, which costs
 * ~15%): the writer tells a retry that finds its rows already there (the
 * answer to the try before was lost) by the unique violation it gets.
 */
export async function insertEvents(db: Kysely<Database>, schema: string, events: readonly SpanflowEvent[]): Promise<void> {
  const c = values(() => eventColumns(events));
  await sql`insert into ${sql.table(`${schema}.events`)} (run_id, seq, time, type, node, item, attempt, data)
    select r, s, to_timestamp(t / 1000.0), ty, n, i, a, d
    from unnest(${lit(c.runIds)}::uuid[], ${lit(c.seqs)}::int4[], ${lit(c.times)}::float8[], ${lit(c.types)}::text[],
                ${lit(c.nodes)}::text[], ${lit(c.items)}::text[], ${lit(c.attempts)}::int4[], ${lit(c.data)}::jsonb[])
      as u(r, s, t, ty, n, i, a, d)`.execute(db);
}
