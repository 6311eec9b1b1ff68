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

/** One run's spans, looked up by node or item id: no composite keys built per event. */
interface RunRecord extends Open {
  /** False when the sampler left this run out: its steps get no spans of their own. */
  readonly recording: boolean;
  readonly attempts: Map<string, Open>;
  /** Map worker attempts: node -> item index -> span. Made when a map first runs. */
  indexed?: Map<string, Map<number, Open>>;
  hooks?: Map<string, Span>;
  /** The last attempt span of each node, for the links of a barrier that waits on it. */
  readonly last: Map<string, SpanContext>;
  /** What a barrier waited for, between its release and its first attempt. */
  released?: Map<string, readonly string[]>;
  /** Stage items, with their current task attempt. Made for a batch only. */
  items?: Map<string, Open & { task?: Open | undefined }>;
}

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
  readonly #runs = new Map<string, RunRecord>();
  /** The run looked up last: events come in long runs of one run id. */
  #cachedId = '';
  #cached: RunRecord | undefined;

  constructor(tracer: Tracer, options: PayloadOptions) {
    this.#tracer = tracer;
    this.#options = options;
  }

  /** The context a run's scheduler and hooks run in: its span current. */
  runContext(runId: string): Context | undefined {
    return this.#run(runId)?.context;
  }

  /** The context a step attempt runs in: its own span current. */
  attemptContext(runId: string, node: string, index: number | undefined): Context | undefined {
    const run = this.#run(runId);
    return run && this.#attempt(run, node, index)?.context;
  }

  /** The context a stage task attempt runs in. */
  taskContext(runId: string, itemId: string): Context | undefined {
    return this.#run(runId)?.items?.get(itemId)?.task?.context;
  }

  #run(runId: string): RunRecord | undefined {
    if (runId !== this.#cachedId) {
      this.#cachedId = runId;
      this.#cached = this.#runs.get(runId);
    }
    return this.#cached;
  }

  #attempt(run: RunRecord, node: string, index: number | undefined): Open | undefined {
    return index === undefined ? run.attempts.get(node) : run.indexed?.get(node)?.get(index);
  }

  #setAttempt(run: RunRecord, node: string, index: number | undefined, open: Open | undefined): void {
    if (index === undefined) {
      if (open) run.attempts.set(node, open);
      else run.attempts.delete(node);
      return;
    }
    run.indexed ??= new Map();
    let byIndex = run.indexed.get(node);
    if (!byIndex) {
      byIndex = new Map();
      run.indexed.set(node, byIndex);
    }
    if (open) byIndex.set(index, open);
    else byIndex.delete(index);
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
        this.#runs.set(e.runId, {
          span,
          context: trace.setSpan(parent, span),
          recording: span.isRecording(),
          attempts: new Map(),
          last: new Map(),
        });
        this.#cachedId = '';
        return;
      }
      case 'run_start':
        if (e.resumeFrom) this.#run(e.runId)?.span.addEvent('spanflow.resumed', { [ATTR.TASK_NAME]: e.resumeFrom });
        return;
      case 'run_end': {
        const run = this.#run(e.runId);
        if (!run) return;
        this.#runs.delete(e.runId);
        this.#cachedId = '';
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
        const run = this.#run(e.runId);
        if (!run) return;
        const span = this.#tracer.startSpan(`hook ${e.hook}`, { attributes: { [ATTR.HOOK_PHASE]: e.phase, [ATTR.PIPELINE_NAME]: e.pipeline } }, run.context);
        run.hooks ??= new Map();
        run.hooks.set(`${e.phase} ${e.hook}`, span);
        return;
      }
      case 'hook_end': {
        const run = this.#run(e.runId);
        const span = run?.hooks?.get(`${e.phase} ${e.hook}`);
        if (!run || !span) return;
        run.hooks?.delete(`${e.phase} ${e.hook}`);
        if (e.status === 'failed' && e.error) {
          exception(span, e.error);
          span.setAttribute(ATTR.ERROR_TYPE, e.error.type);
        }
        span.end();
        return;
      }
      case 'step_queued':
        // Map items are not queued events: a map of 100,000 would bury its span.
        if (e.index === undefined) {
          const run = this.#run(e.runId);
          if (run?.recording) run.span.addEvent('spanflow.queued', { [ATTR.TASK_NAME]: e.node });
        }
        return;
      case 'step_start': {
        const run = this.#run(e.runId);
        if (!run) return;
        // A run the sampler left out: its steps run in its context, with no spans of their own.
        if (!run.recording) {
          this.#setAttempt(run, e.node, e.index, run);
          return;
        }
        // A map worker's attempt runs inside its map's attempt: that span is the active one.
        const parent = e.index === undefined ? run.context : context.active();
        const waited = run.released?.get(e.node);
        let links: Link[] | undefined;
        if (waited) {
          links = [];
          for (const from of waited) {
            const spanContext = run.last.get(from);
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
        this.#setAttempt(run, e.node, e.index, { span, context: trace.setSpan(parent, span) });
        return;
      }
      case 'step_retry': {
        const run = this.#run(e.runId);
        const open = run && this.#attempt(run, e.node, e.index);
        if (!run || !open) return;
        this.#setAttempt(run, e.node, e.index, undefined);
        if (open === run) return;
        open.span.addEvent('spanflow.retrying', { [ATTR.ATTEMPT]: e.attempt, [ATTR.ERROR_TYPE]: e.error.type, 'spanflow.retry.delay_ms': e.delayMs });
        open.span.setAttribute(ATTR.TASK_RESULT, 'failure');
        exception(open.span, e.error);
        open.span.setAttribute(ATTR.ERROR_TYPE, e.error.type);
        open.span.end();
        return;
      }
      case 'step_end': {
        const run = this.#run(e.runId);
        if (!run) return;
        const open = this.#attempt(run, e.node, e.index);
        if (!open) {
          // Never ran (a branch not taken, a barrier that timed out, cancelled before it began).
          if (run.recording) run.span.addEvent(`spanflow.step.${e.status}`, { [ATTR.TASK_NAME]: e.node });
          return;
        }
        this.#setAttempt(run, e.node, e.index, undefined);
        if (open === run) return;
        run.released?.delete(e.node);
        run.last.set(e.node, open.span.spanContext());
        open.span.setAttribute(ATTR.TASK_RESULT, cicdResultOf(e.status));
        endStatus(open.span, e.status, e.error);
        open.span.end();
        return;
      }
      case 'token': {
        const run = this.#run(e.runId);
        const open = run && this.#attempt(run, e.node, e.index);
        if (!open || open === run) return;
        const attributes: Attributes = { [ATTR.TOKEN_COUNT]: e.tokenIndex + 1 };
        if (this.#options.payloads) {
          const content = this.#payload(e.token);
          if (content !== undefined) attributes[ATTR.TOKEN] = content;
        }
        open.span.addEvent('spanflow.token', attributes);
        return;
      }
      case 'barrier_wait':
        if (!this.#run(e.runId)?.recording) return;
        this.#run(e.runId)?.span.addEvent('spanflow.barrier.wait', {
          [ATTR.TASK_NAME]: e.node,
          'spanflow.barrier.arrived': [...e.arrived],
          'spanflow.barrier.waiting_for': [...e.waitingFor],
        });
        return;
      case 'barrier_release': {
        const run = this.#run(e.runId);
        if (!run?.recording) return;
        run.released ??= new Map();
        run.released.set(e.node, e.arrived);
        run.span.addEvent('spanflow.barrier.release', {
          [ATTR.TASK_NAME]: e.node,
          'spanflow.barrier.arrived': [...e.arrived],
          'spanflow.barrier.waited_ms': e.waitedMs,
        });
        return;
      }
      case 'route':
        if (!this.#run(e.runId)?.recording) return;
        this.#run(e.runId)?.attempts.get(e.node)?.span.addEvent('spanflow.route', {
          [ATTR.ROUTE]: e.route,
          'spanflow.route.targets': [...e.targets],
        });
        return;
      case 'map_start':
      case 'map_end':
        if (!this.#run(e.runId)?.recording) return;
        this.#run(e.runId)?.attempts.get(e.node)?.span.addEvent(`spanflow.${e.type}`, {
          'spanflow.map.worker': e.worker,
          ...(e.type === 'map_end' ? { 'spanflow.map.items': e.items, 'spanflow.map.peak_workers': e.peakWorkers } : {}),
        });
        return;
      case 'item_status':
        this.#item(e);
        return;
      case 'task_start': {
        const item = this.#run(e.runId)?.items?.get(e.itemId);
        if (!item) return;
        // An item the sampler left out gets no task spans: its context still carries the trace for user code.
        if (!item.span.isRecording()) {
          item.task = item;
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
        item.task = { span, context: trace.setSpan(item.context, span) };
        return;
      }
      case 'task_retry':
      case 'task_end': {
        const item = this.#run(e.runId)?.items?.get(e.itemId);
        const open = item?.task;
        if (!item || !open) return;
        item.task = undefined;
        if (open === item) return;
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
        this.#run(e.runId)?.items?.get(e.itemId)?.task?.span.addEvent('spanflow.task.status', { 'spanflow.task.status': e.text });
        return;
      case 'worker_state':
        return;
    }
  };

  #item(e: Extract<SpanflowEvent, { type: 'item_status' }>): void {
    const batch = this.#run(e.runId);
    if (!batch) return;
    batch.items ??= new Map();
    let item = batch.items.get(e.itemId);
    if (!item) {
      // Each item is a trace of its own, linked to its batch: a million items are not one trace.
      const span = this.#tracer.startSpan(`item ${e.pipeline}`, {
        root: true,
        attributes: { [ATTR.PIPELINE_NAME]: e.pipeline, [ATTR.RUN_ID]: e.runId, [ATTR.ITEM_ID]: e.itemId },
        links: [{ context: batch.span.spanContext() }],
      });
      item = { span, context: trace.setSpan(context.active(), span) };
      batch.items.set(e.itemId, item);
    }
    if (e.status === 'completed' || e.status === 'failed' || e.status === 'skipped') {
      batch.items.delete(e.itemId);
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

  /** The content to show, or undefined when redact or serializing throws: the event goes out without it. */
  #payload(value: unknown): string | undefined {
    try {
      const shown = this.#options.redact ? this.#options.redact(value) : value;
      return typeof shown === 'string' ? shown : JSON.stringify(shown) ?? String(shown);
    } catch {
      return undefined;
    }
  }
}
