// Pool metrics, from the one catalogue (sdk/telemetry/catalogue.ts): threads,
// idle threads, queue size and utilization are observable gauges read from the
// live pools when the reader collects; task wait and run time are histograms
// recorded as each task ends. Without a registered meter provider nothing is
// made and a task records nothing.

import { type Attributes, type Counter, createNoopMeter, type Histogram, type Meter, metrics } from '@opentelemetry/api';
import { ATTR, METRICS, type MetricDef } from '../sdk/index.ts';

/** What the gauges read of a pool. */
export interface PoolGauges {
  readonly name: string;
  readonly attributes: Attributes;
  readonly threads: number;
  readonly idleThreads: number;
  readonly queueSize: number;
  readonly utilization: number;
}

const SCOPE = 'spanflow';
const noopMeterClass = createNoopMeter().constructor;
const live = new Set<PoolGauges>();

interface Instruments {
  readonly meter: Meter;
  readonly waitTime: Histogram;
  readonly runTime: Histogram;
  readonly dropped: Counter;
}
let current: Instruments | undefined;

function histogram(meter: Meter, def: MetricDef): Histogram {
  return meter.createHistogram(def.name, {
    unit: def.unit,
    description: def.description,
    ...(def.buckets ? { advice: { explicitBucketBoundaries: [...def.buckets] } } : {}),
  });
}

/** The instruments of the meter registered now (made once per meter), or undefined when none is. */
function instruments(): Instruments | undefined {
  const meter = metrics.getMeter(SCOPE);
  if (meter.constructor === noopMeterClass) return undefined;
  if (current?.meter === meter) return current;
  const gauge = (def: MetricDef) => meter.createObservableGauge(def.name, { unit: def.unit, description: def.description });
  const threads = gauge(METRICS.poolThreads);
  const idle = gauge(METRICS.poolIdleThreads);
  const queue = gauge(METRICS.poolQueueSize);
  const utilization = gauge(METRICS.poolUtilization);
  meter.addBatchObservableCallback(
    (observer) => {
      for (const pool of live) {
        observer.observe(threads, pool.threads, pool.attributes);
        observer.observe(idle, pool.idleThreads, pool.attributes);
        observer.observe(queue, pool.queueSize, pool.attributes);
        observer.observe(utilization, pool.utilization, pool.attributes);
      }
    },
    [threads, idle, queue, utilization],
  );
  const dropped = meter.createCounter(METRICS.telemetryDropped.name, { unit: METRICS.telemetryDropped.unit, description: METRICS.telemetryDropped.description });
  current = { meter, waitTime: histogram(meter, METRICS.poolWaitTime), runTime: histogram(meter, METRICS.poolRunTime), dropped };
  return current;
}

/** A pool's gauges are read while it is open; returns the call that stops it. */
export function watchPool(pool: PoolGauges): () => void {
  live.add(pool);
  instruments();
  return () => {
    live.delete(pool);
  };
}

/** The attributes of a pool's data points. */
export function poolAttributes(name: string): Attributes {
  return { [ATTR.POOL_NAME]: name };
}

/** A task ended: how long it waited for a thread and ran on it, in ms (undefined: not known, the thread died). */
export function recordTask(attributes: Attributes, waitMs: number | undefined, runMs: number | undefined): void {
  const made = instruments();
  if (!made) return;
  if (waitMs !== undefined) made.waitTime.record(Math.max(0, waitMs) / 1000, attributes);
  if (runMs !== undefined) made.runTime.record(Math.max(0, runMs) / 1000, attributes);
}

/**
 * Spans a task's code made past the per-task limit (recording.ts), never sent
 * back: counted as `spanflow.telemetry.dropped` with reason worker_span_limit,
 * whichever SDK the application runs.
 */
export function recordDroppedSpans(spans: number): void {
  if (spans > 0) instruments()?.dropped.add(spans, { [ATTR.DROP_REASON]: 'worker_span_limit' });
}
