// Inside a worker thread: a small TracerProvider that records the spans a
// task's code makes (through @opentelemetry/api, as any library would) so they
// can be sent back with the task's result and made again on the main thread,
// under the task's span, by the main thread's SDK. No SDK and no exporter run
// in a worker.
//
// Why not something more established: OpenTelemetry JS's answer for worker
// threads is a second SDK per thread, each with its own exporter, joined to the
// main thread's trace by propagation; that is what spanflow promises not to
// need. Exporting the worker's spans with their own ids would need the main
// thread's span processor, which the API does not expose (spanflow's engine
// depends on the API only). So spans are made again through the API, which
// has these limits:
// - span ids differ from the ones the worker's code saw (a traceparent it sent
//   on an outgoing request names a span id no exporter reports); the trace id
//   is the same;
// - spans still open when the task returns are ended at that moment, and spans
//   made after it (by a timer the task left behind) are lost;
// - at most MAX_SPANS spans a task (the rest are counted on the task span),
//   MAX_EVENTS events and MAX_LINKS links a span;
// - a task that dies (exit, out of memory, aborted by a timeout) sends nothing
//   back: its spans are lost with the thread;
// - the main thread's sampler decides again (with the default parent-based
//   sampler, the same way: the task span is sampled);
// - metrics and logs made in a worker are not collected.

import { randomFillSync } from 'node:crypto';
import {
  type Attributes,
  type Context,
  context,
  createContextKey,
  type Exception,
  INVALID_SPAN_CONTEXT,
  type Link,
  type Span,
  type SpanAttributes,
  type SpanAttributeValue,
  type SpanContext,
  SpanKind,
  type SpanOptions,
  type SpanStatus,
  SpanStatusCode,
  type TimeInput,
  TraceFlags,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import { monoNow, plainContext, type SpanRecord } from './protocol.ts';

export const MAX_SPANS = 1000;
export const MAX_EVENTS = 128;
export const MAX_LINKS = 128;

const RECORDING = createContextKey('spanflow.worker.recording');

type Writable<T> = { -readonly [K in keyof T]: T[K] };
type MutableRecord = Writable<SpanRecord> & { events: SpanRecord['events'][number][]; links: SpanRecord['links'][number][]; attributes: Attributes };

/** The spans of one task: found through the context its code runs in. */
export class TaskRecording {
  /** The context the task runs in: the task span (from the main thread) and this recording. */
  readonly context: Context;
  readonly records: MutableRecord[] = [];
  dropped = 0;
  readonly #taskSpanId: string;
  /** Span id (as the worker's code sees it) -> index in `records`. */
  readonly #indexes = new Map<string, number>();

  constructor(parent: Context) {
    this.#taskSpanId = trace.getSpanContext(parent)?.spanId ?? '';
    this.context = parent.setValue(RECORDING, this);
  }

  /** -1 for the task span, the index of one of this task's spans, or undefined for a span from elsewhere. */
  parentIndex(spanId: string): number | undefined {
    return spanId === this.#taskSpanId ? -1 : this.#indexes.get(spanId);
  }

  add(spanId: string, record: MutableRecord): number {
    this.#indexes.set(spanId, this.records.length);
    this.records.push(record);
    return this.records.length - 1;
  }

  /** Every record, the ones still open ended now. */
  take(): SpanRecord[] {
    const now = monoNow();
    for (const record of this.records) if (Number.isNaN(record.end)) record.end = now;
    return this.records;
  }
}

/** A time the task's code gave (epoch ms, performance.now() ms, a Date, or epoch [seconds, nanoseconds]), or now, on the monotonic clock. */
function monoOf(time: TimeInput | undefined): number {
  if (time === undefined) return monoNow();
  let epoch: number;
  if (typeof time === 'number') epoch = time < performance.timeOrigin ? performance.timeOrigin + time : time;
  else if (time instanceof Date) epoch = time.getTime();
  else epoch = time[0] * 1000 + time[1] / 1e6;
  // This thread's wall clock, as it reads now, against the monotonic one.
  return epoch - (performance.timeOrigin + performance.now()) + monoNow();
}

const idBytes = Buffer.alloc(16);
function randomId(bytes: 8 | 16): string {
  randomFillSync(idBytes, 0, bytes);
  return idBytes.toString('hex', 0, bytes);
}

class RecordingSpan implements Span {
  readonly #context: SpanContext;
  readonly #record: MutableRecord;
  readonly #recording: TaskRecording;

  constructor(spanContext: SpanContext, record: MutableRecord, recording: TaskRecording) {
    this.#context = spanContext;
    this.#record = record;
    this.#recording = recording;
  }

  spanContext(): SpanContext {
    return this.#context;
  }

  setAttribute(key: string, value: SpanAttributeValue): this {
    if (this.isRecording() && value !== undefined && value !== null) this.#record.attributes[key] = value;
    return this;
  }

  setAttributes(attributes: SpanAttributes): this {
    for (const [key, value] of Object.entries(attributes)) if (value !== undefined) this.setAttribute(key, value);
    return this;
  }

  addEvent(name: string, attributesOrTime?: SpanAttributes | TimeInput, time?: TimeInput): this {
    if (!this.isRecording() || this.#record.events.length >= MAX_EVENTS) return this;
    const isTime = typeof attributesOrTime === 'number' || attributesOrTime instanceof Date || Array.isArray(attributesOrTime);
    const attributes = isTime || attributesOrTime === undefined ? undefined : clean(attributesOrTime as SpanAttributes);
    this.#record.events.push({ name, time: monoOf(isTime ? (attributesOrTime as TimeInput) : time), attributes });
    return this;
  }

  addLink(link: Link): this {
    if (!this.isRecording() || this.#record.links.length >= MAX_LINKS) return this;
    this.#record.links.push({
      context: plainContext(link.context),
      local: this.#recording.parentIndex(link.context.spanId) ?? -1,
      attributes: link.attributes ? clean(link.attributes) : undefined,
    });
    return this;
  }

  addLinks(links: Link[]): this {
    for (const link of links) this.addLink(link);
    return this;
  }

  setStatus(status: SpanStatus): this {
    if (this.isRecording()) this.#record.status = { code: status.code, ...(status.message === undefined ? {} : { message: status.message }) };
    return this;
  }

  updateName(name: string): this {
    if (this.isRecording()) this.#record.name = name;
    return this;
  }

  end(endTime?: TimeInput): void {
    if (this.isRecording()) this.#record.end = monoOf(endTime);
  }

  isRecording(): boolean {
    return Number.isNaN(this.#record.end);
  }

  recordException(exception: Exception, time?: TimeInput): void {
    const attributes: SpanAttributes = {};
    if (typeof exception === 'string') attributes['exception.message'] = exception;
    else {
      const type = exception.name ?? (exception.code === undefined ? undefined : String(exception.code));
      if (type !== undefined) attributes['exception.type'] = type;
      if (exception.message !== undefined) attributes['exception.message'] = exception.message;
      if (exception.stack !== undefined) attributes['exception.stacktrace'] = exception.stack;
    }
    this.addEvent('exception', attributes, time);
  }
}

/** Attributes without undefined values (they cannot be sent, and mean nothing). */
function clean(attributes: SpanAttributes): Attributes {
  const out: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) if (value !== undefined && value !== null) out[key] = value;
  return out;
}

class RecordingTracer implements Tracer {
  readonly #scope: string;
  readonly #version: string | undefined;

  constructor(scope: string, version: string | undefined) {
    this.#scope = scope;
    this.#version = version;
  }

  startSpan(name: string, options: SpanOptions = {}, ctx: Context = context.active()): Span {
    const recording = (ctx.getValue(RECORDING) ?? context.active().getValue(RECORDING)) as TaskRecording | undefined;
    const parent = options.root ? undefined : trace.getSpanContext(ctx);
    // Outside a traced task, under a parent the sampler left out, or past the limit: a span that records nothing.
    if (!recording || (parent && (parent.traceFlags & TraceFlags.SAMPLED) === 0)) return trace.wrapSpanContext(parent ?? INVALID_SPAN_CONTEXT);
    if (recording.records.length >= MAX_SPANS) {
      recording.dropped++;
      return trace.wrapSpanContext(parent ?? INVALID_SPAN_CONTEXT);
    }
    const local = parent ? recording.parentIndex(parent.spanId) : undefined;
    const record: MutableRecord = {
      scope: this.#scope,
      version: this.#version,
      name,
      kind: options.kind ?? SpanKind.INTERNAL,
      parent: local ?? -1,
      remoteParent: parent && local === undefined ? plainContext(parent) : undefined,
      root: parent === undefined,
      start: monoOf(options.startTime),
      end: Number.NaN,
      attributes: options.attributes ? clean(options.attributes) : {},
      events: [],
      links: [],
      status: { code: SpanStatusCode.UNSET },
    };
    const spanContext: SpanContext = {
      traceId: parent?.traceId ?? randomId(16),
      spanId: randomId(8),
      traceFlags: TraceFlags.SAMPLED,
      ...(parent?.traceState ? { traceState: parent.traceState } : {}),
    };
    recording.add(spanContext.spanId, record);
    const span = new RecordingSpan(spanContext, record, recording);
    if (options.links) span.addLinks(options.links);
    return span;
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, ctx: Context, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...rest: [F] | [SpanOptions, F] | [SpanOptions, Context, F]): ReturnType<F> {
    const fn = rest[rest.length - 1] as F;
    const options = rest.length > 1 ? (rest[0] as SpanOptions) : undefined;
    const parent = rest.length > 2 ? (rest[1] as Context) : context.active();
    const span = this.startSpan(name, options, parent);
    return context.with(trace.setSpan(parent, span), () => fn(span)) as ReturnType<F>;
  }
}

/** Registered as the global tracer provider in each worker thread (see entry.ts). */
export class RecordingTracerProvider implements TracerProvider {
  readonly #tracers = new Map<string, Tracer>();

  getTracer(name: string, version?: string): Tracer {
    const key = `${name}@${version ?? ''}`;
    let tracer = this.#tracers.get(key);
    if (!tracer) {
      tracer = new RecordingTracer(name, version);
      this.#tracers.set(key, tracer);
    }
    return tracer;
  }
}
