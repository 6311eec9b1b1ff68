// Events and run state turned into rows. Values from users (tokens, meta,
// error messages) can hold what Postgres refuses (NUL characters, lone UTF-16
// surrogates) or what JSON cannot say (bigints, cycles): the engine's one
// serializer (safeJson, safeText) makes them safe, so one odd value never
// costs a whole batch.

import { hostname } from 'node:os';
import { type ErrorInfo, type MetaSnapshot, type RunMetrics, type SpanflowEvent, type StepStatus, safeJson, safeText } from '../../sdk/index.ts';
import type { StoredNodeKind, StoredRunStatus } from './schema.ts';

/** What the recorder knows of one run; written as its row (an upsert) whenever it changed. */
export interface RunState {
  readonly id: string;
  readonly pipeline: string;
  readonly pipelineHash: string | undefined;
  readonly kind: 'graph' | 'stages';
  readonly parentRunId: string | undefined;
  readonly startedAt: number;
  status: StoredRunStatus;
  endedAt: number | undefined;
  durationMs: number | undefined;
  error: ErrorInfo | undefined;
  failedNode: string | undefined;
  suspended: { readonly node: string; readonly reason: string | undefined } | undefined;
  resumeFrom: string | undefined;
  runMeta: MetaSnapshot | undefined;
  pipelineMeta: Readonly<Record<string, unknown>> | undefined;
  metrics: RunMetrics | undefined;
  traceId: string | undefined;
  items: { fed: number; completed: number; failed: number; skipped: number } | undefined;
  /** Rows of this run the store could not write. */
  dropped: number;
  /** The failed run this one retries (written with its first row only). */
  retryOf: string | undefined;
}

/** One step attempt (or a step that never ran, attempt 0), updated as its events arrive. */
export interface StepState {
  readonly runId: string;
  readonly node: string;
  readonly nodeKind: StoredNodeKind;
  readonly attempt: number;
  readonly index: number | undefined;
  readonly itemId: string | undefined;
  status: StepStatus;
  startedAt: number | undefined;
  endedAt: number | undefined;
  durationMs: number | undefined;
  error: ErrorInfo | undefined;
  skipReason: string | undefined;
  meta: MetaSnapshot | undefined;
  spanId: string | undefined;
}

const jsonOrNull = (value: unknown): string | null => (value === undefined ? null : safeJson(value));
/** Text for a text column. A value that should have been a string and is not (an item id given as a number from plain JavaScript) is stored as its JSON, not refused. */
function textOrNull(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return typeof value === 'string' ? safeText(value) : safeJson(value);
}
/** A time in ms kept to the microsecond, as Postgres keeps a timestamp: the same on either engine. */
const micros = (ms: number): number => Math.round(ms * 1000) / 1000;
const microsOrNull = (ms: number | undefined): number | null => (ms === undefined ? null : micros(ms));

const host = hostname();

/** A run id as Postgres keeps a uuid (lower case), on either engine. */
const uuid = (id: string): string => id.toLowerCase();
const uuidOrNull = (id: string | undefined): string | null => (id === undefined ? null : uuid(id));

/** A run's row, its times in ms to the microsecond (the statement makes them times). `heartbeat_at` is set by the statement (the database's clock). */
function runRow(run: RunState) {
  return {
    id: uuid(run.id),
    pipeline: safeText(run.pipeline),
    pipeline_hash: run.pipelineHash ?? null,
    kind: run.kind,
    status: run.status,
    started_at: micros(run.startedAt),
    ended_at: microsOrNull(run.endedAt),
    duration_ms: run.durationMs ?? null,
    error: jsonOrNull(run.error),
    failed_node: textOrNull(run.failedNode),
    suspended: run.suspended ? safeJson({ node: run.suspended.node, reason: run.suspended.reason ?? null }) : null,
    resume_from: textOrNull(run.resumeFrom),
    run_meta: jsonOrNull(run.runMeta),
    pipeline_meta: jsonOrNull(run.pipelineMeta),
    metrics: jsonOrNull(run.metrics),
    trace_id: run.traceId ?? null,
    parent_run_id: uuidOrNull(run.parentRunId),
    host,
    pid: process.pid,
    items_fed: run.items?.fed ?? null,
    items_completed: run.items?.completed ?? null,
    items_failed: run.items?.failed ?? null,
    items_skipped: run.items?.skipped ?? null,
    events_dropped: run.dropped,
    retry_of: uuidOrNull(run.retryOf),
  };
}

/** Runs' rows as the columns of one `insert … select` (engine.ts sends them); `heartbeat_at` is the statement's. */
export function runColumns(runs: readonly RunState[]) {
  const n = runs.length;
  const column = <T>() => new Array<T>(n);
  const c = {
    ids: column<string>(),
    pipelines: column<string>(),
    hashes: column<string | null>(),
    kinds: column<string>(),
    statuses: column<string>(),
    started: column<number>(),
    ended: column<number | null>(),
    durations: column<number | null>(),
    errors: column<string | null>(),
    failedNodes: column<string | null>(),
    suspended: column<string | null>(),
    resumeFrom: column<string | null>(),
    runMetas: column<string | null>(),
    pipelineMetas: column<string | null>(),
    metrics: column<string | null>(),
    traceIds: column<string | null>(),
    parents: column<string | null>(),
    hosts: column<string>(),
    pids: column<number>(),
    fed: column<number | null>(),
    completed: column<number | null>(),
    failed: column<number | null>(),
    skipped: column<number | null>(),
    dropped: column<number>(),
    retryOf: column<string | null>(),
  };
  for (let i = 0; i < n; i++) {
    const row = runRow(runs[i] as RunState);
    c.ids[i] = row.id;
    c.pipelines[i] = row.pipeline;
    c.hashes[i] = row.pipeline_hash;
    c.kinds[i] = row.kind;
    c.statuses[i] = row.status;
    c.started[i] = row.started_at;
    c.ended[i] = row.ended_at;
    c.durations[i] = row.duration_ms;
    c.errors[i] = row.error;
    c.failedNodes[i] = row.failed_node;
    c.suspended[i] = row.suspended;
    c.resumeFrom[i] = row.resume_from;
    c.runMetas[i] = row.run_meta;
    c.pipelineMetas[i] = row.pipeline_meta;
    c.metrics[i] = row.metrics;
    c.traceIds[i] = row.trace_id;
    c.parents[i] = row.parent_run_id;
    c.hosts[i] = row.host;
    c.pids[i] = row.pid;
    c.fed[i] = row.items_fed;
    c.completed[i] = row.items_completed;
    c.failed[i] = row.items_failed;
    c.skipped[i] = row.items_skipped;
    c.dropped[i] = row.events_dropped;
    c.retryOf[i] = row.retry_of;
  }
  return c;
}

/** A meta snapshot with nothing in it is stored as null. */
function metaOrNull(meta: MetaSnapshot | undefined): string | null {
  if (!meta) return null;
  const empty = meta.tags.length === 0 && isEmpty(meta.data) && isEmpty(meta.metrics) && isEmpty(meta.counters);
  return empty ? null : safeJson(meta);
}

function isEmpty(record: Readonly<Record<string, unknown>>): boolean {
  for (const _ in record) return false;
  return true;
}

/** Step attempts as the columns of one `insert … select … on conflict do update` (engine.ts sends them). */
export function stepColumns(steps: readonly StepState[]) {
  const n = steps.length;
  const c = {
    runIds: new Array<string>(n),
    nodes: new Array<string>(n),
    kinds: new Array<string>(n),
    attempts: new Array<number>(n),
    indexes: new Array<number | null>(n),
    itemIds: new Array<string | null>(n),
    statuses: new Array<string>(n),
    started: new Array<number | null>(n),
    ended: new Array<number | null>(n),
    durations: new Array<number | null>(n),
    errors: new Array<string | null>(n),
    errorTypes: new Array<string | null>(n),
    skipReasons: new Array<string | null>(n),
    metas: new Array<string | null>(n),
    spanIds: new Array<string | null>(n),
  };
  for (let i = 0; i < n; i++) {
    const step = steps[i] as StepState;
    c.runIds[i] = uuid(step.runId);
    c.nodes[i] = safeText(step.node);
    c.kinds[i] = step.nodeKind;
    c.attempts[i] = step.attempt;
    c.indexes[i] = step.index ?? null;
    c.itemIds[i] = textOrNull(step.itemId);
    c.statuses[i] = step.status;
    c.started[i] = microsOrNull(step.startedAt);
    c.ended[i] = microsOrNull(step.endedAt);
    c.durations[i] = step.durationMs ?? null;
    c.errors[i] = jsonOrNull(step.error);
    c.errorTypes[i] = textOrNull(step.error?.type);
    c.skipReasons[i] = step.skipReason ?? null;
    c.metas[i] = metaOrNull(step.meta);
    c.spanIds[i] = step.spanId ?? null;
  }
  return c;
}

/**
 * Events as the columns of one `insert … select` (engine.ts sends them). What a
 * column holds (node, attempt, a map item's index) is left out of `data`;
 * `asEvent` puts it back.
 */
export function eventColumns(events: readonly SpanflowEvent[]) {
  const n = events.length;
  const runIds = new Array<string>(n);
  const seqs = new Array<number>(n);
  const times = new Array<number>(n);
  const types = new Array<string>(n);
  const nodes = new Array<string | null>(n);
  const items = new Array<string | null>(n);
  const attempts = new Array<number | null>(n);
  const data = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const event = events[i] as SpanflowEvent;
    runIds[i] = uuid(event.runId);
    seqs[i] = event.seq;
    times[i] = micros(event.time);
    types[i] = event.type;
    if ('itemId' in event) {
      // A stage event: its node is `stage` or `stage/task`, its item the item's id; `data` keeps stage, task and index.
      const { runId, parentRunId, pipeline, seq, time, type, attempt, ...rest } = event as typeof event & { attempt?: number };
      nodes[i] = safeText('task' in rest ? `${rest.stage}/${rest.task}` : rest.stage);
      items[i] = textOrNull(rest.itemId);
      attempts[i] = attempt ?? null;
      data[i] = safeJson(rest);
    } else {
      const { runId, parentRunId, pipeline, seq, time, type, node, attempt, index, ...rest } = event as typeof event & {
        node?: string;
        attempt?: number;
        index?: number;
      };
      nodes[i] = textOrNull(node);
      items[i] = index === undefined ? null : String(index);
      attempts[i] = attempt ?? null;
      data[i] = safeJson(rest);
    }
  }
  return { runIds, seqs, times, types, nodes, items, attempts, data };
}
