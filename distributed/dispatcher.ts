// The calling side of the distributed backend: each attempt of a remote task
// is one pg-boss job (pg-boss's retries off), its result read back when the
// worker NOTIFYs that the job ended, with one bounded poll of every pending
// job as the backstop (a missed notification, a worker that died). Retry,
// timeout, events and the attempt's span stay above, in the executor: this is
// only where the attempt runs (docs/architecture.md, "The task seam").

import { safeJson } from '../sdk/index.ts';
import { errorRecord, fromRecord, WorkerDefinitionError } from '../worker-threads/index.ts';
import { Connection, type ConnectionOptions } from './connection.ts';
import { RemoteError, RemoteTaskError, WorkerLostError } from './errors.ts';
import { watchQueues, recordJob } from './metrics.ts';
import { CHANNEL, type JobData, type JobOutput } from './protocol.ts';
import { type DispatchSpan, endJobSpan, startDispatchSpan } from './tracing.ts';

export interface DispatcherOptions extends ConnectionOptions {
  /**
   * How long a running job's heartbeat may be silent before its attempt fails
   * with a WorkerLostError, in ms. Workers touch it at a third of this. Default 30,000.
   */
  readonly workerLostAfterMs?: number;
  /** The backstop: how often the pending jobs are read when no notification came, in ms. Default 2,000. */
  readonly pollIntervalMs?: number;
  /** pg-boss's expiry: a job running longer than this is failed by pg-boss's supervisor (a WorkerLostError here). Default 900 (15 minutes). */
  readonly expireInSeconds?: number;
}

/** A remote task as the dispatcher sends it. */
export interface RemoteRef {
  /** The module's file URL. */
  readonly module: string;
  readonly exportName: string;
  /** The module's path for people (relative to the working directory). */
  readonly modulePath: string;
  /** `render (tasks.ts)`: how errors name the task. */
  readonly label: string;
  readonly queue: string;
}

export interface DispatchOptions {
  /** Cancels the attempt: the job is cancelled and the task's signal fires in the worker. */
  readonly signal?: AbortSignal | undefined;
  /** The idempotency key the task's code is given. */
  readonly key: string;
  readonly attempt: number;
}

interface Pending {
  readonly id: string;
  readonly ref: RemoteRef;
  readonly open: DispatchSpan | undefined;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  unlink: () => void;
}

interface JobRow {
  id: string;
  state: string;
  output: unknown;
  wait_ms: string | number | null;
  run_ms: string | number | null;
  lost: boolean;
}

const DEFAULTS = { workerLostAfterMs: 30_000, pollIntervalMs: 2_000, expireInSeconds: 900 } as const;

function positive(options: DispatcherOptions, key: 'workerLostAfterMs' | 'pollIntervalMs' | 'expireInSeconds', min: number): number {
  const value = options[key] ?? DEFAULTS[key];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new WorkerDefinitionError('dispatcher', `${key} must be a whole number of ${min} or more (got ${typeof value === 'number' ? value : typeof value})`);
  }
  return value;
}

const numberOf = (value: string | number | null): number | undefined => (value === null ? undefined : Number(value));

/**
 * Sends remote tasks' attempts to their queues and brings their results back.
 * Made from a pg Pool or a URL that you give it; `remoteTask(..., { queue,
 * dispatcher })` names it. Starts on first use (pg-boss makes its schema
 * then); `close()` (or `await using`) cancels what is still pending and lets go
 * of its connections.
 */
export class Dispatcher implements AsyncDisposable {
  readonly workerLostAfterMs: number;
  readonly pollIntervalMs: number;
  readonly expireInSeconds: number;
  readonly #connection: Connection;
  readonly #pending = new Map<string, Pending>();
  /** Jobs a notification said ended, read together at the next turn. */
  readonly #notified = new Set<string>();
  /** Writes on their way to the database: close() waits for them. */
  readonly #cancelling = new Set<Promise<unknown>>();
  /** Jobs waiting for a worker, per queue, as of the last look (the queue size gauge). */
  #waiting = new Map<string, number>();
  /** Every queue this dispatcher sent to: the gauge reads 0 for one with nothing waiting. */
  readonly #queues = new Set<string>();
  #started: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #flushing = false;
  #closing: Promise<void> | undefined;
  readonly #unwatch: () => void;

  constructor(options: DispatcherOptions) {
    this.#connection = new Connection(options, 'dispatcher');
    for (const key of Object.keys(options)) {
      if (!['connectionString', 'pool', 'schema', 'workerLostAfterMs', 'pollIntervalMs', 'expireInSeconds'].includes(key)) {
        throw new WorkerDefinitionError('dispatcher', `unknown option '${key}': the options are connectionString or pool, schema, workerLostAfterMs, pollIntervalMs, expireInSeconds`);
      }
    }
    this.workerLostAfterMs = positive(options, 'workerLostAfterMs', 100);
    this.pollIntervalMs = positive(options, 'pollIntervalMs', 10);
    this.expireInSeconds = positive(options, 'expireInSeconds', 1);
    this.#unwatch = watchQueues({ waiting: () => new Map([...this.#queues].map((queue) => [queue, this.#waiting.get(queue) ?? 0])) });
  }

  /** Jobs sent and not yet ended. */
  get pending(): number {
    return this.#pending.size;
  }

  /** pg-boss started and listening; a start that failed (the database unreachable) is tried again by the next run. */
  #start(): Promise<void> {
    if (!this.#started) {
      const starting = this.#connection.start([CHANNEL.done], (_channel, id) => this.#onDone(id));
      this.#started = starting;
      starting.catch(() => {
        if (this.#started === starting) this.#started = undefined;
      });
    }
    return this.#started;
  }

  /** Runs one attempt of `ref` on a worker of its queue: resolves with its output, rejects with a RemoteError or the signal's reason. */
  async run(ref: RemoteRef, input: unknown, options: DispatchOptions): Promise<unknown> {
    const { signal } = options;
    if (this.#closing) throw new RemoteError(ref.label, ref.queue, '', `dispatcher closed: task ${ref.label} was not sent; close the dispatcher only once its runs are done`);
    signal?.throwIfAborted();
    await this.#start();
    await this.#connection.queue(ref.queue);
    this.#queues.add(ref.queue);
    signal?.throwIfAborted();
    const open = startDispatchSpan({ exportName: ref.exportName, modulePath: ref.modulePath, queue: ref.queue });
    const data: JobData = {
      module: ref.module,
      export: ref.exportName,
      input: safeJson(input),
      ...(open ? { carrier: open.carrier } : {}),
      key: options.key,
      attempt: options.attempt,
      heartbeatMs: Math.max(50, Math.floor(this.workerLostAfterMs / 3)),
    };
    let id: string | null;
    try {
      // The job and the workers' wake-up commit together.
      id = await this.#connection.transaction(async (db) => {
        const sent = await this.#connection.boss.send(ref.queue, data as unknown as object, {
          retryLimit: 0,
          expireInSeconds: this.expireInSeconds,
          // pg-boss's own supervisor fails a job whose heartbeat stops too (its least is 10 s), should this process be gone.
          heartbeatSeconds: Math.max(10, Math.ceil(this.workerLostAfterMs / 1000)),
          db,
        });
        await db.executeSql('SELECT pg_notify($1, $2)', [CHANNEL.jobs, ref.queue]);
        return sent;
      });
      if (id === null) throw new Error('pg-boss did not create the job');
    } catch (error) {
      if (open) endJobSpan(open.span, {}, error);
      throw error;
    }
    const jobId = id;
    return new Promise<unknown>((resolve, reject) => {
      const pending: Pending = { id: jobId, ref, open, resolve, reject, unlink: () => {} };
      this.#pending.set(jobId, pending);
      this.#arm();
      if (signal) {
        const onAbort = () => this.#abandon(pending, signal.reason);
        if (signal.aborted) onAbort();
        else {
          signal.addEventListener('abort', onAbort, { once: true });
          pending.unlink = () => signal.removeEventListener('abort', onAbort);
        }
      }
    });
  }

  /** The caller gave up (its timeout, its run's cancellation): cancel the job, and tell its worker why. */
  #abandon(pending: Pending, reason: unknown): void {
    if (!this.#settle(pending)) return;
    pending.reject(reason);
    if (pending.open) endJobSpan(pending.open.span, { id: pending.id }, reason);
    const { boss } = this.#connection;
    this.#track(boss.cancel(pending.ref.queue, pending.id).then(() => this.#connection.notify(CHANNEL.cancel, safeJson({ id: pending.id, reason: errorRecord(reason) }))));
  }

  /** A write about a job that ended here (its cancellation, its failure as lost): close() waits for it. */
  #track(write: Promise<unknown>): void {
    const tracked = write
      .catch((error: unknown) => {
        process.emitWarning(`spanflow/distributed: could not settle a job: ${error instanceof Error ? error.message : String(error)}`, { type: 'SpanflowRemoteWarning' });
      })
      .finally(() => this.#cancelling.delete(tracked));
    this.#cancelling.add(tracked);
  }

  /** Takes `pending` off the list; false when it was settled already. */
  #settle(pending: Pending): boolean {
    if (this.#pending.get(pending.id) !== pending) return false;
    this.#pending.delete(pending.id);
    pending.unlink();
    if (this.#pending.size === 0) this.#disarm();
    return true;
  }

  #onDone(id: string): void {
    if (!this.#pending.has(id)) return;
    this.#notified.add(id);
    if (this.#notified.size === 1) setImmediate(() => void this.#read(true));
  }

  /** The backstop timer runs while jobs are pending (and keeps the process alive for them, as an open socket would). */
  #arm(): void {
    this.#timer ??= setInterval(() => {
      this.#connection.listen().catch(() => {
        // Reconnected at the next tick; this read finds what was missed.
      });
      void this.#read(false);
    }, this.pollIntervalMs);
  }

  #disarm(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#waiting = new Map();
  }

  /** Reads the jobs notifications named (`notified`), or every pending job (the backstop), in one query. */
  async #read(notified: boolean): Promise<void> {
    if (!notified && this.#flushing) return;
    const ids = notified ? [...this.#notified] : [...this.#pending.keys()];
    if (notified) this.#notified.clear();
    if (ids.length === 0) return;
    if (!notified) this.#flushing = true;
    let rows: JobRow[];
    try {
      const result = await this.#connection.pool.query<JobRow>(
        `SELECT id, state, output,
           extract(epoch FROM (started_on - created_on)) * 1000 AS wait_ms,
           extract(epoch FROM (coalesce(completed_on, now()) - started_on)) * 1000 AS run_ms,
           (state = 'active' AND coalesce(heartbeat_on, started_on) < now() - $2::int * interval '1 millisecond') AS lost
         FROM ${this.#connection.jobTable} WHERE id = ANY($1::uuid[])`,
        [ids, this.workerLostAfterMs],
      );
      rows = result.rows;
    } catch {
      // The database is unreachable now: the next tick tries again.
      if (!notified) this.#flushing = false;
      return;
    }
    if (!notified) this.#flushing = false;
    const waiting = new Map<string, number>();
    const seen = new Set<string>();
    for (const row of rows) {
      seen.add(row.id);
      const pending = this.#pending.get(row.id);
      if (!pending) continue;
      if (row.state === 'created' || row.state === 'retry') {
        waiting.set(pending.ref.queue, (waiting.get(pending.ref.queue) ?? 0) + 1);
        continue;
      }
      if (row.state === 'active' && !row.lost) continue;
      this.#finish(pending, row);
    }
    if (!notified) {
      this.#waiting = waiting;
      for (const id of ids) {
        const pending = this.#pending.get(id);
        if (pending && !seen.has(id)) this.#fail(pending, new RemoteError(pending.ref.label, pending.ref.queue, id, `job ${id} of task ${pending.ref.label} is gone from queue '${pending.ref.queue}' (deleted by someone else?) before it ended`), {});
      }
    }
  }

  #finish(pending: Pending, row: JobRow): void {
    const { id, ref } = pending;
    const times = { id, waitMs: numberOf(row.wait_ms), runMs: numberOf(row.run_ms) };
    const output = row.output as JobOutput | { message?: string } | null;
    if (row.state === 'completed' && output && 'ok' in output && output.ok) {
      if (!this.#settle(pending)) return;
      recordJob(ref.queue, times.waitMs, times.runMs);
      if (pending.open) endJobSpan(pending.open.span, times, undefined);
      // No output: the task returned undefined (JSON has no such value).
      pending.resolve(output.output === undefined ? undefined : JSON.parse(output.output));
      return;
    }
    if (row.state === 'active') {
      // Lost: its heartbeat went silent. Failed here, so no job is left active and a worker that comes back finds it gone.
      const lost = new WorkerLostError(ref.label, ref.queue, id, `worker lost: job ${id} of task ${ref.label} on queue '${ref.queue}' stopped its heartbeat for over ${this.workerLostAfterMs} ms (its worker died or lost its connection)`);
      this.#track(this.#connection.boss.fail(ref.queue, id, { message: lost.message }));
      this.#fail(pending, lost, times);
      return;
    }
    this.#fail(pending, this.#errorOf(ref, id, row.state, output), times);
  }

  /** Why a job that ended did not give an output. */
  #errorOf(ref: RemoteRef, id: string, state: string, output: JobOutput | { message?: string } | null): Error {
    if (state === 'failed' && output && 'ok' in output && !output.ok) {
      const cause = fromRecord(output.error);
      const subject = `remote task ${ref.label}`;
      const message = cause instanceof Error ? cause.message : String(cause);
      switch (output.kind) {
        case 'threw':
          return new RemoteTaskError(ref.label, ref.queue, id, `remote task ${ref.label} threw ${cause instanceof Error ? `${cause.name}: ` : ''}${message}`, cause);
        case 'released':
          return new WorkerLostError(ref.label, ref.queue, id, `worker lost: job ${id} of task ${ref.label} on queue '${ref.queue}' was given back by its worker (${message})`, cause);
        case 'module':
          return new WorkerDefinitionError(subject, `module ${ref.modulePath} failed to load in the remote worker: ${message}`, cause);
        case 'export':
          return new WorkerDefinitionError(subject, `module ${ref.modulePath} ${message}`, cause);
        default:
          return new WorkerDefinitionError(subject, message, cause);
      }
    }
    if (state === 'failed') {
      // Failed by pg-boss's supervisor (heartbeat or expiry), or by another dispatcher that saw its heartbeat stop.
      const why = output && 'message' in output && typeof output.message === 'string' ? output.message : safeJson(output);
      return new WorkerLostError(ref.label, ref.queue, id, `worker lost: job ${id} of task ${ref.label} on queue '${ref.queue}' was failed by pg-boss (${why})`);
    }
    return new RemoteError(ref.label, ref.queue, id, `job ${id} of task ${ref.label} on queue '${ref.queue}' ended ${state} by someone other than its caller`);
  }

  #fail(pending: Pending, error: unknown, times: { id?: string; waitMs?: number | undefined; runMs?: number | undefined }): void {
    if (!this.#settle(pending)) return;
    if (times.runMs !== undefined || times.waitMs !== undefined) recordJob(pending.ref.queue, times.waitMs, times.runMs);
    if (pending.open) endJobSpan(pending.open.span, { id: pending.id, ...times }, error);
    pending.reject(error);
  }

  /** Cancels the pending jobs (their attempts fail with a RemoteError), then lets go of the connections. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const pending of [...this.#pending.values()]) {
        this.#abandon(pending, new RemoteError(pending.ref.label, pending.ref.queue, pending.id, `dispatcher closed while job ${pending.id} of task ${pending.ref.label} ran`));
      }
      this.#disarm();
      // Cancellations in flight land before the connections close (bounded: the pool's own timeouts).
      while (this.#cancelling.size > 0) await Promise.allSettled([...this.#cancelling]);
      this.#unwatch();
      if (this.#started) await this.#started.catch(() => {});
      await this.#connection.close();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** A dispatcher on your pg Pool or a `postgres://` URL (Kysely style: a value you make and pass, no global). */
export function createDispatcher(options: DispatcherOptions): Dispatcher {
  return new Dispatcher(options);
}
