// The one catalogue of metrics: the engine records from it and the Grafana
// dashboards generate their queries from it. No run or item ids as attributes.
//
// Names already end in what Prometheus would add for their unit (`_seconds`
// for `s`, `_ratio` for a gauge of unit `1`), so every standard way to
// Prometheus gives the same name: the OTLP translation of the Collector and of
// Prometheus 3's OTLP receiver adds no suffix a name already has, and
// @opentelemetry/exporter-prometheus adds none at all. Counters get `_total`
// on every path. (grafana/README.md, "Metric names on every path".)

import type { MetricOptions } from '@opentelemetry/api';
import { ATTR, type AttributeName } from './attributes.ts';

export type Instrument = 'counter' | 'updowncounter' | 'histogram' | 'gauge';

export interface MetricDef {
  readonly name: string;
  readonly instrument: Instrument;
  /** UCUM: `s` for durations, `{run}`-style annotations for counts. */
  readonly unit: string;
  readonly description: string;
  readonly attributes: readonly AttributeName[];
  /** Histogram bucket boundaries (advice to the SDK). */
  readonly buckets?: readonly number[];
}

/**
 * The options an instrument for `def` is created with: its unit and
 * description, and a histogram's buckets as advice. Every instrument of the
 * catalogue is made with these, wherever it is made (the engine, the worker
 * pools), so a metric is the same whichever part records it.
 */
export function metricOptions(def: MetricDef): MetricOptions {
  return {
    unit: def.unit,
    description: def.description,
    ...(def.buckets ? { advice: { explicitBucketBoundaries: [...def.buckets] } } : {}),
  };
}

/**
 * Seconds, for every duration histogram: from a step that does next to nothing
 * (10 µs; many real steps take 3–40 µs) to a long run (10 min), in steps of
 * 1–2.5–5 (a quantile read between two bounds is off by less than the step).
 * 24 bounds: 25 buckets, so each attribute set of a histogram is 27 series in
 * Prometheus (`_bucket` × 25, `_sum`, `_count`). A step costs 27 series of
 * spanflow_step_duration_seconds (per pipeline and step), one of
 * spanflow_step_attempts_total per result it ended with, and one of
 * spanflow_step_retries_total per error type it was retried for.
 * Explicit buckets rather than exponential histograms, which
 * @opentelemetry/exporter-prometheus cannot serve.
 */
export const SECONDS_BUCKETS = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
] as const;

const { PIPELINE_NAME, RESULT, TASK_NAME, TASK_RESULT, NODE_KIND, ERROR_TYPE, STAGE, ITEM_STATUS, WORKER_STATE, DROP_REASON, POOL_NAME, QUEUE_NAME } = ATTR;

export const METRICS = {
  runDuration: {
    name: 'spanflow.run.duration_seconds',
    instrument: 'histogram',
    unit: 's',
    description: 'Duration of pipeline runs (a stage pipeline: of batches).',
    attributes: [PIPELINE_NAME, RESULT],
    buckets: SECONDS_BUCKETS,
  },
  runs: {
    name: 'spanflow.runs',
    instrument: 'counter',
    unit: '{run}',
    description: 'Runs that ended, by result.',
    attributes: [PIPELINE_NAME, RESULT],
  },
  activeRuns: {
    name: 'spanflow.runs.active',
    instrument: 'updowncounter',
    unit: '{run}',
    description: 'Runs in progress.',
    attributes: [PIPELINE_NAME],
  },
  stepDuration: {
    name: 'spanflow.step.duration_seconds',
    instrument: 'histogram',
    unit: 's',
    description:
      'Duration of step and task attempts, whatever their result (spanflow.step.attempts counts them by result). By default, of the runs and items whose trace the sampler keeps: a uniform sample.',
    // Two attributes: the SDK hashes them on every record, its main cost per attempt. 27 series per
    // pipeline and step in Prometheus (SECONDS_BUCKETS).
    attributes: [PIPELINE_NAME, TASK_NAME],
    buckets: SECONDS_BUCKETS,
  },
  stepAttempts: {
    name: 'spanflow.step.attempts',
    instrument: 'counter',
    unit: '{attempt}',
    description: 'Step and task attempts that ended, by result.',
    attributes: [PIPELINE_NAME, TASK_NAME, NODE_KIND, TASK_RESULT],
  },
  stepRetries: {
    name: 'spanflow.step.retries',
    instrument: 'counter',
    unit: '{retry}',
    description: 'Attempts that failed and were retried, by error type.',
    attributes: [PIPELINE_NAME, TASK_NAME, NODE_KIND, ERROR_TYPE],
  },
  items: {
    name: 'spanflow.items',
    instrument: 'counter',
    unit: '{item}',
    description: 'Stage pipeline items that reached a final status (completed, failed, skipped), by the stage where they did.',
    attributes: [PIPELINE_NAME, STAGE, ITEM_STATUS],
  },
  queueSize: {
    name: 'spanflow.stage.queue.size',
    instrument: 'gauge',
    unit: '{item}',
    description: 'Items waiting in a stage queue.',
    attributes: [PIPELINE_NAME, STAGE],
  },
  inFlight: {
    name: 'spanflow.stage.items.in_flight',
    instrument: 'gauge',
    unit: '{item}',
    description: 'Items a stage is working on.',
    attributes: [PIPELINE_NAME, STAGE],
  },
  workers: {
    name: 'spanflow.stage.workers',
    instrument: 'gauge',
    unit: '{worker}',
    description: 'Stage workers, busy or idle.',
    attributes: [PIPELINE_NAME, STAGE, WORKER_STATE],
  },
  tokens: {
    name: 'spanflow.tokens',
    instrument: 'counter',
    unit: '{token}',
    description: 'Tokens yielded by streaming steps.',
    attributes: [PIPELINE_NAME, TASK_NAME],
  },
  telemetryDropped: {
    name: 'spanflow.telemetry.dropped',
    instrument: 'counter',
    unit: '{span}',
    description: 'Spans spanflow saw lost: export_failed (the collector refused or never answered), queue_full (the batch processor\'s queue was full), worker_span_limit (a worker task\'s spans past its 1,000).',
    attributes: [DROP_REASON],
  },
  persistenceDropped: {
    name: 'spanflow.persistence.dropped',
    instrument: 'counter',
    unit: '{event}',
    description: 'Events the store could not write.',
    attributes: [DROP_REASON],
  },
  // Worker thread pools (spanflow/workers): recorded by worker-threads/, one series per pool.
  poolThreads: {
    name: 'spanflow.pool.threads',
    instrument: 'gauge',
    unit: '{thread}',
    description: 'Threads of a worker pool, busy or idle.',
    attributes: [POOL_NAME],
  },
  poolIdleThreads: {
    name: 'spanflow.pool.idle_threads',
    instrument: 'gauge',
    unit: '{thread}',
    description: 'Threads of a worker pool that are ready and running no task.',
    attributes: [POOL_NAME],
  },
  poolQueueSize: {
    name: 'spanflow.pool.queue.size',
    instrument: 'gauge',
    unit: '{task}',
    description: 'Tasks waiting for a thread of a worker pool.',
    attributes: [POOL_NAME],
  },
  poolUtilization: {
    name: 'spanflow.pool.utilization_ratio',
    instrument: 'gauge',
    unit: '1',
    description: "A worker pool's busy thread-time since the previous collection (its tasks' time on its threads, measured by spanflow), over what maxThreads threads could have given in that time, 0..1.",
    attributes: [POOL_NAME],
  },
  poolWaitTime: {
    name: 'spanflow.pool.task.wait_time_seconds',
    instrument: 'histogram',
    unit: 's',
    description: 'Time a worker pool task waited, from submission until a thread started it.',
    attributes: [POOL_NAME],
    buckets: SECONDS_BUCKETS,
  },
  poolRunTime: {
    name: 'spanflow.pool.task.run_time_seconds',
    instrument: 'histogram',
    unit: 's',
    description: 'Time a worker pool task ran on its thread, whatever its result.',
    attributes: [POOL_NAME],
    buckets: SECONDS_BUCKETS,
  },
  // Distributed queues (spanflow/distributed): recorded by the dispatching process, one series per queue.
  remoteQueueSize: {
    name: 'spanflow.remote.queue.size',
    instrument: 'gauge',
    unit: '{job}',
    description: 'Jobs this process sent to a distributed queue that no worker has taken yet (as of its last look at them).',
    attributes: [QUEUE_NAME],
  },
  remoteWaitTime: {
    name: 'spanflow.remote.job.wait_time_seconds',
    instrument: 'histogram',
    unit: 's',
    description: 'Time a distributed job waited in its queue, from its sending until a worker took it (by the database clock).',
    attributes: [QUEUE_NAME],
    buckets: SECONDS_BUCKETS,
  },
  remoteRunTime: {
    name: 'spanflow.remote.job.run_time_seconds',
    instrument: 'histogram',
    unit: 's',
    description: 'Time a distributed job ran on its worker, from taking it until its result (by the database clock), whatever its result.',
    attributes: [QUEUE_NAME],
    buckets: SECONDS_BUCKETS,
  },
} as const satisfies Record<string, MetricDef>;

export type MetricKey = keyof typeof METRICS;
