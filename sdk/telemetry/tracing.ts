// Spans from the event stream. A run is a span (the child of whatever span is
// active where it started: an HTTP handler's, or a sub-pipeline step's); each
// step attempt is a child span, made current for the step's own code; a stage
// batch is a span, and each item a span of its own trace linked to it, with
// its task attempts as children. Status changes that are not span boundaries
// become span events.

import {
  type Attributes,
  type Context,
  context,
  type Link,
  type Span,
  type SpanContext,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { ErrorInfo, SpanflowEvent, StepEndStatus } from '../events.ts';
import { cicdResultOf } from '../events.ts';
import { ATTR } from './attributes.ts';

export interface PayloadOptions {
  /** Put token contents on span events. Off by default: payloads stay out of telemetry. */
  readonly payloads?: boolean;
  /** Applied to every payload that goes into telemetry (when `payloads` is on). */
  readonly redact?: (value: unknown) => unknown;
}

interface Open {
  readonly span: Span;
  readonly context: Context;
}

const key = (...parts: (string | number | undefined)[]) => parts.join('\u0000');

function exception(span: Span, error: ErrorInfo): void {
  span.recordException({ name: error.type, message: error.message, ...(error.stack === undefined ? {} : { stack: error.stack }) });
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

function endStatus(span: Span, status: StepEndStatus | 'suspended', error: ErrorInfo | undefined): void {
  if (status === 'failed' || status === 'timed_out' || status === 'cancelled') {
    if (error) exception(span, error);
    else span.setStatus({ code: SpanStatusCode.ERROR, message: status });
    if (error) span.setAttribute(ATTR.ERROR_TYPE, error.type);
  }
}

export class Tracing {
  readonly #tracer: Tracer;
  readonly #options: PayloadOptions;
  readonly #runs = new Map<string, Open>();
  readonly #hooks = new Map<string, Span>();
  readonly #attempts = new Map<string, Open>();
  /** The last attempt span of each node, for the links of the barrier that waits on it. */
  readonly #last = new Map<string, SpanContext>();
  /** What a barrier waited for, between its release and its first attempt. */
  readonly #released = new Map<string, readonly string[]>();
  readonly #items = new Map<string, Open>();
  readonly #tasks = new Map<string, Open>();

  constructor(tracer: Tracer, options: PayloadOptions) {
    this.#tracer = tracer;
    this.#options = options;
  }

  /** The context a step attempt runs in: its own span current. */
  attemptContext(runId: string, node: string, index: number | undefined): Context | undefined {
    return this.#attempts.get(key(runId, node, index))?.context;
  }

  /** The context a stage task attempt runs in. */
  taskContext(runId: string, itemId: string): Context | undefined {
    return this.#tasks.get(key(runId, itemId))?.context;
  }

  readonly handle = (e: SpanflowEvent): void => {
    switch (e.type) {
      case 'run_queued': {
        // Started where run() was called: a caller's active span becomes the parent.
        const parent = context.active();
        const span = this.#tracer.startSpan(
          `pipeline ${e.pipeline}`,
          { attributes: { [ATTR.PIPELINE_NAME]: e.pipeline, [ATTR.RUN_ID]: e.runId, ...(e.parentRunId ? { [ATTR.PARENT_RUN_ID]: e.parentRunId } : {}) } },
          parent,
        );
        this.#runs.set(e.runId, { span, context: trace.setSpan(parent, span) });
        return;
      }
      case 'run_start':
        if (e.resumeFrom) this.#runs.get(e.runId)?.span.addEvent('spanflow.resumed', { [ATTR.TASK_NAME]: e.resumeFrom });
        return;
      case 'run_end': {
        const run = this.#runs.get(e.runId);
        if (!run) return;
        this.#runs.delete(e.runId);
        run.span.setAttribute(ATTR.RESULT, cicdResultOf(e.status));
        if (e.suspended) run.span.addEvent('spanflow.suspended', { [ATTR.TASK_NAME]: e.suspended.node });
        if (e.items) run.span.setAttributes({ 'spanflow.items.completed': e.items.completed, 'spanflow.items.failed': e.items.failed, 'spanflow.items.skipped': e.items.skipped });
        if (e.status === 'failed' || e.status === 'timed_out' || e.status === 'cancelled') {
          if (e.error) exception(run.span, e.error);
          else run.span.setStatus({ code: SpanStatusCode.ERROR, message: e.status });
          if (e.error) run.span.setAttribute(ATTR.ERROR_TYPE, e.error.type);
        }
        run.span.end();
        return;
      }
      case 'hook_start': {
        const run = this.#runs.get(e.runId);
        if (!run) return;
        const span = this.#tracer.startSpan(`hook ${e.hook}`, { attributes: { [ATTR.HOOK_PHASE]: e.phase, [ATTR.PIPELINE_NAME]: e.pipeline } }, run.context);
        this.#hooks.set(key(e.runId, e.hook, e.phase), span);
        return;
      }
      case 'hook_end': {
        const k = key(e.runId, e.hook, e.phase);
        const span = this.#hooks.get(k);
        if (!span) return;
        this.#hooks.delete(k);
        if (e.status === 'failed' && e.error) {
          exception(span, e.error);
          span.setAttribute(ATTR.ERROR_TYPE, e.error.type);
        }
        span.end();
        return;
      }
      case 'step_queued':
        // Map items are not queued events: a map of 100,000 would bury its span.
        if (e.index === undefined) this.#runs.get(e.runId)?.span.addEvent('spanflow.queued', { [ATTR.TASK_NAME]: e.node });
        return;
      case 'step_start': {
        const run = this.#runs.get(e.runId);
        if (!run) return;
        // A map worker's attempt runs inside its map's attempt: that span is the active one.
        const parent = e.index === undefined ? run.context : context.active();
        const waited = this.#released.get(key(e.runId, e.node));
        let links: Link[] | undefined;
        if (waited) {
          links = [];
          for (const from of waited) {
            const spanContext = this.#last.get(key(e.runId, from));
            if (spanContext) links.push({ context: spanContext, attributes: { [ATTR.TASK_NAME]: from } });
          }
        }
        const attributes: Attributes = {
          [ATTR.PIPELINE_NAME]: e.pipeline,
          [ATTR.RUN_ID]: e.runId,
          [ATTR.TASK_NAME]: e.node,
          [ATTR.TASK_RUN_ID]: `${e.runId}/${e.node}${e.index === undefined ? '' : `[${e.index}]`}/${e.attempt}`,
          [ATTR.NODE_KIND]: e.nodeKind,
          [ATTR.ATTEMPT]: e.attempt,
        };
        if (e.index !== undefined) attributes[ATTR.MAP_INDEX] = e.index;
        const span = this.#tracer.startSpan(`step ${e.node}`, { attributes, ...(links ? { links } : {}) }, parent);
        this.#attempts.set(key(e.runId, e.node, e.index), { span, context: trace.setSpan(parent, span) });
        return;
      }
      case 'step_retry': {
        const k = key(e.runId, e.node, e.index);
        const open = this.#attempts.get(k);
        if (!open) return;
        this.#attempts.delete(k);
        open.span.addEvent('spanflow.retrying', { [ATTR.ATTEMPT]: e.attempt, [ATTR.ERROR_TYPE]: e.error.type, 'spanflow.retry.delay_ms': e.delayMs });
        open.span.setAttribute(ATTR.TASK_RESULT, 'failure');
        exception(open.span, e.error);
        open.span.setAttribute(ATTR.ERROR_TYPE, e.error.type);
        open.span.end();
        return;
      }
      case 'step_end': {
        const k = key(e.runId, e.node, e.index);
        const open = this.#attempts.get(k);
        if (!open) {
          // Never ran (a branch not taken, a barrier that timed out, cancelled before it began).
          this.#runs.get(e.runId)?.span.addEvent(`spanflow.step.${e.status}`, { [ATTR.TASK_NAME]: e.node });
          return;
        }
        this.#attempts.delete(k);
        this.#released.delete(key(e.runId, e.node));
        this.#last.set(key(e.runId, e.node), open.span.spanContext());
        open.span.setAttribute(ATTR.TASK_RESULT, cicdResultOf(e.status));
        endStatus(open.span, e.status, e.error);
        open.span.end();
        return;
      }
      case 'token': {
        const open = this.#attempts.get(key(e.runId, e.node, e.index));
        if (!open) return;
        const attributes: Attributes = { [ATTR.TOKEN_COUNT]: e.tokenIndex + 1 };
        if (this.#options.payloads) attributes[ATTR.TOKEN] = this.#payload(e.token);
        open.span.addEvent('spanflow.token', attributes);
        return;
      }
      case 'barrier_wait':
        this.#runs.get(e.runId)?.span.addEvent('spanflow.barrier.wait', {
          [ATTR.TASK_NAME]: e.node,
          'spanflow.barrier.arrived': [...e.arrived],
          'spanflow.barrier.waiting_for': [...e.waitingFor],
        });
        return;
      case 'barrier_release':
        this.#released.set(key(e.runId, e.node), e.arrived);
        this.#runs.get(e.runId)?.span.addEvent('spanflow.barrier.release', {
          [ATTR.TASK_NAME]: e.node,
          'spanflow.barrier.arrived': [...e.arrived],
          'spanflow.barrier.waited_ms': e.waitedMs,
        });
        return;
      case 'route':
        this.#attempts.get(key(e.runId, e.node, undefined))?.span.addEvent('spanflow.route', {
          [ATTR.ROUTE]: e.route,
          'spanflow.route.targets': [...e.targets],
        });
        return;
      case 'map_start':
      case 'map_end':
        this.#attempts.get(key(e.runId, e.node, undefined))?.span.addEvent(`spanflow.${e.type}`, {
          'spanflow.map.worker': e.worker,
          ...(e.type === 'map_end' ? { 'spanflow.map.items': e.items, 'spanflow.map.peak_workers': e.peakWorkers } : {}),
        });
        return;
      case 'item_status':
        this.#item(e);
        return;
      case 'task_start': {
        const item = this.#items.get(key(e.runId, e.itemId));
        if (!item) return;
        // An item the sampler left out gets no task spans: its context still carries the trace for user code.
        if (!item.span.isRecording()) {
          this.#tasks.set(key(e.runId, e.itemId), item);
          return;
        }
        const span = this.#tracer.startSpan(
          `task ${e.stage}/${e.task}`,
          {
            attributes: {
              [ATTR.PIPELINE_NAME]: e.pipeline,
              [ATTR.TASK_NAME]: `${e.stage}/${e.task}`,
              [ATTR.NODE_KIND]: 'task',
              [ATTR.STAGE]: e.stage,
              [ATTR.WORKER]: e.worker,
              [ATTR.ATTEMPT]: e.attempt,
              [ATTR.ITEM_ID]: e.itemId,
            },
          },
          item.context,
        );
        this.#tasks.set(key(e.runId, e.itemId), { span, context: trace.setSpan(item.context, span) });
        return;
      }
      case 'task_retry':
      case 'task_end': {
        const k = key(e.runId, e.itemId);
        const open = this.#tasks.get(k);
        if (!open) return;
        this.#tasks.delete(k);
        if (!open.span.isRecording()) return;
        if (e.type === 'task_retry') {
          open.span.addEvent('spanflow.retrying', { [ATTR.ATTEMPT]: e.attempt, [ATTR.ERROR_TYPE]: e.error.type, 'spanflow.retry.delay_ms': e.delayMs });
          open.span.setAttribute(ATTR.TASK_RESULT, 'failure');
          exception(open.span, e.error);
          open.span.setAttribute(ATTR.ERROR_TYPE, e.error.type);
        } else {
          open.span.setAttribute(ATTR.TASK_RESULT, cicdResultOf(e.status));
          endStatus(open.span, e.status, e.error);
        }
        open.span.end();
        return;
      }
      case 'task_status':
        this.#tasks.get(key(e.runId, e.itemId))?.span.addEvent('spanflow.task.status', { 'spanflow.task.status': e.text });
        return;
      case 'worker_state':
        return;
    }
  };

  #item(e: Extract<SpanflowEvent, { type: 'item_status' }>): void {
    const k = key(e.runId, e.itemId);
    let item = this.#items.get(k);
    if (!item) {
      // Each item is a trace of its own, linked to its batch: a million items are not one trace.
      const batch = this.#runs.get(e.runId);
      const span = this.#tracer.startSpan(`item ${e.pipeline}`, {
        root: true,
        attributes: { [ATTR.PIPELINE_NAME]: e.pipeline, [ATTR.RUN_ID]: e.runId, [ATTR.ITEM_ID]: e.itemId },
        ...(batch ? { links: [{ context: batch.span.spanContext() }] } : {}),
      });
      item = { span, context: trace.setSpan(context.active(), span) };
      this.#items.set(k, item);
    }
    if (e.status === 'completed' || e.status === 'failed' || e.status === 'skipped') {
      this.#items.delete(k);
      if (!item.span.isRecording()) {
        item.span.end();
        return;
      }
      item.span.setAttributes({ [ATTR.ITEM_STATUS]: e.status, [ATTR.STAGE]: e.stage });
      if (e.status === 'failed') {
        if (e.error) {
          exception(item.span, e.error);
          item.span.setAttribute(ATTR.ERROR_TYPE, e.error.type);
        } else item.span.setStatus({ code: SpanStatusCode.ERROR });
      }
      item.span.end();
      return;
    }
    if (item.span.isRecording()) item.span.addEvent(`spanflow.${e.status}`, { [ATTR.STAGE]: e.stage, [ATTR.ATTEMPT]: e.attempt });
  }

  #payload(value: unknown): string {
    const shown = this.#options.redact ? this.#options.redact(value) : value;
    return typeof shown === 'string' ? shown : JSON.stringify(shown) ?? String(shown);
  }
}
