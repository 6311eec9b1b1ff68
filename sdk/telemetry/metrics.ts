// Metrics from the event stream, every instrument made from the catalogue.
// Pool and queue state are observable gauges read from live batches, so the
// hot path only counts what ends.

import type {
  Attributes,
  BatchObservableResult,
  Counter,
  Histogram,
  Meter,
  Observable,
  ObservableCounter,
  ObservableGauge,
  UpDownCounter,
} from '@opentelemetry/api';
import type { SpanflowEvent } from '../events.ts';
import { cicdResultOf } from '../events.ts';
import { ATTR } from './attributes.ts';
import { METRICS, type MetricDef } from './catalogue.ts';

/** What a live stage batch shows the gauges. */
export interface GaugeSource {
  readonly pipeline: string;
  stages(): readonly { readonly name: string; readonly queued: number; readonly inProgress: number; readonly workers: number }[];
}

const live = new Set<GaugeSource>();

/** A stage batch registers while it runs, so the gauges can read it. */
export function watchBatch(source: GaugeSource): () => void {
  live.add(source);
  return () => {
    live.delete(source);
  };
}

function histogram(meter: Meter, def: MetricDef): Histogram {
  return meter.createHistogram(def.name, {
    unit: def.unit,
    description: def.description,
    ...(def.buckets ? { advice: { explicitBucketBoundaries: [...def.buckets] } } : {}),
  });
}

const counter = (meter: Meter, def: MetricDef): Counter => meter.createCounter(def.name, { unit: def.unit, description: def.description });
const updown = (meter: Meter, def: MetricDef): UpDownCounter =>
  meter.createUpDownCounter(def.name, { unit: def.unit, description: def.description });
const gauge = (meter: Meter, def: MetricDef): ObservableGauge => meter.createObservableGauge(def.name, { unit: def.unit, description: def.description });
const observableCounter = (meter: Meter, def: MetricDef): ObservableCounter =>
  meter.createObservableCounter(def.name, { unit: def.unit, description: def.description });

/**
 * Counts kept in spanflow and reported by an observable counter when the
 * reader collects: a hot path pays a map increment, not an SDK record (which
 * sorts and serializes the attributes on every call).
 */
class Tally {
  readonly #counts = new Map<string, { readonly attributes: Attributes; value: number }>();

  add(attributes: Attributes, by = 1): void {
    const key = Object.values(attributes).join('\u0000');
    const entry = this.#counts.get(key);
    if (entry) entry.value += by;
    else this.#counts.set(key, { attributes, value: by });
  }

  observe(observer: BatchObservableResult, instrument: Observable): void {
    for (const { attributes, value } of this.#counts.values()) observer.observe(instrument, value, attributes);
  }
}

export class Metering {
  readonly #runDuration: Histogram;
  readonly #runs = new Tally();
  readonly #activeRuns: UpDownCounter;
  readonly #stepDuration: Histogram;
  readonly #stepAttempts = new Tally();
  readonly #stepRetries = new Tally();
  readonly #items = new Tally();
  readonly #tokens = new Tally();
  readonly telemetryDropped: Counter;
  readonly persistenceDropped: Counter;
  /** Runs counted active, so one that ends before it starts is not subtracted. */
  readonly #started = new Set<string>();

  constructor(meter: Meter) {
    this.#runDuration = histogram(meter, METRICS.runDuration);
    this.#activeRuns = updown(meter, METRICS.activeRuns);
    this.#stepDuration = histogram(meter, METRICS.stepDuration);
    const tallies: [Tally, Observable][] = [
      [this.#runs, observableCounter(meter, METRICS.runs)],
      [this.#stepAttempts, observableCounter(meter, METRICS.stepAttempts)],
      [this.#stepRetries, observableCounter(meter, METRICS.stepRetries)],
      [this.#items, observableCounter(meter, METRICS.items)],
      [this.#tokens, observableCounter(meter, METRICS.tokens)],
    ];
    meter.addBatchObservableCallback(
      (observer) => {
        for (const [tally, instrument] of tallies) tally.observe(observer, instrument);
      },
      tallies.map(([, instrument]) => instrument),
    );
    this.telemetryDropped = counter(meter, METRICS.telemetryDropped);
    this.persistenceDropped = counter(meter, METRICS.persistenceDropped);
    // Drops start at zero, so a dashboard shows 0 rather than no data.
    this.telemetryDropped.add(0, { [ATTR.DROP_REASON]: 'export_failed' });
    this.persistenceDropped.add(0, { [ATTR.DROP_REASON]: 'write_failed' });

    const queue = gauge(meter, METRICS.queueSize);
    const inFlight = gauge(meter, METRICS.inFlight);
    const workers = gauge(meter, METRICS.workers);
    meter.addBatchObservableCallback(
      (observer) => {
        for (const source of live) {
          for (const stage of source.stages()) {
            const attributes = { [ATTR.PIPELINE_NAME]: source.pipeline, [ATTR.STAGE]: stage.name };
            observer.observe(queue, stage.queued, attributes);
            observer.observe(inFlight, stage.inProgress, attributes);
            observer.observe(workers, stage.inProgress, { ...attributes, [ATTR.WORKER_STATE]: 'busy' });
            observer.observe(workers, stage.workers - stage.inProgress, { ...attributes, [ATTR.WORKER_STATE]: 'idle' });
          }
        }
      },
      [queue, inFlight, workers],
    );
  }

  readonly handle = (e: SpanflowEvent): void => {
    switch (e.type) {
      case 'run_start':
        this.#started.add(e.runId);
        this.#activeRuns.add(1, { [ATTR.PIPELINE_NAME]: e.pipeline });
        return;
      case 'run_end': {
        const result = cicdResultOf(e.status);
        const attributes = { [ATTR.PIPELINE_NAME]: e.pipeline, [ATTR.RESULT]: result };
        this.#runs.add(attributes);
        this.#runDuration.record(e.durationMs / 1000, attributes);
        // A run that ended before it started (startup failed, cancelled early) was never counted active.
        if (this.#started.delete(e.runId)) this.#activeRuns.add(-1, { [ATTR.PIPELINE_NAME]: e.pipeline });
        return;
      }
      case 'step_retry':
        this.#attempt(e.pipeline, e.node, e.nodeKind, 'failure', e.durationMs);
        this.#stepRetries.add({ [ATTR.PIPELINE_NAME]: e.pipeline, [ATTR.TASK_NAME]: e.node, [ATTR.NODE_KIND]: e.nodeKind, [ATTR.ERROR_TYPE]: e.error.type });
        return;
      case 'step_end':
        if (e.attempt > 0) this.#attempt(e.pipeline, e.node, e.nodeKind, cicdResultOf(e.status), e.durationMs);
        return;
      case 'task_retry':
        this.#attempt(e.pipeline, `${e.stage}/${e.task}`, 'task', 'failure', e.durationMs);
        this.#stepRetries.add({ [ATTR.PIPELINE_NAME]: e.pipeline, [ATTR.TASK_NAME]: `${e.stage}/${e.task}`, [ATTR.NODE_KIND]: 'task', [ATTR.ERROR_TYPE]: e.error.type });
        return;
      case 'task_end':
        this.#attempt(e.pipeline, `${e.stage}/${e.task}`, 'task', cicdResultOf(e.status), e.durationMs);
        return;
      case 'item_status':
        if (e.status === 'completed' || e.status === 'failed' || e.status === 'skipped') {
          this.#items.add({ [ATTR.PIPELINE_NAME]: e.pipeline, [ATTR.STAGE]: e.stage, [ATTR.ITEM_STATUS]: e.status });
        }
        return;
      case 'token':
        this.#tokens.add({ [ATTR.PIPELINE_NAME]: e.pipeline, [ATTR.TASK_NAME]: e.node });
        return;
      default:
        return;
    }
  };

  #attempt(pipeline: string, task: string, kind: string, result: string, durationMs: number | undefined): void {
    const attributes: Attributes = { [ATTR.PIPELINE_NAME]: pipeline, [ATTR.TASK_NAME]: task, [ATTR.NODE_KIND]: kind, [ATTR.TASK_RESULT]: result };
    this.#stepAttempts.add(attributes);
    if (durationMs !== undefined && durationMs > 0) this.#stepDuration.record(durationMs / 1000, attributes);
  }
}
