// What can go wrong with a task sent to a distributed queue, each its own class
// so a retry policy or an error handler can tell them apart. Every one names
// the task (its export and module), the queue and the job.

import { SpanflowError } from '../sdk/index.ts';

/** Base of the errors of a task that ran, or was to run, on a distributed queue. */
export class RemoteError extends SpanflowError {
  override name = 'RemoteError';
  /** The task: its export and module, as `render (tasks.ts)`. */
  readonly task: string;
  readonly queue: string;
  /** The pg-boss job of the attempt. */
  readonly jobId: string;
  constructor(task: string, queue: string, jobId: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.task = task;
    this.queue = queue;
    this.jobId = jobId;
  }
}

/**
 * The task's function threw or rejected in the remote worker. `cause` is its
 * error as the worker saw it: name, message and stack are kept, its class is
 * not (it crossed processes as data).
 */
export class RemoteTaskError extends RemoteError {
  override name = 'RemoteTaskError';
}

/**
 * The worker running the attempt was lost: its process died (`kill -9`, out of
 * memory, the machine went away), its connection to Postgres dropped, or it
 * stopped and gave the job back. Noticed when the job's heartbeat goes stale
 * (or pg-boss's own supervisor fails the job on its heartbeat or expiry).
 * Retryable: the run's retry policy decides whether another attempt runs, as a
 * new job that any worker may take.
 */
export class WorkerLostError extends RemoteError {
  override name = 'WorkerLostError';
}
