// Pool metrics, from the one catalogue (sdk/telemetry/catalogue.ts): threads,
// idle threads, queue size and utilization are observable gauges read from the
// live pools when the reader collects; task wait and run time are histograms
// recorded as each task ends. Without a registered meter provider nothing is
// made and a task records nothing.

import { type Attributes, type Counter, createNoopMeter, type Histogram, type Meter, metrics } from '@opentelemetry/api';
import { ATTR, IdleGauges, METRICS, type MetricDef, metricOptions, TELEMETRY_SCOPE } from '../sdk/index.ts';
import { monoNow } from './protocol.ts';

/** What the gauges read of a pool. */
export interface PoolGauges {
  readonly name: string;
  readonly attributes: Attributes;
  readonly threads: number;
  readonly idleThreads: number;
  readonly queueSize: number;
  readonly maxThreads: number;
}

/**
 * Where a pool's threads say when each task started: one slot per task in
 * flight, in memory the threads share, written by the thread that takes the
 * task (its start on the monotonic clock, in ns; 0 while it waits in the queue).
 */
export type StartTimes = BigInt64Array<SharedArrayBuffer>;

/**
 * The time a pool's threads spend running its tasks, measured by spanflow: each
 * task's start and end on the monotonic clock (the same in every thread), a
 * task still running counted up to now from its start. Each `take()` gives the
 * busy time since the previous one, so utilization is per collection interval.
 * A task whose thread died counts up to the last take while it ran.
 */
export class BusyTime {
  readonly starts: StartTimes;
  readonly #free: number[];
  readonly #claimed = new Set<number>();
  /** Busy ms of the tasks that ended since `#since`. */
  #ended = 0;
  #since = monoNow();

  constructor(slots: number) {
    this.starts = new BigInt64Array(new SharedArrayBuffer(slots * BigInt64Array.BYTES_PER_ELEMENT));
    this.#free = Array.from({ length: slots }, (_, i) => slots - 1 - i);
  }

  /** A slot for a task about to be submitted; -1 when all are taken (the task then counts when it ends). */
  claim(): number {
    const slot = this.#free.pop();
    if (slot === undefined) return -1;
    Atomics.store(this.starts, slot, 0n);
    this.#claimed.add(slot);
    return slot;
  }

  /** The task in `slot` settled: its time on a thread (`started`..`ended`, ms, monoNow) when known. */
  settle(slot: number, started: number | undefined, ended: number | undefined): void {
    if (started !== undefined && ended !== undefined) this.#ended += Math.max(0, ended - Math.max(started, this.#since));
    if (slot < 0) return;
    this.#claimed.delete(slot);
    this.#free.push(slot);
  }

  /** Busy thread-time (ms) since the previous take, and the wall time (ms) that covers. */
  take(): { busy: number; wall: number } {
    const now = monoNow();
    let busy = this.#ended;
    for (const slot of this.#claimed) {
      const started = Atomics.load(this.starts, slot);
      if (started > 0n) busy += Math.max(0, now - Math.max(Number(started) / 1e6, this.#since));
    }
    const wall = now - this.#since;
    this.#since = now;
    this.#ended = 0;
    return { busy, wall };
  }
}

/** A pool's utilization since the previous collection: busy thread-time over what `maxThreads` threads could give, 0..1. */
function utilizationOf(pool: PoolGauges, time: BusyTime): number {
  const { busy, wall } = time.take();
  return wall > 0 ? Math.min(1, Math.max(0, busy / (wall * pool.maxThreads))) : 0;
}

const noopMeterClass = createNoopMeter().constructor;
/** Open pools, with their tasks' time on their threads. */
const live = new Map<PoolGauges, BusyTime>();
/** Every pool's attributes, by name: a pool that closed reads 0 from then on. */
const reported = new IdleGauges<Attributes>();

interface Instruments {
  readonly meter: Meter;
  readonly waitTime: Histogram;
  readonly runTime: Histogram;
  readonly dropped: Counter;
}
let current: Instruments | undefined;

const histogram = (meter: Meter, def: MetricDef): Histogram => meter.createHistogram(def.name, metricOptions(def));

/** The instruments of the meter registered now (made once per meter), or undefined when none is. */
function instruments(): Instruments | undefined {
  const meter = metrics.getMeter(TELEMETRY_SCOPE);
  if (meter.constructor === noopMeterClass) return undefined;
  if (current?.meter === meter) return current;
  const gauge = (def: MetricDef) => meter.createObservableGauge(def.name, metricOptions(def));
  const threads = gauge(METRICS.poolThreads);
  const idle = gauge(METRICS.poolIdleThreads);
  const queue = gauge(METRICS.poolQueueSize);
  const utilization = gauge(METRICS.poolUtilization);
  meter.addBatchObservableCallback(
    (observer) => {
      const open = new Set<string>();
      for (const [pool, time] of live) {
        open.add(pool.name);
        reported.report(pool.name, pool.attributes);
        observer.observe(threads, pool.threads, pool.attributes);
        observer.observe(idle, pool.idleThreads, pool.attributes);
        observer.observe(queue, pool.queueSize, pool.attributes);
        observer.observe(utilization, utilizationOf(pool, time), pool.attributes);
      }
      for (const attributes of reported.idle(open)) {
        for (const instrument of [threads, idle, queue, utilization]) observer.observe(instrument, 0, attributes);
      }
    },
    [threads, idle, queue, utilization],
  );
  const dropped = meter.createCounter(METRICS.telemetryDropped.name, metricOptions(METRICS.telemetryDropped));
  current = { meter, waitTime: histogram(meter, METRICS.poolWaitTime), runTime: histogram(meter, METRICS.poolRunTime), dropped };
  return current;
}

/** A pool's gauges (and its tasks' `time` on its threads) are read while it is open; returns the call that stops it. */
export function watchPool(pool: PoolGauges, time: BusyTime): () => void {
  live.set(pool, time);
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
