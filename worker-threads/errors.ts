// What can go wrong with a task on a worker thread, each as its own class so a
// retry policy or an error handler can tell them apart. Every one names the
// task (its export and module) and the pool.

import { DefinitionError, messageOf, SpanflowError } from '../sdk/index.ts';

/** Base of the errors of a task that ran, or was to run, on a worker pool. */
export class WorkerError extends SpanflowError {
  override name = 'WorkerError';
  /** The task: its export and module, as `renderFrames (render.ts)`. */
  readonly task: string;
  readonly pool: string;
  constructor(task: string, pool: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.task = task;
    this.pool = pool;
  }
}

/**
 * The task's function threw or rejected. `cause` is its error as the worker
 * saw it: name, message and stack are kept, its class is not (an error is
 * copied across the thread boundary, not shared). A thrown value that is not
 * an Error is the cause as it was, described as an in-process throw would be.
 */
export class WorkerTaskError extends WorkerError {
  override name = 'WorkerTaskError';
  constructor(task: string, pool: string, cause: unknown) {
    super(task, pool, `worker task ${task} threw ${describeThrown(cause)}`, cause);
  }
}

/** `Name: message` of an Error, else what the engine says of a thrown value (its JSON, or its text). */
export function describeThrown(thrown: unknown): string {
  return thrown instanceof Error ? `${thrown.name}: ${messageOf(thrown)}` : messageOf(thrown);
}

/**
 * The thread running the task died before the task ended: it called
 * `process.exit()`, or an error escaped the task (a throw in a timer it left
 * behind). The pool replaces the thread.
 */
export class WorkerExitError extends WorkerError {
  override name = 'WorkerExitError';
  /** The thread's exit code, when it exited rather than crashed. */
  readonly exitCode: number | undefined;
  constructor(task: string, pool: string, message: string, exitCode: number | undefined, cause?: unknown) {
    super(task, pool, message, cause);
    this.exitCode = exitCode;
  }
}

/** The thread running the task went over the pool's `resourceLimits` and was stopped. The pool replaces it. */
export class WorkerOutOfMemoryError extends WorkerExitError {
  override name = 'WorkerOutOfMemoryError';
  constructor(task: string, pool: string, cause: unknown) {
    super(
      task,
      pool,
      `worker task ${task} ran out of memory on pool '${pool}' (its resourceLimits): the thread was stopped; give the pool larger resourceLimits or the task smaller input`,
      undefined,
      cause,
    );
  }
}

/** The pool did not take the task: it is closed, its queue is full, or the input or output cannot be copied between threads. */
export class WorkerPoolError extends WorkerError {
  override name = 'WorkerPoolError';
}

/**
 * A worker task or pool is declared wrong: a module that does not exist, an
 * export that is not a function, a bad pool option. Found when declared, or
 * (an export, a module that fails to load) at the task's first run. Never
 * retried: another attempt would find the same.
 */
export class WorkerDefinitionError extends DefinitionError {
  override name = 'WorkerDefinitionError';
  /** What is declared wrong: `worker task renderFrames (render.ts)` or `worker pool 'render'`. */
  readonly subject: string;
  constructor(subject: string, problem: string, cause?: unknown) {
    super(subject, [problem]);
    this.subject = subject;
    if (cause !== undefined) this.cause = cause;
    // DefinitionError speaks of a pipeline; this is a task or a pool.
    this.message = `${subject}: ${problem}`;
  }
}
