// The telemetry of one stage item, called by its batch at each lifecycle step
// rather than fed events: a million items must cost next to nothing when the
// sampler leaves them out. An item the sampler keeps is a span of its own
// trace (linked to its batch) with its task attempts as child spans, and its
// attempts' durations go to the step duration histogram.

import { type Context, context, type Span, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';
import { attemptError, toErrorInfo } from '../errors.ts';
import type { ItemStatus, StepEndStatus } from '../events.ts';
import { cicdResultOf } from '../events.ts';
import { ATTR } from './attributes.ts';
import type { Metering } from './metrics.ts';
import { endStatus, exception } from './status.ts';

type FinalStatus = Extract<ItemStatus, 'completed' | 'failed' | 'skipped'>;

/** Where an item's telemetry goes: the batch's pipeline and, with a meter, its duration histogram. */
export interface ItemSink {
  readonly pipeline: string;
  readonly metering: Metering | undefined;
}

/**
 * An item's telemetry. This base records only task durations: for an item with
 * no span (no tracer registered, or `durations: 'all'` for items the
 * sampler left out). It is stateless, so one serves a whole batch.
 */
export class ItemTelemetry {
  readonly #sink: ItemSink;

  constructor(sink: ItemSink) {
    this.#sink = sink;
  }

  status(_stage: string, _status: Exclude<ItemStatus, FinalStatus>, _attempt: number): void {}
  taskStart(_task: string, _stage: string, _worker: number, _attempt: number): void {}
  taskStatus(_text: string): void {}
  within<R>(call: () => R): R {
    return call();
  }
  end(_status: FinalStatus, _stage: string, _error: unknown): void {}

  taskRetry(task: string, _attempt: number, _error: unknown, _delayMs: number, durationMs: number): void {
    this.#sink.metering?.taskDuration(this.#sink.pipeline, task, durationMs);
  }

  taskEnd(task: string, _status: StepEndStatus, durationMs: number, _error: unknown): void {
    this.#sink.metering?.taskDuration(this.#sink.pipeline, task, durationMs);
  }
}

/** An item the sampler kept: its span, its current task attempt's span, and its durations. */
export class ItemTrace extends ItemTelemetry {
  readonly #tracer: Tracer;
  readonly #sink: ItemSink;
  readonly #span: Span;
  readonly #context: Context;
  readonly #itemId: string;
  #task: Span | undefined;
  #taskContext: Context | undefined;

  constructor(tracer: Tracer, sink: ItemSink, span: Span, root: Context, itemId: string) {
    super(sink);
    this.#tracer = tracer;
    this.#sink = sink;
    this.#span = span;
    this.#context = trace.setSpan(root, span);
    this.#itemId = itemId;
  }

  override status(stage: string, status: Exclude<ItemStatus, FinalStatus>, attempt: number): void {
    this.#span.addEvent(`spanflow.${status}`, { [ATTR.STAGE]: stage, [ATTR.ATTEMPT]: attempt });
  }

  override taskStart(task: string, stage: string, worker: number, attempt: number): void {
    // Attributes are set after the start (the SDK checks them once rather than twice): a task span's
    // sampling follows its item's, and its name carries the task's.
    const span = this.#tracer.startSpan(`task ${task}`, undefined, this.#context);
    span.setAttributes({
      [ATTR.PIPELINE_NAME]: this.#sink.pipeline,
      [ATTR.TASK_NAME]: task,
      [ATTR.NODE_KIND]: 'task',
      [ATTR.STAGE]: stage,
      [ATTR.WORKER]: worker,
      [ATTR.ATTEMPT]: attempt,
      [ATTR.ITEM_ID]: this.#itemId,
    });
    this.#task = span;
    this.#taskContext = trace.setSpan(this.#context, span);
  }

  /** Runs a task attempt with its span current, so the task's own spans nest under it. */
  override within<R>(call: () => R): R {
    return context.with(this.#taskContext ?? this.#context, call);
  }

  override taskStatus(text: string): void {
    this.#task?.addEvent('spanflow.task.status', { 'spanflow.task.status': text });
  }

  override taskRetry(task: string, attempt: number, error: unknown, delayMs: number, durationMs: number): void {
    super.taskRetry(task, attempt, error, delayMs, durationMs);
    const span = this.#closeTask();
    if (!span) return;
    const info = toErrorInfo(error);
    span.addEvent('spanflow.retrying', { [ATTR.ATTEMPT]: attempt, [ATTR.ERROR_TYPE]: info.type, 'spanflow.retry.delay_ms': delayMs });
    span.setAttribute(ATTR.TASK_RESULT, 'failure');
    exception(span, info);
    span.setAttribute(ATTR.ERROR_TYPE, info.type);
    span.end();
  }

  override taskEnd(task: string, status: StepEndStatus, durationMs: number, error: unknown): void {
    super.taskEnd(task, status, durationMs, error);
    const span = this.#closeTask();
    if (!span) return;
    span.setAttribute(ATTR.TASK_RESULT, cicdResultOf(status));
    endStatus(span, status, attemptError(status, error));
    span.end();
  }

  override end(status: FinalStatus, stage: string, error: unknown): void {
    const span = this.#span;
    span.setAttributes({ [ATTR.ITEM_STATUS]: status, [ATTR.STAGE]: stage });
    if (status === 'failed') {
      if (error === undefined) span.setStatus({ code: SpanStatusCode.ERROR });
      else {
        const info = toErrorInfo(error);
        exception(span, info);
        span.setAttribute(ATTR.ERROR_TYPE, info.type);
      }
    }
    span.end();
  }

  #closeTask(): Span | undefined {
    const span = this.#task;
    this.#task = undefined;
    this.#taskContext = undefined;
    return span;
  }
}
