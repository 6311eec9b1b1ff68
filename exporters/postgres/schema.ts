// The tables as Kysely sees them. Every table lives in the store's own
// schema (default `spanflow`; on SQLite, the name its file is attached under);
// migrations/ creates them. A time column is named `time` or `…_at` (the
// embedded dialect's plugin knows times by their names).

import type { ColumnType, Generated, JSONColumnType } from 'kysely';
import type { ErrorInfo, MetaSnapshot, NodeKind, RunMetrics, RunStatus, StepStatus } from '../../sdk/index.ts';

/**
 * A stored run's status: the engine's run statuses, plus `interrupted` for a
 * run whose process died before it ended (its heartbeat went stale).
 */
export const STORED_RUN_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'suspended', 'interrupted'] as const;
export type StoredRunStatus = (typeof STORED_RUN_STATUSES)[number];
/** Statuses of runs still under way (or left so by a crash, until the next open marks them `interrupted`). */
export const OPEN_RUN_STATUSES = ['pending', 'running'] as const satisfies readonly RunStatus[];

/** Columns that hold JSON (jsonb on Postgres, text on SQLite). */
export const JSON_COLUMNS = ['graph', 'error', 'suspended', 'run_meta', 'pipeline_meta', 'metrics', 'meta', 'data'] as const;

/** A graph node's kind, or `stage` for a failed or retried item of a stage pipeline. */
export type StoredNodeKind = NodeKind | 'stage';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json<T extends object | null> = JSONColumnType<T, string | null, string | null>;

export interface PipelinesTable {
  name: string;
  hash: string;
  kind: 'graph' | 'stages';
  graph: JSONColumnType<Record<string, unknown>, string, string>;
  mermaid: string;
  first_seen_at: Generated<Date>;
}

export interface RunsTable {
  id: string;
  pipeline: string;
  pipeline_hash: string | null;
  kind: 'graph' | 'stages';
  status: StoredRunStatus;
  started_at: Timestamp;
  ended_at: Timestamp | null;
  duration_ms: number | null;
  error: Json<ErrorInfo | null>;
  failed_node: string | null;
  suspended: Json<{ node: string; reason: string | null } | null>;
  resume_from: string | null;
  run_meta: Json<MetaSnapshot | null>;
  pipeline_meta: Json<Record<string, unknown> | null>;
  metrics: Json<RunMetrics | null>;
  trace_id: string | null;
  parent_run_id: string | null;
  host: string;
  pid: number;
  heartbeat_at: Generated<Date>;
  items_fed: number | null;
  items_completed: number | null;
  items_failed: number | null;
  items_skipped: number | null;
  /** Events (and rows) of this run the store could not write. */
  events_dropped: Generated<number>;
  /** The failed run this one retries (`retry()`). */
  retry_of: string | null;
  /** The run that retried this one. */
  retried_by: string | null;
  /** How many times it was resumed after its process died. */
  resumes: Generated<number>;
}

export interface StepAttemptsTable {
  run_id: string;
  node: string;
  node_kind: StoredNodeKind;
  /** 0 for a step that never ran (skipped, or cancelled before it began). */
  attempt: number;
  /** A map worker's item position (or a stage item's feed position). */
  item_index: number | null;
  /** A stage item's id. */
  item_id: string | null;
  /** `retrying` is an attempt that failed with another to follow. */
  status: StepStatus;
  started_at: Timestamp | null;
  ended_at: Timestamp | null;
  duration_ms: number | null;
  error: Json<ErrorInfo | null>;
  /** `error.type`, kept apart for the error summary. */
  error_type: string | null;
  skip_reason: string | null;
  meta: Json<MetaSnapshot | null>;
  span_id: string | null;
}

export interface EventsTable {
  run_id: string;
  seq: number;
  time: Timestamp;
  type: string;
  node: string | null;
  /** A map worker's item position, or a stage item's id. */
  item: string | null;
  attempt: number | null;
  /** The event's other fields. */
  data: JSONColumnType<Record<string, unknown>, string, string>;
}

export interface Database {
  pipelines: PipelinesTable;
  runs: RunsTable;
  step_attempts: StepAttemptsTable;
  events: EventsTable;
}
