// Spans from the event stream. A run is a span (the child of whatever span is
// active where it started: an HTTP handler's, or a sub-pipeline step's); each
// step attempt is a child span, made current for the step's own code; a stage
// batch is a span (its items' spans are made in items.ts). Status changes that
// are not span boundaries become span events.

import {
  type Attributes,
  type Context,
  context,
  type Link,
  type Span,
  type SpanContext,
  SpanStatusCode,
  type Tracer,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import { attemptError, toErrorInfo } from '../errors.ts';
import type { HookPhase, NodeKind, SpanflowEvent, StepEndStatus } from '../events.ts';
import { cicdResultOf } from '../events.ts';
import { ATTR } from './attributes.ts';
import { type ItemSink, ItemTrace } from './items.ts';
import { endStatus, exception } from './status.ts';

export interface PayloadOptions {
  /** Put token contents on span events. Off by default: payloads stay out of telemetry. */
  readonly payloads?: boolean;
  /** Applied to every payload that goes into telemetry (when `payloads` is on). */
  readonly redact?: (value: unknown) => unknown;
}

/** An open span and the context it is current in. */
export interface Open {
  readonly span: Span;
  readonly context: Context;
}

/** Which step an attempt is of: made once per step (or map item) by its run. */
export interface StepRef {
  readonly runId: string;
  readonly pipeline: string;
  readonly node: string;
  readonly kind: NodeKind;
  /** The item's position, for a map worker. */
  readonly index: number | undefined;
  /** The step's definition, the same object in every run of its pipeline: metrics key what they keep per step by it. */
  readonly def?: object;
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
  /** For a batch's item spans, made at the first: the batch's context without its span, and the link to the batch. */
  itemRoot?: { readonly context: Context; readonly links: Link[]; readonly name: string };
  /** What a barrier waited for, between its release and its first attempt. */
  released?: Map<string, readonly string[]>;
}

/** The step maps of every run the sampler left out (no step of theirs gets a span, so nothing is put in them). */
const NO_ATTEMPTS: Map<string, Open> = new Map();
const NO_LAST: Map<string, SpanContext> = new Map();

export class Tracing {
  readonly #tracer: Tracer;
  readonly #options: PayloadOptions;
  readonly #runs = new Map<string, RunRecord>();
  /** Told when the first run of the tree starts or stops being recorded, or the last. */
  onRecording: ((recording: boolean) => void) | undefined;
  /** Runs open now that the sampler kept. */
  #recording = 0;
  /** What onRecording was last told (every event is taken until the first run says otherwise). */
  #told = true;
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

  /** The context a hook runs in: its span current (while it runs). */
  hookContext(runId: string, phase: HookPhase, hook: string): Context | undefined {
    const span = this.#run(runId)?.hooks?.get(`${phase} ${hook}`);
    return span && trace.setSpan(context.active(), span);
  }

  /** The context a step attempt runs in: its own span current. */
  attemptContext(runId: string, node: string, index: number | undefined): Context | undefined {
    const run = this.#run(runId);
    return run && this.#attempt(run, node, index)?.context;
  }

  /** A step is ready to run: an event on its run's span (not for map items: a map of 100,000 would bury it). */
  stepQueued(runId: string, node: string): void {
    const run = this.#run(runId);
    if (run?.recording) run.span.addEvent('spanflow.queued', { [ATTR.TASK_NAME]: node });
  }

  /**
   * A step attempt started: its span, current while the step's code runs.
   * Undefined when its run is not recorded: its steps get no spans of their own.
   */
  startAttempt(step: StepRef, attempt: number): Open | undefined {
    const run = this.#run(step.runId);
    if (!run?.recording) return undefined;
    const { node, index } = step;
    // A map worker's attempt runs inside its map's attempt: that span is the active one.
    const parent = index === undefined ? run.context : context.active();
    const waited = run.released?.get(node);
    let links: Link[] | undefined;
    if (waited) {
      links = [];
      for (const from of waited) {
        const spanContext = run.last.get(from);
        if (spanContext) links.push({ context: spanContext, attributes: { [ATTR.TASK_NAME]: from } });
      }
    }
    // Attributes are set after the start (the SDK checks them once rather than twice): a step span's
    // sampling follows its run's, and its name carries the step's.
    const span = this.#tracer.startSpan(`step ${node}`, links ? { links } : undefined, parent);
    span.setAttributes({
      [ATTR.PIPELINE_NAME]: step.pipeline,
      [ATTR.RUN_ID]: step.runId,
      [ATTR.TASK_NAME]: node,
      [ATTR.TASK_RUN_ID]: `${step.runId}/${node}${index === undefined ? '' : `[${index}]`}/${attempt}`,
      [ATTR.NODE_KIND]: step.kind,
      [ATTR.ATTEMPT]: attempt,
    });
    if (index !== undefined) span.setAttribute(ATTR.MAP_INDEX, index);
    const open = { span, context: trace.setSpan(parent, span) };
    this.#setAttempt(run, node, index, open);
    return open;
  }

  /** The attempt failed and another follows: its span ends as a failure. */
  retryAttempt(step: StepRef, open: Open, attempt: number, error: unknown, delayMs: number): void {
    const run = this.#run(step.runId);
    if (run) this.#setAttempt(run, step.node, step.index, undefined);
    const info = toErrorInfo(error);
    open.span.addEvent('spanflow.retrying', { [ATTR.ATTEMPT]: attempt, [ATTR.ERROR_TYPE]: info.type, 'spanflow.retry.delay_ms': delayMs });
    open.span.setAttribute(ATTR.TASK_RESULT, 'failure');
    exception(open.span, info);
    open.span.setAttribute(ATTR.ERROR_TYPE, info.type);
    open.span.end();
  }

  /**
   * A step ended: its last attempt's span ends with the step's result. A step
   * that never ran (a branch not taken, a barrier that timed out, cancelled
   * before it began) is an event on its run's span instead.
   */
  endAttempt(step: StepRef, open: Open | undefined, status: StepEndStatus, error: unknown): void {
    const run = this.#run(step.runId);
    if (!open) {
      if (run?.recording) run.span.addEvent(`spanflow.step.${status}`, { [ATTR.TASK_NAME]: step.node });
      return;
    }
    if (run) {
      this.#setAttempt(run, step.node, step.index, undefined);
      run.released?.delete(step.node);
      run.last.set(step.node, open.span.spanContext());
    }
    open.span.setAttribute(ATTR.TASK_RESULT, cicdResultOf(status));
    endStatus(open.span, status, attemptError(status, error));
    open.span.end();
  }

  /**
   * The context a batch's workers run in: the batch's, with its span context
   * marked not sampled. A task of an item the sampler left out runs in it, so
   * the task's own spans are left out too rather than pile into the batch's
   * trace (a sampled item's tasks run in their own span's context).
   */
  workerContext(runId: string): Context | undefined {
    const run = this.#run(runId);
    if (!run?.recording) return run?.context;
    return trace.setSpan(run.context, trace.wrapSpanContext({ ...run.span.spanContext(), traceFlags: TraceFlags.NONE }));
  }

  /** Starts a stage item's trace: a root span linked to its batch. Undefined when the sampler leaves it out. */
  startItem(runId: string, item: { readonly id: string }, sink: ItemSink): ItemTrace | undefined {
    const batch = this.#run(runId);
    if (!batch) return undefined;
    // Each item is a trace of its own, linked to its batch: a million items are not one trace.
    // (Its root context keeps what else the batch's context carries, such as baggage.)
    batch.itemRoot ??= {
      context: trace.deleteSpan(batch.context),
      links: [{ context: batch.span.spanContext() }],
      name: `item ${sink.pipeline}`,
    };
    const root = batch.itemRoot;
    // Attributes are set once the sampler kept the item, so one it leaves out costs no attribute work.
    // A sampler still sees the span's name, which carries the pipeline's.
    const span = this.#tracer.startSpan(root.name, { links: root.links }, root.context);
    if (!span.isRecording()) return undefined;
    const itemId = item.id;
    span.setAttributes({ [ATTR.PIPELINE_NAME]: sink.pipeline, [ATTR.RUN_ID]: runId, [ATTR.ITEM_ID]: itemId });
    return new ItemTrace(this.#tracer, sink, span, root.context, itemId);
  }

  #tell(): void {
    const recording = this.#recording > 0;
    if (recording === this.#told) return;
    this.#told = recording;
    this.onRecording?.(recording);
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
        // A resumed or retried durable run links to the stored run's trace.
        const from = e.continues;
        const links: Link[] | undefined =
          from?.traceId && from.spanId
            ? [{ context: { traceId: from.traceId, spanId: from.spanId, traceFlags: 1, isRemote: true }, attributes: { 'spanflow.continues': from.mode, [ATTR.RUN_ID]: from.runId } }]
            : undefined;
        const attributes: Attributes = { [ATTR.PIPELINE_NAME]: e.pipeline, [ATTR.RUN_ID]: e.runId };
        if (e.parentRunId) attributes[ATTR.PARENT_RUN_ID] = e.parentRunId;
        const span = this.#tracer.startSpan(`pipeline ${e.pipeline}`, { attributes, links }, parent);
        const recording = span.isRecording();
        // A run the sampler left out gets no step spans: it shares two empty maps, never written.
        const attempts = recording ? new Map<string, Open>() : NO_ATTEMPTS;
        const last = recording ? new Map<string, SpanContext>() : NO_LAST;
        this.#runs.set(e.runId, { span, context: trace.setSpan(parent, span), recording, attempts, last });
        this.#cachedId = '';
        if (recording) this.#recording++;
        this.#tell();
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
        if (run.recording) this.#recording--;
        this.#tell();
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
      case 'token': {
        const run = this.#run(e.runId);
        const open = run && this.#attempt(run, e.node, e.index);
        if (!open) return;
        const attributes: Attributes = { [ATTR.TOKEN_COUNT]: e.tokenIndex + 1 };
        const content = this.#payload(e.token);
        if (content !== undefined) attributes[ATTR.TOKEN] = content;
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
      case 'worker_state':
        return;
    }
  };

  /** The content to show, or undefined when payloads are off or redact or serializing throws: the event goes out without it. */
  #payload(value: unknown): string | undefined {
    const shown = shownPayload(this.#options, value);
    if (!shown) return undefined;
    try {
      return typeof shown.value === 'string' ? shown.value : JSON.stringify(shown.value) ?? String(shown.value);
    } catch {
      return undefined;
    }
  }
}

/**
 * A payload (a token's content) as telemetry may show it: undefined while
 * payloads are off (the default) or when `redact` throws, else the value
 * `redact` gives. Spans and the live HTTP view both show payloads through it.
 */
export function shownPayload(options: PayloadOptions, value: unknown): { readonly value: unknown } | undefined {
  if (!options.payloads) return undefined;
  try {
    return { value: options.redact ? options.redact(value) : value };
  } catch {
    return undefined;
  }
}
