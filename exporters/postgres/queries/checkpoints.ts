// What durable runs read and claim: a run's checkpoints (its `checkpoint`
// events) with its row and its last attempts, and the compare-and-set updates
// that let one process resume an interrupted run (or retry a failed one).

import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import { safeJson, type StoredCheckpoint, type StoredRunCheckpoints } from '../../../sdk/index.ts';
import type { Engine } from '../engine.ts';
import { sql } from '../kysely.ts';
import type { Database } from '../schema.ts';
import { checkRunId } from './runs.ts';

type Db = Kysely<Database>;

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

export async function loadCheckpoints(db: Db, engine: Engine, id: string): Promise<StoredRunCheckpoints | undefined> {
  const runId = checkRunId(id);
  const run = await db
    .selectFrom('runs')
    .select(['id', 'pipeline', 'pipeline_hash', 'status', engine.epochMs(sql.ref('started_at')).as('started_ms'), 'host', 'retried_by', 'trace_id'])
    .where('id', '=', runId)
    .executeTakeFirst();
  if (!run) return undefined;
  const rows = await db
    .selectFrom('events')
    .select(['node', 'item', 'attempt', 'data'])
    .where('run_id', '=', runId)
    .where('type', '=', 'checkpoint')
    .orderBy('seq')
    .execute();
  const checkpoints: StoredCheckpoint[] = rows.map((row) => ({
    kind: row.data.kind as StoredCheckpoint['kind'],
    node: row.node ?? undefined,
    index: row.item === null ? undefined : Number(row.item),
    attempt: row.attempt ?? undefined,
    output: text(row.data.output),
    state: text(row.data.state),
    childRunId: text(row.data.childRunId),
    version: text(row.data.version),
  }));
  const last = await db.selectFrom('events').select((eb) => eb.fn.max('seq').as('seq')).where('run_id', '=', runId).executeTakeFirst();
  const attempts = await db
    .selectFrom('step_attempts')
    .select(['node', 'item_index', (eb) => eb.fn.max('attempt').as('attempt')])
    .where('run_id', '=', runId)
    .groupBy(['node', 'item_index'])
    .execute();
  const span = await db
    .selectFrom('step_attempts')
    .select('span_id')
    .where('run_id', '=', runId)
    .where('span_id', 'is not', null)
    .orderBy('started_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return {
    runId: run.id,
    pipeline: run.pipeline,
    pipelineHash: run.pipeline_hash ?? undefined,
    status: run.status,
    startedAt: run.started_ms,
    host: run.host,
    retriedBy: run.retried_by ?? undefined,
    traceId: run.trace_id ?? undefined,
    spanId: span?.span_id ?? undefined,
    lastSeq: Number(last?.seq ?? 0),
    checkpoints,
    attempts: attempts.map((a) => ({ node: a.node, index: a.item_index ?? undefined, attempt: Number(a.attempt) })),
  };
}

/**
 * Compare-and-set on the run's status: `interrupted` becomes `running` here,
 * in one statement, so of two processes claiming it one wins. The attempts
 * its dead process left `running` are failed (the interrupted attempt counts
 * as failed; the resumed run numbers its next attempt after it).
 */
export async function claimRun(db: Db, engine: Engine, id: string): Promise<boolean> {
  const runId = checkRunId(id);
  const claimed = await db
    .updateTable('runs')
    .set((eb) => ({
      status: 'running',
      ended_at: null,
      duration_ms: null,
      error: null,
      host: hostname(),
      pid: process.pid,
      heartbeat_at: engine.now,
      resumes: eb('resumes', '+', 1),
    }))
    .where('id', '=', runId)
    .where('status', '=', 'interrupted')
    .executeTakeFirst();
  if (Number(claimed.numUpdatedRows) !== 1) return false;
  const error = { type: 'InterruptedError', message: 'the process running this attempt stopped before it ended; the run was resumed' };
  await db
    .updateTable('step_attempts')
    .set({ status: 'failed', error: safeJson(error), error_type: error.type })
    .where('run_id', '=', runId)
    .where('status', '=', 'running')
    .execute();
  return true;
}

/** Compare-and-set: the run names its retry, once. */
export async function markRetried(db: Db, id: string, retryRunId: string): Promise<boolean> {
  const runId = checkRunId(id);
  const marked = await db
    .updateTable('runs')
    .set({ retried_by: checkRunId(retryRunId) })
    .where('id', '=', runId)
    .where('retried_by', 'is', null)
    .executeTakeFirst();
  return Number(marked.numUpdatedRows) === 1;
}

/** Top-level interrupted runs of these pipelines that ran on this host and stored a start checkpoint, oldest first. */
export async function interruptedRuns(db: Db, pipelines: readonly string[]): Promise<string[]> {
  if (pipelines.length === 0) return [];
  const rows = await db
    .selectFrom('runs')
    .select('id')
    .where('status', '=', 'interrupted')
    .where('host', '=', hostname())
    .where('parent_run_id', 'is', null)
    .where('pipeline', 'in', [...pipelines])
    .where((eb) => eb.exists(eb.selectFrom('events').select('seq').whereRef('events.run_id', '=', 'runs.id').where('events.type', '=', 'checkpoint')))
    .orderBy('started_at')
    .execute();
  return rows.map((r) => r.id);
}
