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
} from '@opentelemetry/api';
import type { SpanflowEvent } from '../events.ts';
import { cicdResultOf } from '../events.ts';
import type { StepRef } from './tracing.ts';
import { ATTR } from './attributes.ts';
import { METRICS, type MetricDef, metricOptions } from './catalogue.ts';
import { IdleGauges } from './gauges.ts';

/** Counts a stage batch keeps anyway (per stage and task), handed over by name when the reader collects. */
export interface CountVisitor {
  /** Items that reached a final status in this stage. */
  item(stage: string, status: 'completed' | 'failed' | 'skipped', count: number): void;
  /** Task attempts that ended with this result (`stage/task`). */
  attempt(task: string, result: string, count: number): void;
  /** Task attempts that failed with this error type and were retried. */
  retry(task: string, errorType: string, count: number): void;
}

/** What a live stage batch shows the metrics: its gauges now, and its counts so far. */
export interface BatchSource {
  readonly pipeline: string;
  stages(): readonly { readonly name: string; readonly queued: number; readonly inProgress: number; readonly workers: number }[];
  count(visitor: CountVisitor): void;
}

const histogram = (meter: Meter, def: MetricDef): Histogram => meter.createHistogram(def.name, metricOptions(def));
const counter = (meter: Meter, def: MetricDef): Counter => meter.createCounter(def.name, metricOptions(def));
const gauge = (meter: Meter, def: MetricDef): ObservableGauge => meter.createObservableGauge(def.name, metricOptions(def));
const observableCounter = (meter: Meter, def: MetricDef): ObservableCounter => meter.createObservableCounter(def.name, metricOptions(def));

/** One attribute combination's count, and its attribute object (made once). */
interface CountEntry {
  readonly attributes: Attributes;
  value: number;
}

/**
 * What a graph step's attempts are metered with, kept per step definition: its
 * successes' count and its duration attributes, so an attempt costs one lookup
 * rather than six. It says whose it is, as a definition shared by two pipelines
 * (or two names) must not count one's attempts as the other's.
 */
interface StepMeters {
  readonly pipeline: string;
  readonly node: string;
  readonly kind: string;
  readonly succeeded: CountEntry;
  readonly duration: Attributes;
}

/**
 * Counts kept in spanflow and reported by an observable counter when the
 * reader collects: a hot path pays a few map lookups, not an SDK record (which
 * sorts and serializes the attributes on every call). Values are given in the
 * order of the catalogue entry's attributes; the attribute object is made once
 * per combination.
 */
class Counts {
  readonly #names: readonly string[];
  readonly #root = new Map<string, unknown>();
  readonly #entries: (CountEntry & { readonly values: readonly string[] })[] = [];

  constructor(def: MetricDef) {
    this.#names = def.attributes;
  }

  /**
   * Adds `count` to this combination of attribute values (as many as the
   * metric has attributes, in its order); returns its (cached) attributes.
   * Fixed parameters rather than a rest array: this runs per attempt.
   */
  add(count: number, a: string, b?: string, c?: string, d?: string): Attributes {
    const entry = this.entry(a, b, c, d);
    entry.value += count;
    return entry.attributes;
  }

  /** The count of this combination, for a caller that keeps it to add to later. */
  entry(a: string, b?: string, c?: string, d?: string): CountEntry {
    const depth = this.#names.length;
    let level = this.#root;
    for (let i = 0; i < depth - 1; i++) {
      const value = (i === 0 ? a : i === 1 ? b : c) as string;
      let next = level.get(value) as Map<string, unknown> | undefined;
      if (!next) {
        next = new Map();
        level.set(value, next);
      }
      level = next;
    }
    const leaf = (depth === 1 ? a : depth === 2 ? b : depth === 3 ? c : d) as string;
    const found = level.get(leaf) as CountEntry | undefined;
    if (found) return found;
    const values = [a, b, c, d].slice(0, depth) as string[];
    const attributes: Attributes = {};
    this.#names.forEach((name, i) => {
      attributes[name] = values[i];
    });
    const fresh = { values, attributes, value: 0 };
    level.set(leaf, fresh);
    this.#entries.push(fresh);
    return fresh;
  }

  /** Adds every count of `other` (same metric) to these. */
  addAll(other: Counts): void {
    for (const { values, value } of other.#entries) this.entry(values[0] as string, values[1], values[2], values[3]).value += value;
  }

  observe(observer: BatchObservableResult, instrument: Observable): void {
    for (const { attributes, value } of this.#entries) observer.observe(instrument, value, attributes);
  }
}

/** The stage counts of batches, per pipeline. */
class StageCounts {
  readonly items = new Counts(METRICS.items);
  readonly attempts = new Counts(METRICS.stepAttempts);
  readonly retries = new Counts(METRICS.stepRetries);

  take(source: BatchSource): void {
    const { pipeline } = source;
    source.count({
      item: (stage, status, count) => this.items.add(count, pipeline, stage, status),
      attempt: (task, result, count) => this.attempts.add(count, pipeline, task, 'task', result),
      retry: (task, errorType, count) => this.retries.add(count, pipeline, task, 'task', errorType),
    });
  }
}

/** What the stage gauges report for one pipeline and stage: the sums over its live batches. */
interface StageGauges {
  readonly pipeline: string;
  readonly stage: string;
  queued: number;
  inProgress: number;
  workers: number;
}

export class Metering {
  readonly #runDuration: Histogram;
  readonly #runs: Counts;
  /** Runs in progress, per pipeline (an observable up-down counter reads it). */
  readonly #activeRuns = new Map<string, number>();
  readonly #stepDuration: Histogram;
  /** The duration histogram's attribute objects, one per pipeline and step (its count stays 0). */
  readonly #durationAttributes = new Counts(METRICS.stepDuration);
  /** Graph step attempts (stage task attempts are counted by their batches). */
  readonly #stepAttempts = new Counts(METRICS.stepAttempts);
  readonly #stepRetries = new Counts(METRICS.stepRetries);
  /** Per graph step definition: see StepMeters. */
  readonly #steps = new WeakMap<object, StepMeters>();
  readonly #tokens = new Counts(METRICS.tokens);
  readonly telemetryDropped: Counter;
  readonly persistenceDropped: Counter;
  /** Runs counted active, so one that ends before it starts is not subtracted. */
  readonly #started = new Set<string>();
  /** Stage batches running now. */
  readonly #live = new Set<BatchSource>();
  /** The counts of stage batches that ended. */
  readonly #finished = new StageCounts();
  /** Every pipeline and stage the stage gauges have reported, with the values it has once no batch of it runs (all 0). */
  readonly #gaugeStages = new IdleGauges<StageGauges>();

  constructor(meter: Meter) {
    this.#runDuration = histogram(meter, METRICS.runDuration);
    this.#runs = new Counts(METRICS.runs);
    this.#stepDuration = histogram(meter, METRICS.stepDuration);
    const runs = observableCounter(meter, METRICS.runs);
    const attempts = observableCounter(meter, METRICS.stepAttempts);
    const retries = observableCounter(meter, METRICS.stepRetries);
    const items = observableCounter(meter, METRICS.items);
    const tokens = observableCounter(meter, METRICS.tokens);
    const active = meter.createObservableUpDownCounter(METRICS.activeRuns.name, metricOptions(METRICS.activeRuns));
    meter.addBatchObservableCallback(
      (observer) => {
        this.#runs.observe(observer, runs);
        this.#tokens.observe(observer, tokens);
        for (const [pipeline, count] of this.#activeRuns) observer.observe(active, count, { [ATTR.PIPELINE_NAME]: pipeline });
        // One observation per attribute set: graph counts, ended batches and live batches added up first.
        const stage = new StageCounts();
        stage.attempts.addAll(this.#stepAttempts);
        stage.retries.addAll(this.#stepRetries);
        stage.items.addAll(this.#finished.items);
        stage.attempts.addAll(this.#finished.attempts);
        stage.retries.addAll(this.#finished.retries);
        for (const source of this.#live) stage.take(source);
        stage.items.observe(observer, items);
        stage.attempts.observe(observer, attempts);
        stage.retries.observe(observer, retries);
      },
      [runs, attempts, retries, items, tokens, active],
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
        const sums = new Map<string, StageGauges>();
        for (const source of this.#live) {
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
        // A stage no live batch has now reads 0: the SDK would otherwise export its last values forever.
        for (const idle of this.#gaugeStages.idle(sums)) sums.set(`${idle.pipeline}\u0000${idle.stage}`, idle);
        for (const [key, stage] of sums) {
          this.#gaugeStages.report(key, { pipeline: stage.pipeline, stage: stage.stage, queued: 0, inProgress: 0, workers: 0 });
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

  /** A stage batch registers while it runs, so the metrics can read it; at its end its counts are kept. */
  watch(source: BatchSource): () => void {
    this.#live.add(source);
    return () => {
      if (this.#live.delete(source)) this.#finished.take(source);
    };
  }

  /** A graph step attempt failed and is retried; `duration`: its duration goes to the histogram (TelemetryOptions.durations). */
  retried(step: StepRef, errorType: string, durationMs: number, duration: boolean): void {
    this.#stepAttempts.add(1, step.pipeline, step.node, step.kind, 'failure');
    this.#stepRetries.add(1, step.pipeline, step.node, step.kind, errorType);
    if (duration) this.#duration(step.pipeline, step.node, durationMs);
  }

  /** A graph step's last attempt ended with `result`. */
  ended(step: StepRef, result: string, durationMs: number, duration: boolean): void {
    const meters = this.#meters(step);
    if (result === 'success') meters.succeeded.value++;
    else this.#stepAttempts.add(1, step.pipeline, step.node, step.kind, result);
    if (duration && durationMs > 0) this.#stepDuration.record(durationMs / 1000, meters.duration);
  }

  /** A step's meters: found by its definition (every run of a pipeline shares it), made at its first attempt. */
  #meters(step: StepRef): StepMeters {
    const def = step.def;
    let meters = def && this.#steps.get(def);
    if (meters === undefined || meters.pipeline !== step.pipeline || meters.node !== step.node || meters.kind !== step.kind) {
      const { pipeline, node, kind } = step;
      meters = { pipeline, node, kind, succeeded: this.#stepAttempts.entry(pipeline, node, kind, 'success'), duration: this.#durationAttributes.add(0, pipeline, node) };
      if (def) this.#steps.set(def, meters);
    }
    return meters;
  }

  /** Takes a run's event (run boundaries and tokens). */
  readonly handle = (e: SpanflowEvent): void => {
    switch (e.type) {
      case 'run_start':
        this.#started.add(e.runId);
        this.#activeRuns.set(e.pipeline, (this.#activeRuns.get(e.pipeline) ?? 0) + 1);
        return;
      case 'run_end': {
        const result = cicdResultOf(e.status);
        const attributes = this.#runs.add(1, e.pipeline, result);
        this.#runDuration.record(e.durationMs / 1000, attributes);
        // A run that ended before it started (startup failed, cancelled early) was never counted active.
        if (this.#started.delete(e.runId)) this.#activeRuns.set(e.pipeline, (this.#activeRuns.get(e.pipeline) ?? 1) - 1);
        return;
      }
      case 'token':
        this.#tokens.add(1, e.pipeline, e.node);
        return;
      default:
        return;
    }
  };

  /** A stage task attempt's duration (its count is the batch's). `task` is `stage/task`. */
  taskDuration(pipeline: string, task: string, durationMs: number): void {
    this.#duration(pipeline, task, durationMs);
  }

  #duration(pipeline: string, task: string, durationMs: number): void {
    if (durationMs > 0) this.#stepDuration.record(durationMs / 1000, this.#durationAttributes.add(0, pipeline, task));
  }
}
