// Trace context across the thread boundary, main thread side: a span for each
// pool task (a child of whatever span is active where the task was called: a
// graph step's attempt, a stage task's), its context sent to the worker in a
// W3C carrier, and the spans the worker's code made there made again under it
// once the reply is back (see recording.ts for how they are recorded, and the
// limits). All through @opentelemetry/api: the main thread's SDK, if any,
// exports them.

import {
  type Attributes,
  type Context,
  context,
  defaultTextMapSetter,
  type Link,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { ATTR, currentTracer, failSpan, w3cPropagator } from '../sdk/index.ts';
import { monoNow, type SpanRecord, spanContextOf } from './protocol.ts';

/** The task span's attributes, besides the pool's name. */
export const WORKER_ATTR = {
  EXPORT: 'spanflow.worker.export',
  MODULE: 'spanflow.worker.module',
  THREAD_ID: 'spanflow.worker.thread_id',
  WAIT_MS: 'spanflow.pool.wait_ms',
  RUN_MS: 'spanflow.pool.run_ms',
  SPANS_DROPPED: 'spanflow.worker.spans_dropped',
} as const;

/** An open task span, and the carrier that takes its context to the worker. */
export interface TaskSpan {
  readonly span: Span;
  readonly context: Context;
  readonly carrier: Record<string, string>;
}

/** What names a task on its span. */
export interface TaskLabel {
  readonly exportName: string;
  readonly modulePath: string;
  readonly pool: string;
}

/**
 * Where a task's times go on its spans: the wall clock read once, when the
 * task is submitted, plus the monotonic time since — the way the SDK times
 * its own spans, so the task span sits in its parent step's span as the
 * SDK's spans sit in theirs, and the worker's spans (timed on the same
 * monotonic clock, whatever thread) sit exactly in the task span.
 */
export class Timeline {
  /** When the task was submitted, on the monotonic clock. */
  readonly submitted = monoNow();
  readonly #epoch = Date.now();

  /** Epoch ms of a monotonic time. */
  epochOf(mono: number): number {
    return this.#epoch + (mono - this.submitted);
  }
}

/** Starts the task's span under the active context; undefined when nothing records it (no SDK, or not sampled). */
export function startTaskSpan(label: TaskLabel, timeline: Timeline): TaskSpan | undefined {
  const tracer = currentTracer();
  if (!tracer) return undefined;
  const parent = context.active();
  const span = tracer.startSpan(`worker ${label.exportName}`, { kind: SpanKind.INTERNAL, startTime: timeline.epochOf(timeline.submitted) }, parent);
  if (!span.isRecording()) return undefined;
  span.setAttributes({ [ATTR.POOL_NAME]: label.pool, [WORKER_ATTR.EXPORT]: label.exportName, [WORKER_ATTR.MODULE]: label.modulePath });
  const ctx = trace.setSpan(parent, span);
  const carrier: Record<string, string> = {};
  w3cPropagator('spanflow/workers').inject(ctx, carrier, defaultTextMapSetter);
  return { span, context: ctx, carrier };
}

/** Ends the task's span: its timings, the worker's spans under it, and the error if it failed. */
export function endTaskSpan(
  open: TaskSpan,
  timeline: Timeline,
  timing: { readonly waitMs: number | undefined; readonly runMs: number | undefined; readonly threadId: number | undefined },
  spans: readonly SpanRecord[] | undefined,
  droppedSpans: number,
  error: unknown,
): void {
  const { span } = open;
  const attributes: Attributes = {};
  if (timing.waitMs !== undefined) attributes[WORKER_ATTR.WAIT_MS] = Math.max(0, timing.waitMs);
  if (timing.runMs !== undefined) attributes[WORKER_ATTR.RUN_MS] = Math.max(0, timing.runMs);
  if (timing.threadId !== undefined) attributes[WORKER_ATTR.THREAD_ID] = timing.threadId;
  if (droppedSpans > 0) attributes[WORKER_ATTR.SPANS_DROPPED] = droppedSpans;
  span.setAttributes(attributes);
  if (spans) replay(open.context, timeline, spans);
  if (error !== undefined) failSpan(span, error);
  span.end(timeline.epochOf(monoNow()));
}

/**
 * Makes the worker's spans again, under the task span (or under the parent
 * their code gave them), with their own times, in start order,
 * so each parent exists before its children.
 */
function replay(taskContext: Context, timeline: Timeline, records: readonly SpanRecord[]): void {
  const contexts: Context[] = [];
  const made: Span[] = [];
  for (const record of records) {
    const parent = record.root
      ? trace.deleteSpan(taskContext)
      : record.remoteParent
        ? trace.setSpanContext(taskContext, spanContextOf(record.remoteParent))
        : (contexts[record.parent] ?? taskContext);
    const links: Link[] = record.links.map((link) => ({
      context: made[link.local]?.spanContext() ?? spanContextOf(link.context),
      ...(link.attributes ? { attributes: link.attributes } : {}),
    }));
    const tracer = trace.getTracer(record.scope, record.version);
    const span = tracer.startSpan(
      record.name,
      { kind: record.kind, attributes: record.attributes, links, startTime: timeline.epochOf(record.start), ...(record.root ? { root: true } : {}) },
      parent,
    );
    for (const event of record.events) span.addEvent(event.name, event.attributes, timeline.epochOf(event.time));
    if (record.status.code !== SpanStatusCode.UNSET) span.setStatus(record.status);
    span.end(timeline.epochOf(record.end));
    contexts.push(trace.setSpan(parent, span));
    made.push(span);
  }
}
