// Telemetry through @opentelemetry/api only. Without a registered SDK nothing
// here runs: no listener is attached, no span or instrument is made.

import { type Context, context, createNoopMeter, isSpanContextValid, metrics, ProxyTracerProvider, type Tracer, trace } from '@opentelemetry/api';
import type { EventBus } from '../emitter.ts';
import { errorTypeOf } from '../errors.ts';
import { cicdResultOf, EVENT_TYPES, type EventType, type HookPhase, type StepEndStatus } from '../events.ts';
import { type ItemSink, ItemTelemetry } from './items.ts';
import { Metering } from './metrics.ts';
import { type Open, type PayloadOptions, shownPayload, type StepRef, Tracing } from './tracing.ts';

export { ATTR, type AttributeName } from './attributes.ts';
export { type Instrument, type MetricDef, type MetricKey, METRICS, metricOptions, SECONDS_BUCKETS } from './catalogue.ts';
export { IdleGauges } from './gauges.ts';
export { w3cPropagator } from './propagation.ts';
export { failSpan } from './status.ts';
export type { ItemTelemetry } from './items.ts';
export type { BatchSource, CountVisitor } from './metrics.ts';
export type { Open, PayloadOptions, StepRef } from './tracing.ts';

/** The instrumentation scope of every tracer and meter spanflow uses (the engine's, the pools', the queues'). */
export const TELEMETRY_SCOPE = 'spanflow';
const SCOPE = TELEMETRY_SCOPE;

/**
 * The events each side uses: the engine does not build the others for them.
 * Stage items and their tasks are not events here: their batch calls the
 * item's telemetry directly, and counts them itself (see metrics.ts).
 */
const ITEM_EVENTS: ReadonlySet<EventType> = new Set(['item_status', 'task_start', 'task_retry', 'task_end', 'task_status', 'worker_state'] as const);
// Graph steps are not events here either: their run calls startAttempt/endAttempt directly.
const STEP_EVENTS: ReadonlySet<EventType> = new Set(['step_queued', 'step_start', 'step_retry', 'step_end'] as const);
const TRACED: ReadonlySet<EventType> = new Set(EVENT_TYPES.filter((type) => !ITEM_EVENTS.has(type) && !STEP_EVENTS.has(type)));
const RUN_BOUNDARIES: ReadonlySet<EventType> = new Set(['run_queued', 'run_end'] as const);
const METERED: ReadonlySet<EventType> = new Set(['run_start', 'run_end', 'token'] as const);

export interface TelemetryOptions extends PayloadOptions {
  /**
   * Which step and task attempts feed the step duration histogram: those of
   * runs and items whose trace the sampler keeps (`'sampled'`, the default), or
   * every attempt (`'all'`). The sampler's choice is uniform, so quantiles
   * hold, every duration recorded has its trace, and a run or item left out
   * costs next to nothing; `'all'` costs about 1 µs more per attempt (the
   * SDK's price for a histogram record). Attempt counts are always complete
   * (`spanflow.step.attempts`), as are run durations. With no tracer
   * registered, every attempt is recorded.
   */
  readonly durations?: 'sampled' | 'all';
}

let options: TelemetryOptions = {};

/**
 * Payloads (token contents) stay out of telemetry unless turned on here, and
 * then pass through `redact`; `durations` says which attempts feed the step
 * duration histogram. Applies to runs started afterwards.
 */
export function configureTelemetry(given: TelemetryOptions): void {
  if (given.durations !== undefined && given.durations !== 'sampled' && given.durations !== 'all') {
    throw new TypeError(`configureTelemetry: durations is 'sampled' or 'all' (got ${JSON.stringify(given.durations)})`);
  }
  options = given;
}

/**
 * A payload as the current telemetry settings let it be shown outside the
 * process (spans, the live HTTP view): undefined unless payloads are on, else
 * what `redact` makes of it.
 */
export function payloadShown(value: unknown): { readonly value: unknown } | undefined {
  return shownPayload(options, value);
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

/** The registered tracer, or undefined while no SDK is registered (until then the global provider is the API's proxy with no delegate). */
export function currentTracer(): Tracer | undefined {
  const provider = trace.getTracerProvider();
  return provider instanceof ProxyTracerProvider ? provider.getDelegateTracer(SCOPE) : provider.getTracer(SCOPE);
}

/** The telemetry of one run tree (a run and its sub-pipelines, or a batch). */
export interface Telemetry {
  /** Runs `call` with the run's span current. */
  inRun<R>(runId: string, call: () => R): R;
  /** Runs a hook's code with its span current. */
  inHook<R>(runId: string, phase: HookPhase, hook: string, call: () => R): R;
  /** A graph step is ready to run. */
  stepQueued(runId: string, node: string): void;
  /** A graph step attempt started: its span (undefined when its run is not recorded). */
  startAttempt(step: StepRef, attempt: number): Open | undefined;
  /** Runs `call` with the attempt's span current, so the step's own spans nest under it. */
  inAttempt<R>(open: Open | undefined, call: () => R): R;
  /** The attempt failed and another follows after `delayMs`. */
  retryAttempt(step: StepRef, open: Open | undefined, attempt: number, error: unknown, delayMs: number, durationMs: number): void;
  /** A step ended: its last attempt's outcome (`attempt` 0 when it never ran). */
  endAttempt(step: StepRef, open: Open | undefined, attempt: number, status: StepEndStatus, durationMs: number, error: unknown): void;
  /** Runs `call` (a batch's workers) in the batch's context, marked not sampled: see Tracing.workerContext. */
  inWorkers<R>(runId: string, call: () => R): R;
  /**
   * Starts a stage item's telemetry, or gives undefined when there is nothing
   * to record for it (the sampler left it out): its batch then skips every call.
   */
  startItem(runId: string, item: { readonly id: string }, pipeline: string): ItemTelemetry | undefined;
  /** Counts what the store could not write (the store lives in exporters/). */
  readonly metering: Metering | undefined;
  /** The trace id of a run's span while the run is open (a stored run keeps it, to link the run to its trace). */
  traceId(runId: string): string | undefined;
  /** The span id of a step attempt's span while the attempt runs. */
  spanId(runId: string, node: string, index: number | undefined): string | undefined;
}

/** Attaches spans and metrics to a run's events, when an SDK is registered. */
export function attachTelemetry(bus: EventBus): Telemetry | undefined {
  const tracer = currentTracer();
  const meter = currentMetering();
  if (!tracer && !meter) return undefined;
  const tracing = tracer ? new Tracing(tracer, options) : undefined;
  if (tracing) {
    // While no run of this tree is recorded (the sampler left them out), tracing takes only run
    // boundaries, so a step's events are not even built for it.
    const retune = bus.listen(tracing.handle, TRACED);
    tracing.onRecording = (recording) => retune(recording ? TRACED : RUN_BOUNDARIES);
  }
  // Every attempt's duration, or those of runs the sampler kept (see TelemetryOptions.durations).
  const allDurations = !tracing || options.durations === 'all';
  if (meter) bus.listen(meter.handle, METERED);
  return new RunTelemetry(tracing, meter, allDurations);
}

/** A context switch only when it changes something (a sampled-out run's steps share its context). */
function within<R>(ctx: Context | undefined, call: () => R): R {
  return ctx && ctx !== context.active() ? context.with(ctx, call) : call();
}

/** The telemetry of one run tree: a class, so a run's telemetry is one object, not a closure per method. */
class RunTelemetry implements Telemetry {
  readonly #tracing: Tracing | undefined;
  readonly metering: Metering | undefined;
  readonly #allDurations: boolean;
  readonly #sinks = new Map<string, ItemSink & { readonly durations: ItemTelemetry }>();

  constructor(tracing: Tracing | undefined, meter: Metering | undefined, allDurations: boolean) {
    this.#tracing = tracing;
    this.metering = meter;
    this.#allDurations = allDurations;
  }

  inRun<R>(runId: string, call: () => R): R {
    return within(this.#tracing?.runContext(runId), call);
  }

  inHook<R>(runId: string, phase: HookPhase, hook: string, call: () => R): R {
    return within(this.#tracing?.hookContext(runId, phase, hook), call);
  }

  stepQueued(runId: string, node: string): void {
    this.#tracing?.stepQueued(runId, node);
  }

  startAttempt(step: StepRef, attempt: number): Open | undefined {
    return this.#tracing?.startAttempt(step, attempt);
  }

  inAttempt<R>(open: Open | undefined, call: () => R): R {
    return open ? context.with(open.context, call) : call();
  }

  retryAttempt(step: StepRef, open: Open | undefined, attempt: number, error: unknown, delayMs: number, durationMs: number): void {
    if (open) this.#tracing?.retryAttempt(step, open, attempt, error, delayMs);
    this.metering?.retried(step, errorTypeOf(error), durationMs, this.#allDurations || open !== undefined);
  }

  endAttempt(step: StepRef, open: Open | undefined, attempt: number, status: StepEndStatus, durationMs: number, error: unknown): void {
    this.#tracing?.endAttempt(step, open, status, error);
    if (attempt > 0) this.metering?.ended(step, cicdResultOf(status), durationMs, this.#allDurations || open !== undefined);
  }

  inWorkers<R>(runId: string, call: () => R): R {
    return within(this.#tracing?.workerContext(runId), call);
  }

  startItem(runId: string, item: { readonly id: string }, pipeline: string): ItemTelemetry | undefined {
    const meter = this.metering;
    let sink = this.#sinks.get(pipeline);
    if (!sink) {
      // Made once per pipeline; the durations-only telemetry is stateless, so one serves every item.
      const made = { pipeline, metering: meter };
      sink = { ...made, durations: new ItemTelemetry(made) };
      this.#sinks.set(pipeline, sink);
    }
    const traced = this.#tracing?.startItem(runId, item, sink);
    if (traced || !meter) return traced;
    return this.#allDurations ? sink.durations : undefined;
  }

  traceId(runId: string): string | undefined {
    return validSpanContext(this.#tracing?.runContext(runId))?.traceId;
  }

  spanId(runId: string, node: string, index: number | undefined): string | undefined {
    return validSpanContext(this.#tracing?.attemptContext(runId, node, index))?.spanId;
  }
}

function validSpanContext(ctx: Context | undefined) {
  const spanContext = ctx && trace.getSpanContext(ctx);
  return spanContext && isSpanContextValid(spanContext) ? spanContext : undefined;
}
