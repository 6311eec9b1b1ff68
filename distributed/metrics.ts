// Distributed queue metrics, from the one catalogue (sdk/telemetry/catalogue.ts),
// recorded by the dispatching process: each job's wait and run time (by the
// database clock) as its result comes back, and the jobs it sent that no worker
// has taken yet as an observable gauge per queue. Without a registered meter
// provider nothing is made.

import { type Attributes, createNoopMeter, type Histogram, type Meter, metrics } from '@opentelemetry/api';
import { ATTR, IdleGauges, METRICS, metricOptions, TELEMETRY_SCOPE } from '../sdk/index.ts';

const noopMeterClass = createNoopMeter().constructor;

/** What the gauge reads of a dispatcher: jobs waiting per queue, as of its last look. */
export interface QueueDepths {
  waiting(): ReadonlyMap<string, number>;
}

const live = new Set<QueueDepths>();
const reported = new IdleGauges<Attributes>();

interface Instruments {
  readonly meter: Meter;
  readonly waitTime: Histogram;
  readonly runTime: Histogram;
}
let current: Instruments | undefined;

function instruments(): Instruments | undefined {
  const meter = metrics.getMeter(TELEMETRY_SCOPE);
  if (meter.constructor === noopMeterClass) return undefined;
  if (current?.meter === meter) return current;
  const size = meter.createObservableGauge(METRICS.remoteQueueSize.name, metricOptions(METRICS.remoteQueueSize));
  size.addCallback((observer) => {
    const totals = new Map<string, number>();
    for (const dispatcher of live) for (const [queue, n] of dispatcher.waiting()) totals.set(queue, (totals.get(queue) ?? 0) + n);
    for (const [queue, n] of totals) {
      const attributes = queueAttributes(queue);
      reported.report(queue, { ...attributes });
      observer.observe(n, attributes);
    }
    for (const attributes of reported.idle(totals)) observer.observe(0, attributes);
  });
  current = {
    meter,
    waitTime: meter.createHistogram(METRICS.remoteWaitTime.name, metricOptions(METRICS.remoteWaitTime)),
    runTime: meter.createHistogram(METRICS.remoteRunTime.name, metricOptions(METRICS.remoteRunTime)),
  };
  return current;
}

export function queueAttributes(queue: string): Attributes {
  return { [ATTR.QUEUE_NAME]: queue };
}

/** The dispatcher's queues are read by the gauge while it is open; returns the call that stops it. */
export function watchQueues(dispatcher: QueueDepths): () => void {
  live.add(dispatcher);
  instruments();
  return () => {
    live.delete(dispatcher);
  };
}

/** A job ended: how long it waited and ran, in ms (undefined: not known). */
export function recordJob(queue: string, waitMs: number | undefined, runMs: number | undefined): void {
  const made = instruments();
  if (!made) return;
  const attributes = queueAttributes(queue);
  if (waitMs !== undefined) made.waitTime.record(Math.max(0, waitMs) / 1000, attributes);
  if (runMs !== undefined) made.runTime.record(Math.max(0, runMs) / 1000, attributes);
}
