// A worker process's side: takes jobs of one queue (up to `concurrency` at a
// time), imports the named module and export, runs it with the caller's trace
// context and an AbortSignal that the caller's cancellation and timeout reach
// (a NOTIFY; the heartbeat finding the job no longer active is the backstop),
// touches each running job's heartbeat, and completes the job with the output.
// `stop()` stops taking jobs, lets the running ones finish for a while, then
// gives back what it still holds (the caller's retry policy sends it again).

import { basename, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { context } from '@opentelemetry/api';
import type { JobWithMetadata } from 'pg-boss';
import { safeJson, untilAborted } from '../sdk/index.ts';
import { errorRecord, fromRecord, loadExport, shown, WorkerDefinitionError, WorkerPool, WorkerTaskError } from '../worker-threads/index.ts';
import { Connection, type ConnectionOptions } from './connection.ts';
import { CHANNEL, type CancelNotice, type JobData, type JobOutput } from './protocol.ts';
import type { RemoteContext } from './task.ts';
import { endJobSpan, startProcessSpan } from './tracing.ts';

export interface WorkerOptions extends ConnectionOptions {
  /** The queue whose jobs this worker takes. */
  readonly queue: string;
  /** Jobs run at once. Default 1. */
  readonly concurrency?: number;
  /**
   * Only modules under this folder run here: a job naming another is refused
   * (anyone who can write to the queue could otherwise name any file). Default: the working directory.
   */
  readonly root?: string;
  /** The backstop for a missed notification: how often to look for jobs, in ms. Default 2,000. */
  readonly pollIntervalMs?: number;
  /**
   * Runs the tasks on a thread pool of this many threads (for CPU-bound
   * tasks: `concurrency` jobs at once over these threads), instead of on this
   * process's event loop. A timeout or cancellation then stops the task's
   * thread (the pool replaces it) rather than firing its signal. Needs
   * spanflow/workers' peers (piscina). Default: no pool.
   */
  readonly threads?: number;
}

export interface StopOptions {
  /** How long running jobs may go on before they are given back, in ms. Default 30,000. */
  readonly timeoutMs?: number;
}

interface Running {
  readonly controller: AbortController;
  readonly done: Promise<void>;
  /** Why it was aborted here: the caller gave up (nothing to write back), or the worker is stopping (give the job back). */
  why: 'caller' | 'release' | undefined;
}

const OPTIONS = ['connectionString', 'pool', 'schema', 'queue', 'concurrency', 'root', 'pollIntervalMs', 'threads'];

/** A worker taking jobs of one queue. Made by `startWorker()`. */
export class RemoteWorker implements AsyncDisposable {
  readonly queue: string;
  readonly concurrency: number;
  readonly root: string;
  readonly #connection: Connection;
  readonly #pollIntervalMs: number;
  /** Where the tasks run when the worker has threads of its own. */
  readonly #threads: WorkerPool | undefined;
  readonly #running = new Map<string, Running>();
  #processed = 0;
  #accepting = true;
  #filling = false;
  #fillAgain = false;
  #poll: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #heartbeatMs = Number.POSITIVE_INFINITY;
  #stopping: Promise<void> | undefined;

  constructor(options: WorkerOptions) {
    const subject = `worker of queue ${typeof options?.queue === 'string' ? `'${options.queue}'` : '(no queue)'}`;
    this.#connection = new Connection(options, subject);
    for (const key of Object.keys(options)) {
      if (!OPTIONS.includes(key)) throw new WorkerDefinitionError(subject, `unknown option '${key}': the options are ${OPTIONS.join(', ')}`);
    }
    if (typeof options.queue !== 'string' || options.queue === '') throw new WorkerDefinitionError(subject, "queue must name the queue to take jobs from, as 'render'");
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new WorkerDefinitionError(subject, `concurrency must be a whole number of 1 or more (got ${String(concurrency)})`);
    const pollIntervalMs = options.pollIntervalMs ?? 2_000;
    if (!Number.isInteger(pollIntervalMs) || pollIntervalMs < 10) throw new WorkerDefinitionError(subject, `pollIntervalMs must be a whole number of 10 or more (got ${String(pollIntervalMs)})`);
    if (options.root !== undefined && typeof options.root !== 'string') throw new WorkerDefinitionError(subject, 'root must be the path of the folder whose modules this worker may run');
    this.queue = options.queue;
    this.concurrency = concurrency;
    this.root = resolve(options.root ?? process.cwd());
    this.#pollIntervalMs = pollIntervalMs;
    const { threads } = options;
    if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) throw new WorkerDefinitionError(subject, `threads must be a whole number of 1 or more (got ${String(threads)})`);
    this.#threads = threads === undefined ? undefined : new WorkerPool({ name: `queue ${options.queue}`, minThreads: threads, maxThreads: threads });
  }

  /** Jobs running now. */
  get active(): number {
    return this.#running.size;
  }

  /** Jobs this worker ran to an end, however it ended. */
  get processed(): number {
    return this.#processed;
  }

  async start(): Promise<void> {
    await this.#connection.start([CHANNEL.jobs, CHANNEL.cancel], (channel, payload) => this.#onNotify(channel, payload));
    await this.#connection.queue(this.queue);
    this.#poll = setInterval(() => {
      this.#connection.listen().catch(() => {
        // Made again at the next tick; the poll below finds the jobs meanwhile.
      });
      void this.#fill();
    }, this.#pollIntervalMs);
    await this.#fill();
  }

  #onNotify(channel: string, payload: string): void {
    if (channel === CHANNEL.jobs) {
      if (payload === this.queue) void this.#fill();
      return;
    }
    if (channel !== CHANNEL.cancel) return;
    let notice: CancelNotice;
    try {
      notice = JSON.parse(payload) as CancelNotice;
    } catch {
      return;
    }
    const running = this.#running.get(notice.id);
    if (running) this.#abort(running, 'caller', fromRecord(notice.reason));
  }

  #abort(running: Running, why: 'caller' | 'release', reason: unknown): void {
    if (running.why) return;
    running.why = why;
    running.controller.abort(reason);
  }

  /** Takes jobs while there is room; one fill at a time (a call meanwhile makes it look once more). */
  async #fill(): Promise<void> {
    if (this.#filling) {
      this.#fillAgain = true;
      return;
    }
    this.#filling = true;
    try {
      do {
        this.#fillAgain = false;
        while (this.#accepting && this.#running.size < this.concurrency) {
          const room = this.concurrency - this.#running.size;
          const jobs = await this.#connection.transaction((db) => this.#connection.boss.fetch<unknown>(this.queue, { batchSize: room, includeMetadata: true, db }));
          for (const job of jobs) this.#take(job);
          if (jobs.length < room) break;
        }
      } while (this.#fillAgain && this.#accepting);
    } catch (error) {
      process.emitWarning(`spanflow worker of queue '${this.queue}': could not fetch jobs: ${error instanceof Error ? error.message : String(error)}`, { type: 'SpanflowRemoteWarning' });
    } finally {
      this.#filling = false;
    }
  }

  #take(job: JobWithMetadata<unknown>): void {
    const controller = new AbortController();
    const running: Running = { controller, done: Promise.resolve(), why: undefined };
    this.#running.set(job.id, running);
    // A job fetched as the worker began to stop is given back at once.
    if (!this.#accepting) running.why = 'release';
    (running as { done: Promise<void> }).done = this.#run(job, running).finally(() => {
      this.#running.delete(job.id);
      this.#processed++;
      if (this.#running.size === 0) this.#stopHeartbeat();
      void this.#fill();
    });
  }

  async #run(job: JobWithMetadata<unknown>, running: Running): Promise<void> {
    const data = job.data as Partial<JobData> | null;
    if (!isJobData(data)) {
      return this.#settle(job.id, running, { ok: false, kind: 'bad-job', error: errorRecord(new Error(`job ${job.id} on queue '${this.queue}' was not sent by spanflow's dispatcher: its data has no module, export, input and key`)) });
    }
    this.#beat(data.heartbeatMs);
    if (running.why === 'release') return this.#settle(job.id, running, released(running.controller.signal.reason ?? stoppedBefore(this.queue)));
    let path: string;
    try {
      path = fileURLToPath(data.module);
    } catch {
      return this.#settle(job.id, running, refused(`module ${data.module} is not a file URL`));
    }
    const inside = relative(this.root, path);
    if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) {
      return this.#settle(job.id, running, refused(`module ${path} is outside this worker's root ${this.root}: start the worker with a root that holds it (spanflow worker --root <folder>)`));
    }
    const pool = this.#threads;
    const modulePath = shown(path);
    // In this process the export is loaded here (a pool loads it in its threads, and says if it cannot).
    const loaded = pool ? undefined : await loadExport(data.module, data.export);
    if (loaded && !loaded.ok) return this.#settle(job.id, running, { ok: false, kind: loaded.kind, error: errorRecord(loaded.error) });

    const names = { exportName: data.export, modulePath, queue: this.queue };
    const { span, context: spanContext } = startProcessSpan(names, data.carrier, job.id, data.key);
    const waitMs = job.startedOn && job.createdOn ? new Date(job.startedOn).getTime() - new Date(job.createdOn).getTime() : undefined;
    const { signal } = running.controller;
    const plain = { idempotencyKey: data.key, attempt: data.attempt, jobId: job.id, queue: this.queue };
    let outcome: JobOutput;
    let error: unknown;
    try {
      const input: unknown = JSON.parse(data.input);
      const work = context.with(spanContext, () =>
        pool
          ? pool.run({ module: data.module, exportName: data.export, modulePath, label: `${data.export} (${basename(path)})` }, input, signal, plain)
          : (loaded as { fn: (input: unknown, context: RemoteContext) => unknown }).fn(input, { ...plain, signal }),
      );
      const value = await untilAborted(work, signal);
      outcome = value === undefined ? { ok: true } : { ok: true, output: safeJson(value) };
    } catch (thrown) {
      error = signal.aborted ? signal.reason : thrown;
      // Read again: it changes while the task runs (TypeScript keeps the narrowing from before the await).
      outcome = (running.why as Running['why']) === 'release' ? released(error) : failed(thrown);
    }
    endJobSpan(span, { id: job.id, waitMs }, error);
    await this.#settle(job.id, running, outcome);
  }

  /** Writes the job's end (unless its caller gave it up: it is cancelled already) and tells the caller. */
  async #settle(id: string, running: Running, outcome: JobOutput): Promise<void> {
    if (running.why === 'caller') return;
    const { boss } = this.#connection;
    // Through the one serializer: a thrown value JSON cannot hold (a bigint) must not cost the result.
    const output = JSON.parse(safeJson(outcome)) as object;
    try {
      // The job's end and its caller's notification commit together.
      await this.#connection.transaction(async (db) => {
        if (outcome.ok) await boss.complete(this.queue, id, output, { db });
        else await boss.fail(this.queue, id, output, { db });
        await db.executeSql('SELECT pg_notify($1, $2)', [CHANNEL.done, id]);
      });
    } catch (error) {
      process.emitWarning(`spanflow worker of queue '${this.queue}': could not write the end of job ${id}: ${error instanceof Error ? error.message : String(error)} (its caller finds it by its heartbeat)`, {
        type: 'SpanflowRemoteWarning',
      });
    }
  }

  /** Touches the running jobs' heartbeat every `ms` (the least any running job asks for). */
  #beat(ms: number): void {
    if (this.#heartbeat && ms >= this.#heartbeatMs) return;
    this.#stopHeartbeat();
    this.#heartbeatMs = ms;
    this.#heartbeat = setInterval(() => void this.#touch(), ms);
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#heartbeatMs = Number.POSITIVE_INFINITY;
  }

  /** One heartbeat for every running job; a job no longer active (its caller cancelled it, or judged it lost) is aborted here. */
  async #touch(): Promise<void> {
    const ids = [...this.#running.keys()];
    if (ids.length === 0) return;
    let touched: Set<string>;
    try {
      const response = (await this.#connection.transaction((db) => this.#connection.boss.touch(this.queue, ids, { db }))) as { settled?: string[]; jobs?: string[] };
      touched = new Set(response.settled ?? []);
    } catch {
      // The database is unreachable: say nothing of the jobs (the next beat tries again).
      return;
    }
    for (const id of ids) {
      const running = this.#running.get(id);
      if (running && !touched.has(id)) this.#abort(running, 'caller', new Error(`job ${id} is no longer active: its caller cancelled it or judged its worker lost`));
    }
  }

  /**
   * Stops taking jobs, lets the running ones finish for up to `timeoutMs`, then
   * aborts the rest and gives them back (their attempts fail with a
   * WorkerLostError; the callers' retry policies send them again). Idempotent.
   */
  stop(options: StopOptions = {}): Promise<void> {
    this.#stopping ??= (async () => {
      this.#accepting = false;
      if (this.#poll) clearInterval(this.#poll);
      const timeoutMs = options.timeoutMs ?? 30_000;
      const all = () => Promise.allSettled([...this.#running.values()].map((running) => running.done));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([all(), new Promise<void>((done) => (timer = setTimeout(done, timeoutMs)))]);
      clearTimeout(timer);
      for (const running of this.#running.values()) this.#abort(running, 'release', stoppedBefore(this.queue));
      await all();
      // A fill in flight may still take jobs: they are given back as they come.
      while (this.#filling) await new Promise((done) => setTimeout(done, 10));
      await all();
      this.#stopHeartbeat();
      await this.#threads?.close();
      await this.#connection.close();
    })();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

function stoppedBefore(queue: string): Error {
  return new Error(`the worker of queue '${queue}' stopped before the job ended`);
}

function isJobData(data: Partial<JobData> | null): data is JobData {
  return (
    typeof data === 'object' &&
    data !== null &&
    typeof data.module === 'string' &&
    typeof data.export === 'string' &&
    typeof data.input === 'string' &&
    typeof data.key === 'string' &&
    typeof data.attempt === 'number' &&
    typeof data.heartbeatMs === 'number'
  );
}

/** What a task that did not end well is, as its caller should see it. */
function failed(thrown: unknown): JobOutput {
  // On the worker's threads: the pool's own errors say what the task is (declared wrong, or threw).
  if (thrown instanceof WorkerDefinitionError) return { ok: false, kind: 'definition', error: errorRecord(thrown) };
  if (thrown instanceof WorkerTaskError) return { ok: false, kind: 'threw', error: errorRecord(thrown.cause) };
  return { ok: false, kind: 'threw', error: errorRecord(thrown) };
}

function refused(message: string): JobOutput {
  return { ok: false, kind: 'refused', error: errorRecord(new Error(message)) };
}

function released(reason: unknown): JobOutput {
  return { ok: false, kind: 'released', error: errorRecord(reason) };
}

/**
 * Starts a worker on `queue`: resolves once it listens and has looked for jobs.
 * Run as many as you like, on as many machines, against one Postgres.
 */
export async function startWorker(options: WorkerOptions): Promise<RemoteWorker> {
  const worker = new RemoteWorker(options);
  try {
    await worker.start();
  } catch (error) {
    await worker.stop({ timeoutMs: 0 }).catch(() => {});
    throw error;
  }
  return worker;
}
