// The store's side of the SQLite worker thread: requests by id, each settled
// by its reply. The worker keeps the process alive only while a request is
// under way: idle, it is unref'd, so a script with nothing else to do still
// ends (and the default store's beforeExit still comes). A worker that fails
// or exits fails every request under way, and every later one at once, with
// an EmbeddedWorkerError: no retry brings it back.

import { Worker } from 'node:worker_threads';
import { messageOf } from '../../../sdk/index.ts';
import { EmbeddedWorkerError, fromWorker } from './errors.ts';
import type { Reply, Request, Result } from './protocol.ts';

/** The worker's module: the .ts source when running from source, the built .js in the package. */
export const WORKER = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url);

/** A request without its id (each kind of request on its own). */
type Ask<R extends Request = Request> = R extends Request ? Omit<R, 'id'> : never;

export class WorkerPort {
  /** The database file, for messages. */
  readonly where: string;
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (result: Result) => void; reject: (error: Error) => void }>();
  #nextId = 1;
  /** Why nothing reaches the worker any more, once it is gone. */
  #gone: Error | undefined;
  #closing = false;

  /** Starts the worker thread (`entry`: another module, for tests of a worker that dies). */
  constructor(where: string, entry: URL = WORKER) {
    this.where = where;
    // No execArgv of the application's (its --import or --require preloads, an OpenTelemetry agent) in this thread.
    this.#worker = new Worker(entry, { execArgv: [], name: 'spanflow sqlite' });
    this.#worker.unref();
    this.#worker.on('message', (reply: Reply) => this.#settle(reply));
    this.#worker.on('error', (error) => this.#fail(`failed: ${messageOf(error)}`));
    this.#worker.on('exit', (code) => this.#fail(this.#closing ? 'was closed' : `exited (code ${code})`));
  }

  /** Sends a request; settles with its reply. */
  request(ask: Ask): Promise<Result> {
    if (this.#gone) return Promise.reject(this.#gone);
    const id = this.#nextId++;
    return new Promise<Result>((resolve, reject) => {
      // Under way: the worker keeps the process alive until the reply comes.
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...ask, id } as Request);
    });
  }

  /** Closes the database (after the requests before) and ends the thread. */
  async close(): Promise<void> {
    if (this.#gone) return;
    try {
      await this.request({ op: 'close' });
    } finally {
      this.terminate();
    }
  }

  /**
   * Ends the thread now (a close that gave up waiting); the requests under way
   * fail. A thread inside a SQLite call (waiting for another process's lock)
   * ends as that call returns: it no longer keeps the process alive meanwhile.
   */
  terminate(): void {
    this.#closing = true;
    this.#worker.unref();
    void this.#worker.terminate();
    this.#fail('was closed');
  }

  #settle(reply: Reply): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.#worker.unref();
    if (reply.ok) pending.resolve(reply);
    else pending.reject(fromWorker(reply.error));
  }

  #fail(what: string): void {
    if (this.#gone) return;
    this.#gone = new EmbeddedWorkerError(
      this.#closing
        ? `the embedded database at ${this.where} was closed`
        : `the embedded database's worker thread ${what}: nothing more can be written to ${this.where} or read from it by this store (open a new one)`,
    );
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const { reject } of pending) reject(this.#gone);
  }
}
