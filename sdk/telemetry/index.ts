// Telemetry through @opentelemetry/api only. Without a registered SDK nothing
// here runs: no listener is attached, no span or instrument is made.

import { type Context, context, createNoopMeter, metrics, ProxyTracerProvider, trace } from '@opentelemetry/api';
import type { EventBus } from '../emitter.ts';
import { EVENT_TYPES, type EventType } from '../events.ts';
import { Metering } from './metrics.ts';
import { type PayloadOptions, Tracing } from './tracing.ts';

export { ATTR, type AttributeName } from './attributes.ts';
export { type Instrument, type MetricDef, type MetricKey, METRICS, SECONDS_BUCKETS } from './catalogue.ts';
export { type GaugeSource, watchBatch } from './metrics.ts';
export type { PayloadOptions } from './tracing.ts';

const SCOPE = 'spanflow';

/** The events each side uses: the engine does not build the others for them (worker states, for one). */
const TRACED: ReadonlySet<EventType> = new Set(EVENT_TYPES.filter((type) => type !== 'worker_state'));
const METERED: ReadonlySet<EventType> = new Set(['run_start', 'run_end', 'step_retry', 'step_end', 'task_retry', 'task_end', 'item_status', 'token'] as const);
let payloadOptions: PayloadOptions = {};

/** Payloads (token contents) stay out of telemetry unless turned on here, and then pass through `redact`. */
export function configureTelemetry(options: PayloadOptions): void {
  payloadOptions = options;
}

const noopMeterClass = createNoopMeter().constructor;
let metering: { meter: unknown; metering: Metering } | undefined;

function currentMetering(): Metering | undefined {
  const meter = metrics.getMeter(SCOPE);
  if (meter.constructor === noopMeterClass) return undefined;
  // Instruments are made once per meter (a new SDK registered later gets its own).
  if (metering?.meter !== meter) metering = { meter, metering: new Metering(meter) };
  return metering.metering;
}

function currentTracer() {
  // Until an SDK registers, the global provider is the API's proxy with no delegate.
  const provider = trace.getTracerProvider();
  return provider instanceof ProxyTracerProvider ? provider.getDelegateTracer(SCOPE) : provider.getTracer(SCOPE);
}

/** The telemetry of one run tree (a run and its sub-pipelines, or a batch). */
export interface Telemetry {
  /** Runs `call` with the run's span current. */
  inRun<R>(runId: string, call: () => R): R;
  /** Runs `call` with the attempt's span current, so the step's own spans nest under it. */
  inAttempt<R>(runId: string, node: string, index: number | undefined, call: () => R): R;
  inTask<R>(runId: string, itemId: string, call: () => R): R;
  /** Counts what the store could not write (the store lives in exporters/). */
  readonly metering: Metering | undefined;
}

/** Attaches spans and metrics to a run's events, when an SDK is registered. */
export function attachTelemetry(bus: EventBus): Telemetry | undefined {
  const tracer = currentTracer();
  const meter = currentMetering();
  if (!tracer && !meter) return undefined;
  const tracing = tracer ? new Tracing(tracer, payloadOptions) : undefined;
  if (tracing) bus.listen(tracing.handle, TRACED);
  if (meter) bus.listen(meter.handle, METERED);
  // A context switch only when it changes something (a sampled-out run's steps share its context).
  const within = <R>(ctx: Context | undefined, call: () => R): R => (ctx && ctx !== context.active() ? context.with(ctx, call) : call());
  return {
    inRun: (runId, call) => within(tracing?.runContext(runId), call),
    inAttempt: (runId, node, index, call) => within(tracing?.attemptContext(runId, node, index), call),
    inTask: (runId, itemId, call) => within(tracing?.taskContext(runId, itemId), call),
    metering: meter,
  };
}
