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
 * reader collects: a hot path pays a few map lookups, not an SDK record (which
 * sorts and serializes the attributes on every call). Values are given in the
 * order of the catalogue entry's attributes; the attribute object is made once
 * per combination.
 */
class Tally {
  readonly #names: readonly string[];
  readonly #root = new Map<string, unknown>();
  readonly #entries: { readonly attributes: Attributes; value: number }[] = [];

  constructor(def: MetricDef) {
    this.#names = def.attributes;
  }

  /** Counts one for this combination of attribute values; returns its (cached) attributes. */
  add(...values: string[]): Attributes {
    let level = this.#root;
    const last = values.length - 1;
    for (let i = 0; i < last; i++) {
      const value = values[i] as string;
      let next = level.get(value) as Map<string, unknown> | undefined;
      if (!next) {
        next = new Map();
        level.set(value, next);
      }
      level = next;
    }
    const leaf = values[last] as string;
    const entry = level.get(leaf) as { readonly attributes: Attributes; value: number } | undefined;
    if (entry) {
      entry.value++;
      return entry.attributes;
    }
    const attributes: Attributes = {};
    this.#names.forEach((name, i) => {
      attributes[name] = values[i];
    });
    const fresh = { attributes, value: 1 };
    level.set(leaf, fresh);
    this.#entries.push(fresh);
    return attributes;
  }

  observe(observer: BatchObservableResult, instrument: Observable): void {
    for (const { attributes, value } of this.#entries) observer.observe(instrument, value, attributes);
  }
}

export class Metering {
  readonly #runDuration: Histogram;
  readonly #runs = new Tally(METRICS.runs);
  readonly #activeRuns: UpDownCounter;
  readonly #stepDuration: Histogram;
  readonly #stepAttempts = new Tally(METRICS.stepAttempts);
  readonly #stepRetries = new Tally(METRICS.stepRetries);
  readonly #items = new Tally(METRICS.items);
  readonly #tokens = new Tally(METRICS.tokens);
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
        // Concurrent batches of one pipeline share attributes (no run ids): their stages add up.
        const sums = new Map<string, { pipeline: string; stage: string; queued: number; inProgress: number; workers: number }>();
        for (const source of live) {
          for (const stage of source.stages()) {
            const key = `${source.pipeline}\u0000${stage.name}`;
            const sum = sums.get(key);
            if (sum) {
              sum.queued += stage.queued;
              sum.inProgress += stage.inProgress;
              sum.workers += stage.workers;
            } else sums.set(key, { pipeline: source.pipeline, stage: stage.name, queued: stage.queued, inProgress: stage.inProgress, workers: stage.workers });
          }
        }
        for (const stage of sums.values()) {
          const attributes = { [ATTR.PIPELINE_NAME]: stage.pipeline, [ATTR.STAGE]: stage.stage };
          observer.observe(queue, stage.queued, attributes);
          observer.observe(inFlight, stage.inProgress, attributes);
          observer.observe(workers, stage.inProgress, { ...attributes, [ATTR.WORKER_STATE]: 'busy' });
          observer.observe(workers, stage.workers - stage.inProgress, { ...attributes, [ATTR.WORKER_STATE]: 'idle' });
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
        const attributes = this.#runs.add(e.pipeline, result);
        this.#runDuration.record(e.durationMs / 1000, attributes);
        // A run that ended before it started (startup failed, cancelled early) was never counted active.
        if (this.#started.delete(e.runId)) this.#activeRuns.add(-1, { [ATTR.PIPELINE_NAME]: e.pipeline });
        return;
      }
      case 'step_retry':
        this.#attempt(e.pipeline, e.node, e.nodeKind, 'failure', e.durationMs);
        this.#stepRetries.add(e.pipeline, e.node, e.nodeKind, e.error.type);
        return;
      case 'step_end':
        if (e.attempt > 0) this.#attempt(e.pipeline, e.node, e.nodeKind, cicdResultOf(e.status), e.durationMs);
        return;
      case 'task_retry':
        this.#attempt(e.pipeline, `${e.stage}/${e.task}`, 'task', 'failure', e.durationMs);
        this.#stepRetries.add(e.pipeline, `${e.stage}/${e.task}`, 'task', e.error.type);
        return;
      case 'task_end':
        this.#attempt(e.pipeline, `${e.stage}/${e.task}`, 'task', cicdResultOf(e.status), e.durationMs);
        return;
      case 'item_status':
        if (e.status === 'completed' || e.status === 'failed' || e.status === 'skipped') {
          this.#items.add(e.pipeline, e.stage, e.status);
        }
        return;
      case 'token':
        this.#tokens.add(e.pipeline, e.node);
        return;
      default:
        return;
    }
  };

  #attempt(pipeline: string, task: string, kind: string, result: string, durationMs: number | undefined): void {
    // Duration and attempts share their attributes (catalogue order: pipeline, task, kind, result).
    const attributes = this.#stepAttempts.add(pipeline, task, kind, result);
    if (durationMs !== undefined && durationMs > 0) this.#stepDuration.record(durationMs / 1000, attributes);
  }
}
