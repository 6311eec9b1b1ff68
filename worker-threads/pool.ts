// The pool: a Piscina pool of worker threads that all load entry.ts, with
// defaults for CPU-bound work, options checked up front, one shared default
// pool per process, metrics while it is open, and Piscina's failures turned
// into errors that name the task.

import { availableParallelism } from 'node:os';
import type { ResourceLimits } from 'node:worker_threads';
import type { Attributes } from '@opentelemetry/api';
import type { Piscina } from 'piscina';
import { checkPeers, loadPeer } from '../sdk/index.ts';
import { describeThrown, WorkerDefinitionError, type WorkerError, WorkerExitError, WorkerOutOfMemoryError, WorkerPoolError, WorkerTaskError } from './errors.ts';
import { BusyTime, poolAttributes, type PoolGauges, recordDroppedSpans, recordTask, watchPool } from './metrics.ts';
import { fromRecord, type Reply, type TaskMessage, type WorkerData } from './protocol.ts';
import { endTaskSpan, startTaskSpan, type TaskLabel, Timeline } from './tracing.ts';
import { unwrapTransfer } from './transfer.ts';

export interface WorkerPoolOptions {
  /** Names the pool in metrics (`spanflow.pool.name`) and spans. Default `'default'`. */
  readonly name?: string;
  /** Threads kept even when idle (started with the pool). Default: half the available parallelism, at least 1. */
  readonly minThreads?: number;
  /** Threads at most: CPU-bound tasks gain nothing from more threads than cores. Default: the available parallelism. */
  readonly maxThreads?: number;
  /** How long a thread above `minThreads` may sit idle before it stops, in ms. Default 10,000. */
  readonly idleTimeout?: number;
  /**
   * Tasks that may wait for a thread; one more fails its attempt with a
   * WorkerPoolError. A number, `'auto'` (maxThreads²) or Infinity (the
   * default: the pipelines' own concurrency bounds what is submitted).
   */
  readonly maxQueue?: number | 'auto';
  /** Memory limits of each thread; one that goes over is stopped and its task fails with WorkerOutOfMemoryError. */
  readonly resourceLimits?: ResourceLimits;
  /** Tasks one thread runs at once (async tasks only gain from more than 1). Default 1. */
  readonly concurrentTasksPerWorker?: number;
}

const OPTIONS: readonly (keyof WorkerPoolOptions)[] = ['name', 'minThreads', 'maxThreads', 'idleTimeout', 'maxQueue', 'resourceLimits', 'concurrentTasksPerWorker'];
const LIMITS: readonly (keyof ResourceLimits)[] = ['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'];
const DEFAULT_IDLE_TIMEOUT_MS = 10_000;
/** Tasks in flight whose start the threads report while they run (at least; 4 per thread). More count when they end. */
const START_SLOTS = 256;

// Piscina loads the entry in each thread: the TypeScript source under Node's type stripping, the built JavaScript from the package.
const ENTRY = new URL(import.meta.url.endsWith('.ts') ? './entry.ts' : './entry.js', import.meta.url).href;

/**
 * The environment of the pool's threads: the process's, with the OpenTelemetry
 * SDK switched off by its own variables. A thread runs the app's preloads again
 * (`--import`/`--require` on the command line or in NODE_OPTIONS); one that
 * starts the Node SDK would otherwise start a second SDK in every thread (its
 * exporters, its ports) and take the thread's API globals, so the task's spans
 * never reached the main thread's exporter. Other preloads (a TypeScript
 * loader, the instrumentations' loader hook) still run, and what
 * instrumentations they make record into the task's spans. Read once, when the
 * pool is made: threads Piscina starts later get the environment as it was then.
 */
function threadEnv(): Record<string, string | undefined> {
  return { ...process.env, OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' };
}

/** A task as the pool runs it: what to call, and how it is named. */
export interface TaskRef extends Omit<TaskLabel, 'pool'> {
  /** The module's file URL. */
  readonly module: string;
  /** `renderFrames (render.ts)`: how errors name the task. */
  readonly label: string;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : typeof value === 'object' && value !== null ? 'an object' : String(value);
}

/** The options with their defaults, or a WorkerDefinitionError naming each problem's fix. */
function settle(options: WorkerPoolOptions): { name: string; minThreads: number; maxThreads: number; idleTimeout: number; maxQueue: number | 'auto' } {
  if (typeof options !== 'object' || options === null) {
    throw new WorkerDefinitionError('worker pool', `options must be an object, { name, maxThreads, ... } (got ${describe(options)})`);
  }
  const name = options.name ?? 'default';
  const subject = `worker pool ${describe(name)}`;
  if (typeof name !== 'string' || name === '') throw new WorkerDefinitionError('worker pool', `name must be a non-empty string (got ${describe(name)})`);
  const problem = (text: string) => new WorkerDefinitionError(subject, text);
  for (const key of Object.keys(options)) {
    if (!OPTIONS.includes(key as keyof WorkerPoolOptions)) throw problem(`unknown option '${key}': the options are ${OPTIONS.join(', ')}`);
  }
  const whole = (key: keyof WorkerPoolOptions, min: number) => {
    const value = options[key];
    if (value !== undefined && !(typeof value === 'number' && Number.isInteger(value) && value >= min)) {
      throw problem(`${key} must be a whole number of ${min} or more (got ${describe(value)})`);
    }
    return value as number | undefined;
  };
  const parallelism = availableParallelism();
  const givenMin = whole('minThreads', 0);
  const givenMax = whole('maxThreads', 1);
  whole('concurrentTasksPerWorker', 1);
  if (givenMin !== undefined && givenMax !== undefined && givenMin > givenMax) {
    throw problem(`minThreads (${givenMin}) is more than maxThreads (${givenMax}): raise maxThreads or lower minThreads`);
  }
  const maxThreads = givenMax ?? Math.max(parallelism, givenMin ?? 1);
  const minThreads = givenMin ?? Math.min(maxThreads, Math.max(1, Math.floor(parallelism / 2)));
  const idleTimeout = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_MS;
  if (typeof idleTimeout !== 'number' || !(idleTimeout >= 0)) throw problem(`idleTimeout must be a number of ms, 0 or more (got ${describe(idleTimeout)})`);
  const maxQueue = options.maxQueue ?? Number.POSITIVE_INFINITY;
  if (maxQueue !== 'auto' && !(typeof maxQueue === 'number' && maxQueue >= 0 && (Number.isInteger(maxQueue) || maxQueue === Number.POSITIVE_INFINITY))) {
    throw problem(`maxQueue must be a whole number of 0 or more, 'auto' or Infinity (got ${describe(maxQueue)})`);
  }
  const limits = options.resourceLimits;
  if (limits !== undefined) {
    if (typeof limits !== 'object' || limits === null) throw problem(`resourceLimits must be an object, { maxOldGenerationSizeMb: 64 } (got ${describe(limits)})`);
    for (const [key, value] of Object.entries(limits)) {
      if (!LIMITS.includes(key as keyof ResourceLimits)) throw problem(`unknown resource limit '${key}': the limits are ${LIMITS.join(', ')}`);
      if (!(typeof value === 'number' && value > 0)) throw problem(`resourceLimits.${key} must be a positive number of MB (got ${describe(value)})`);
    }
  }
  return { name, minThreads, maxThreads, idleTimeout, maxQueue };
}

/**
 * A pool of worker threads for CPU-bound steps and stage tasks. Tasks are
 * declared with `workerTask()`; they run on the shared `defaultPool()` unless
 * given a pool of their own. `close()` (or `await using`) lets running and
 * queued tasks finish, then stops the threads. Idle threads do not keep the
 * process alive.
 */
export class WorkerPool implements PoolGauges, AsyncDisposable {
  readonly name: string;
  readonly minThreads: number;
  readonly maxThreads: number;
  /** The pool's data point attributes (its name). */
  readonly attributes: Attributes;
  readonly #piscina: Piscina<TaskMessage, Reply>;
  readonly #unwatch: () => void;
  /** Its tasks' time on its threads (the utilization metric reads it). */
  readonly #busy: BusyTime;
  #closing: Promise<void> | undefined;

  constructor(options: WorkerPoolOptions = {}) {
    const settled = settle(options);
    // Piscina here, @opentelemetry/core and context-async-hooks in the threads' entry: all checked on this thread.
    checkPeers('spanflow/workers');
    const { Piscina: Pool } = loadPeer<typeof import('piscina')>('piscina', 'spanflow/workers');
    this.name = settled.name;
    this.minThreads = settled.minThreads;
    this.maxThreads = settled.maxThreads;
    this.attributes = poolAttributes(this.name);
    this.#busy = new BusyTime(Math.max(START_SLOTS, this.maxThreads * 4));
    const workerData: WorkerData = { starts: this.#busy.starts };
    this.#piscina = new Pool<TaskMessage, Reply>({
      filename: ENTRY,
      name: 'default',
      env: threadEnv(),
      workerData,
      minThreads: settled.minThreads,
      maxThreads: settled.maxThreads,
      idleTimeout: settled.idleTimeout,
      maxQueue: settled.maxQueue,
      concurrentTasksPerWorker: options.concurrentTasksPerWorker ?? 1,
      ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
    });
    // A thread that fails with no task of its own (an error thrown later by a timer a task left behind):
    // say so rather than crash the process (an 'error' event with no listener throws).
    this.#piscina.on('error', (error: unknown) => {
      process.emitWarning(`worker pool '${this.name}': ${error instanceof Error ? error.message : String(error)}`, {
        type: 'SpanflowWorkerWarning',
        detail: error instanceof Error ? error.stack : undefined,
      });
    });
    this.#unwatch = watchPool(this, this.#busy);
  }

  /** Threads now, busy or idle (starting ones included). */
  get threads(): number {
    return this.#piscina.threads.length;
  }

  /** Threads ready and running no task. */
  get idleThreads(): number {
    return this.#piscina.idleThreads;
  }

  /** Tasks waiting for a thread. */
  get queueSize(): number {
    return this.#piscina.queueSize;
  }

  /** Tasks that ended, however. */
  get completed(): number {
    return this.#piscina.completed;
  }

  /** The ids of the pool's threads now (`threadId` of node:worker_threads in each). */
  get threadIds(): number[] {
    return this.#piscina.threads.map((worker) => worker.threadId);
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Runs a task on a thread: its input copied (or moved, wrapped in
   * `transfer()`), under a span of its own, stopped (the thread is replaced)
   * when `signal` fires. `context` (plain data) is the function's second
   * argument, with a `signal` that never fires. Resolves with the output;
   * rejects with a WorkerError that names the task, with a
   * WorkerDefinitionError, or with the signal's reason.
   */
  async run(task: TaskRef, input: unknown, signal?: AbortSignal, context?: Readonly<Record<string, unknown>>): Promise<unknown> {
    if (this.#closing) {
      throw new WorkerPoolError(task.label, this.name, `worker pool '${this.name}' is closed: task ${task.label} was not run; close a pool only once its tasks are done`);
    }
    const { value, list } = unwrapTransfer(input);
    const timeline = new Timeline();
    const open = startTaskSpan({ exportName: task.exportName, modulePath: task.modulePath, pool: this.name }, timeline);
    const slot = this.#busy.claim();
    const message: TaskMessage = { module: task.module, export: task.exportName, input: value, carrier: open?.carrier, slot, ...(context === undefined ? {} : { context }) };
    let reply: Reply;
    try {
      reply = await this.#piscina.run(message, signal || list ? { signal: signal ?? null, transferList: list } : undefined);
    } catch (raw) {
      this.#busy.settle(slot, undefined, undefined);
      // Aborted: the attempt's own reason (its timeout, the run's cancellation). Else the thread died or the pool refused.
      const error: unknown = signal?.aborted ? signal.reason : this.#failure(task, raw);
      if (open) endTaskSpan(open, timeline, { waitMs: undefined, runMs: undefined, threadId: undefined }, undefined, 0, error);
      throw error;
    }
    this.#busy.settle(slot, reply.started, reply.ended);
    const waitMs = reply.started - timeline.submitted;
    const runMs = reply.ended - reply.started;
    recordTask(this.attributes, waitMs, runMs);
    recordDroppedSpans(reply.droppedSpans);
    const error = reply.ok ? undefined : this.#replyError(task, reply);
    if (open) endTaskSpan(open, timeline, { waitMs, runMs, threadId: reply.threadId }, reply.spans, reply.droppedSpans, error);
    if (error) throw error;
    return (reply as Reply & { ok: true }).output;
  }

  /** Lets running and queued tasks finish, then stops the threads. Idempotent. */
  close(): Promise<void> {
    const closing = this.#closing ?? this.#piscina.close().finally(this.#unwatch);
    this.#closing = closing;
    return closing;
  }

  /** Stops the threads now: running and queued tasks fail with a WorkerPoolError. */
  destroy(): Promise<void> {
    const destroyed = this.#piscina.destroy().finally(this.#unwatch);
    this.#closing ??= destroyed;
    return destroyed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #replyError(task: TaskRef, reply: Reply & { ok: false }): Error {
    const cause = fromRecord(reply.error);
    const subject = `worker task ${task.label}`;
    if (reply.kind === 'export') return new WorkerDefinitionError(subject, `module ${task.modulePath} ${(cause as Error).message}`);
    if (reply.kind === 'module') {
      return new WorkerDefinitionError(subject, `module ${task.modulePath} failed to load in a worker thread: ${describeThrown(cause)}`, cause);
    }
    return new WorkerTaskError(task.label, this.name, cause);
  }

  /** What a rejection from Piscina means for the task. */
  #failure(task: TaskRef, raw: unknown): WorkerError {
    const error = raw instanceof Error ? raw : new Error(String(raw));
    const code = (error as { code?: unknown }).code;
    const pool = this.name;
    if (code === 'ERR_WORKER_OUT_OF_MEMORY') return new WorkerOutOfMemoryError(task.label, pool, error);
    const exited = /^worker exited with code: (-?\d+)/.exec(error.message);
    if (exited) {
      const exitCode = Number(exited[1]);
      return new WorkerExitError(
        task.label,
        pool,
        `worker task ${task.label}: its thread exited with code ${exitCode} before the task ended (process.exit() in the task or its module?); the pool replaces the thread`,
        exitCode,
        error,
      );
    }
    if (error.name === 'DataCloneError') {
      return new WorkerPoolError(
        task.label,
        pool,
        `worker task ${task.label}: its input or output cannot be copied between threads (${error.message}); send plain data (objects, arrays, typed arrays, Maps, Dates), not functions, class instances or handles`,
        error,
      );
    }
    if (error.message === 'Task queue is at limit' || error.message === 'No task queue available and all Workers are busy') {
      return new WorkerPoolError(task.label, pool, `worker pool '${pool}' queue is full: task ${task.label} was not run; raise maxQueue or lower the concurrency that feeds the pool`, error);
    }
    if (error.name === 'AbortError' || error.message === 'Terminating worker thread') {
      return new WorkerPoolError(task.label, pool, `worker pool '${pool}' was closed before task ${task.label} ended`, error);
    }
    return new WorkerExitError(task.label, pool, `worker task ${task.label}: its thread crashed (${error.name}: ${error.message}); the pool replaces the thread`, undefined, error);
  }
}

let shared: WorkerPool | undefined;

/**
 * The process's shared pool, opened on first use; tasks declared without a
 * pool run on it. Options apply when it opens: give them before the first
 * task runs (or after closing it). Once closed, the next call opens a new one.
 */
export function defaultPool(options?: WorkerPoolOptions): WorkerPool {
  if (shared && !shared.closed) {
    if (options !== undefined) {
      throw new WorkerDefinitionError(`worker pool '${shared.name}'`, 'the default pool is already open: call defaultPool(options) before its first task runs, or close it first');
    }
    return shared;
  }
  shared = new WorkerPool({ name: 'default', ...options });
  return shared;
}
