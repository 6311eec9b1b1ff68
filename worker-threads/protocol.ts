// What crosses the thread boundary, both ways: plain data only (structured clone).

import { type Attributes, createTraceState, type SpanContext, type SpanKind, type SpanStatus } from '@opentelemetry/api';

/** Main thread -> worker: one task. */
export interface TaskMessage {
  /** The user's module, as a file URL. */
  readonly module: string;
  /** The export to call with `input`. */
  readonly export: string;
  readonly input: unknown;
  /**
   * The task span's context (W3C `traceparent`, `tracestate`, `baggage`).
   * Absent when the task is not traced: the worker then records no spans.
   */
  readonly carrier: Record<string, string> | undefined;
  /** Where the thread writes when the task started (an index into WorkerData.starts); -1: nowhere. */
  readonly slot: number;
  /**
   * A second argument for the task's function (plain data), given a `signal`
   * that never fires: a task on a thread is stopped with its thread instead.
   * Absent: the function gets its input alone.
   */
  readonly context?: Readonly<Record<string, unknown>>;
}

/** What each of a pool's threads gets once, when it starts (Piscina's workerData). */
export interface WorkerData {
  /** The pool's task start times, shared with the main thread (see BusyTime in metrics.ts). */
  readonly starts: BigInt64Array<SharedArrayBuffer>;
}

/** A span context as plain data (its trace state as the W3C header string). */
export interface PlainSpanContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceFlags: number;
  readonly traceState: string | undefined;
}

export function plainContext(context: SpanContext): PlainSpanContext {
  return { traceId: context.traceId, spanId: context.spanId, traceFlags: context.traceFlags, traceState: context.traceState?.serialize() };
}

/** The span context again, as a remote one (it came from another thread). */
export function spanContextOf(plain: PlainSpanContext): SpanContext {
  return {
    traceId: plain.traceId,
    spanId: plain.spanId,
    traceFlags: plain.traceFlags,
    isRemote: true,
    ...(plain.traceState ? { traceState: createTraceState(plain.traceState) } : {}),
  };
}

/** A span the worker's code made, recorded to be made again on the main thread. */
export interface SpanRecord {
  /** The instrumentation scope of the tracer that made it. */
  readonly scope: string;
  readonly version: string | undefined;
  readonly name: string;
  readonly kind: SpanKind;
  /** Index of its parent among the task's records; -1: the task span. */
  readonly parent: number;
  /** A parent from elsewhere (a context the worker code extracted itself), instead of `parent`. */
  readonly remoteParent: PlainSpanContext | undefined;
  /** Started with `root: true`: a trace of its own. */
  readonly root: boolean;
  /** On the monotonic clock (monoNow). */
  readonly start: number;
  readonly end: number;
  readonly attributes: Attributes;
  /** `time`: on the monotonic clock. */
  readonly events: readonly { readonly name: string; readonly time: number; readonly attributes: Attributes | undefined }[];
  /** `local`: the index of a linked span of this task (its ids are made anew on the main thread). */
  readonly links: readonly { readonly context: PlainSpanContext; readonly local: number; readonly attributes: Attributes | undefined }[];
  readonly status: SpanStatus;
}

/** An error as plain data: its class does not cross threads, its name, message and stack do. */
export interface ErrorRecord {
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
  readonly code: string | undefined;
  /**
   * Set when what was thrown is not an Error (`throw { code: 1 }`): the value
   * itself, as the structured clone carries it (its text when it cannot be
   * cloned), so the main thread describes it as it would an in-process throw.
   */
  readonly thrown?: { readonly value: unknown };
}

interface ReplyBase {
  /** When the worker took the task and when it finished, on the monotonic clock (monoNow). */
  readonly started: number;
  readonly ended: number;
  readonly threadId: number;
  /** Spans the task's code made, in start order (only when the task was traced). */
  readonly spans: readonly SpanRecord[] | undefined;
  /** Spans past the per-task limit, not sent. */
  readonly droppedSpans: number;
}

/** Worker -> main thread: how the task ended. */
export type Reply =
  | (ReplyBase & { readonly ok: true; readonly output: unknown })
  | (ReplyBase & {
      readonly ok: false;
      /** `threw`: the task's function; `module`: its module failed to load; `export`: no such function. */
      readonly kind: 'threw' | 'module' | 'export';
      readonly error: ErrorRecord;
    });

export function errorRecord(error: unknown): ErrorRecord {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, stack: error.stack, code: typeof code === 'string' ? code : undefined };
  }
  let value: unknown;
  try {
    value = structuredClone(error);
  } catch {
    value = String(error);
  }
  return { name: typeof error, message: String(value), stack: undefined, code: undefined, thrown: { value } };
}

/** The error again: an Error with the worker's name, message and stack, or the non-Error value that was thrown. */
export function fromRecord(record: ErrorRecord): unknown {
  if (record.thrown) return record.thrown.value;
  const error = new Error(record.message);
  error.name = record.name;
  error.stack = record.stack ?? `${record.name}: ${record.message}`;
  if (record.code !== undefined) Object.assign(error, { code: record.code });
  return error;
}

/**
 * Milliseconds on the process's monotonic clock, the same in every thread
 * (`performance.now()` is not: each thread counts from its own start, and
 * `performance.timeOrigin` ties each to the wall clock as it was then). Times
 * cross the thread boundary in it; the main thread places them on its
 * spans' timeline (tracing.ts).
 */
export function monoNow(): number {
  const [seconds, nanoseconds] = process.hrtime();
  return seconds * 1e3 + nanoseconds / 1e6;
}
