// One trace across processes. In the calling process the attempt span keeps a
// PRODUCER child for the dispatch (`send <queue>`), open until the result is
// back, with the queue wait and the run time as attributes; its context goes
// with the job in a W3C carrier. The worker process extracts it and opens a
// CONSUMER span (`process <queue>`) under it, current while the task's code
// runs, so the code's own spans nest under it: all exported by the worker's
// own SDK into the same trace.

import { type Context, context, defaultTextMapGetter, defaultTextMapSetter, ROOT_CONTEXT, type Span, SpanKind, trace } from '@opentelemetry/api';
import { failSpan, TELEMETRY_SCOPE, w3cPropagator } from '../sdk/index.ts';
import { WORKER_ATTR } from '../worker-threads/index.ts';

/** Span attributes: OpenTelemetry's messaging conventions, and spanflow's own (the task's names as a pool task's span has them). */
export const REMOTE_ATTR = {
  SYSTEM: 'messaging.system',
  DESTINATION: 'messaging.destination.name',
  OPERATION: 'messaging.operation.type',
  MESSAGE_ID: 'messaging.message.id',
  EXPORT: WORKER_ATTR.EXPORT,
  MODULE: WORKER_ATTR.MODULE,
  /** Time the job waited in its queue (by the database clock). */
  WAIT_MS: 'spanflow.queue.wait_ms',
  /** Time the job ran on its worker (by the database clock). */
  RUN_MS: 'spanflow.queue.run_ms',
  IDEMPOTENCY_KEY: 'spanflow.idempotency_key',
} as const;

export interface TaskNames {
  readonly exportName: string;
  readonly modulePath: string;
  readonly queue: string;
}

export interface DispatchSpan {
  readonly span: Span;
  readonly carrier: Record<string, string>;
}

function names(task: TaskNames, operation: 'send' | 'process') {
  return {
    [REMOTE_ATTR.SYSTEM]: 'pg-boss',
    [REMOTE_ATTR.DESTINATION]: task.queue,
    [REMOTE_ATTR.OPERATION]: operation,
    [REMOTE_ATTR.EXPORT]: task.exportName,
    [REMOTE_ATTR.MODULE]: task.modulePath,
  };
}

/** The PRODUCER span under the active context (the attempt's); undefined when nothing records it. */
export function startDispatchSpan(task: TaskNames): DispatchSpan | undefined {
  const parent = context.active();
  const span = trace.getTracer(TELEMETRY_SCOPE).startSpan(`send ${task.queue}`, { kind: SpanKind.PRODUCER, attributes: names(task, 'send') }, parent);
  if (!span.isRecording()) return undefined;
  const carrier: Record<string, string> = {};
  w3cPropagator('spanflow/distributed').inject(trace.setSpan(parent, span), carrier, defaultTextMapSetter);
  return { span, carrier };
}

/** Ends a span of a job: its id and times, and the error if it failed. */
export function endJobSpan(span: Span, job: { readonly id?: string | undefined; readonly waitMs?: number | undefined; readonly runMs?: number | undefined }, error: unknown): void {
  if (job.id !== undefined) span.setAttribute(REMOTE_ATTR.MESSAGE_ID, job.id);
  if (job.waitMs !== undefined) span.setAttribute(REMOTE_ATTR.WAIT_MS, Math.max(0, job.waitMs));
  if (job.runMs !== undefined) span.setAttribute(REMOTE_ATTR.RUN_MS, Math.max(0, job.runMs));
  if (error !== undefined) failSpan(span, error);
  span.end();
}

/** In the worker: the CONSUMER span of a job, under the caller's dispatch span, and the context the task runs in. */
export function startProcessSpan(task: TaskNames, carrier: Record<string, string> | undefined, jobId: string, key: string): { span: Span; context: Context } {
  const parent = carrier ? w3cPropagator('spanflow/distributed').extract(ROOT_CONTEXT, carrier, defaultTextMapGetter) : ROOT_CONTEXT;
  const span = trace
    .getTracer(TELEMETRY_SCOPE)
    .startSpan(`process ${task.queue}`, { kind: SpanKind.CONSUMER, attributes: { ...names(task, 'process'), [REMOTE_ATTR.MESSAGE_ID]: jobId, [REMOTE_ATTR.IDEMPOTENCY_KEY]: key } }, parent);
  return { span, context: trace.setSpan(parent, span) };
}
