// Declaring a task that runs on a distributed queue: a module and the export to
// call, exactly as workerTask() names them, and the queue and dispatcher that
// carry it. What remoteTask() returns is a function usable as a graph step and
// as a stage task, so retry, timeout, events and spans stay the engine's own.

import { basename, extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StepArgs, TaskContext } from '../sdk/index.ts';
import { moduleUrl, shown, WorkerDefinitionError } from '../worker-threads/index.ts';
import { Dispatcher, type RemoteRef } from './dispatcher.ts';

/** What the task's code is given besides its input, in the worker process. */
export interface RemoteContext {
  /** Fires when the caller's attempt times out or its run is cancelled, or the worker stops. */
  readonly signal: AbortSignal;
  /**
   * `runId:node:item`, the same for every attempt of the same work (a graph
   * step: its name, and its map index or `-`; a stage task: `stage/task`, and
   * the item's id). Execution is at least once: make side effects idempotent
   * with it (an upsert keyed on it, an idempotency header).
   */
  readonly idempotencyKey: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly jobId: string;
  readonly queue: string;
}

/** What a remote task's module exports: a function of its input (and the RemoteContext), sync or async. */
export type RemoteFn = (input: never, context: RemoteContext) => unknown;

export type RemoteInputOf<Fn extends RemoteFn> = Fn extends (input: infer I, context: RemoteContext) => unknown ? I : never;
export type RemoteOutputOf<Fn extends RemoteFn> = Awaited<ReturnType<Fn>>;

export interface RemoteTaskOptions {
  /** The pg-boss queue its jobs go to; `spanflow worker --queue <name>` takes them. */
  readonly queue: string;
  /** Sends the jobs and brings the results back: `createDispatcher({ pool })`. */
  readonly dispatcher: Dispatcher;
}

export interface RunRemoteOptions {
  readonly signal?: AbortSignal;
  /** The idempotency key the task's code is given. Default: a fresh random one. */
  readonly idempotencyKey?: string;
}

/**
 * A task that runs on a worker process of a distributed queue. Use it as a
 * stage task (`tasks: render`; its input is the item's value), as a graph step
 * (`.step('render', render)`; its input is the run's state, a map worker's its
 * item), or from any code (`await render.run(input, { signal })`). Input and
 * output cross as JSON (the engine's serializer). The attempt's signal (its
 * timeout, the run's cancellation) fires inside the worker.
 */
export interface RemoteTask<In, Out> {
  (value: In, context: TaskContext): Promise<Out>;
  <S, C, I>(args: StepArgs<S, C, I>): Promise<Out>;
  run(input: In, options?: RunRemoteOptions): Promise<Out>;
  readonly name: string;
  readonly module: string;
  readonly exportName: string;
  readonly queue: string;
  readonly dispatcher: Dispatcher;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const QUEUE = /^[\w.\-/]{1,100}$/;

/**
 * Declares a task that runs remotely: `exportName` of `module` (a file URL:
 * `new URL('./render.ts', import.meta.url)`), on a worker of `queue`. The same
 * module and export run unchanged in-process, on a thread pool
 * (`workerTask()`) or here. Type it from the function:
 * `remoteTask<typeof render>(...)`. Problems are WorkerDefinitionErrors naming the fix.
 */
export function remoteTask<Fn extends RemoteFn = (input: unknown, context: RemoteContext) => unknown>(
  module: URL | string,
  exportName: string,
  options: RemoteTaskOptions,
): RemoteTask<RemoteInputOf<Fn>, RemoteOutputOf<Fn>> {
  const named = typeof exportName === 'string' && exportName !== '' ? exportName : '(no export)';
  const subject = `remote task ${named}`;
  if (typeof exportName !== 'string' || !(IDENTIFIER.test(exportName) || exportName === 'default')) {
    throw new WorkerDefinitionError('remote task', `exportName must be the name of a function the module exports, as 'render' (got ${typeof exportName === 'string' ? `'${exportName}'` : typeof exportName})`);
  }
  const url = moduleUrl(module, subject);
  if (typeof options !== 'object' || options === null) throw new WorkerDefinitionError(subject, "options must be an object, { queue: 'render', dispatcher }");
  for (const key of Object.keys(options)) {
    if (key !== 'queue' && key !== 'dispatcher') throw new WorkerDefinitionError(subject, `unknown option '${key}': the options are queue and dispatcher`);
  }
  const { queue, dispatcher } = options;
  if (typeof queue !== 'string' || !QUEUE.test(queue)) {
    throw new WorkerDefinitionError(subject, `queue must name a queue in letters, digits, '_', '-', '.' or '/' (got ${typeof queue === 'string' ? `'${queue}'` : typeof queue})`);
  }
  if (!(dispatcher instanceof Dispatcher)) throw new WorkerDefinitionError(subject, 'dispatcher must be a Dispatcher: createDispatcher({ pool }) or createDispatcher({ connectionString })');
  const path = fileURLToPath(url);
  const ref: RemoteRef = { module: url.href, exportName, modulePath: shown(path), label: `${exportName} (${basename(path)})`, queue };

  const task = (first: unknown, second?: unknown): Promise<unknown> => {
    if (second !== null && typeof second === 'object' && 'stage' in second) {
      const context = second as TaskContext;
      return dispatcher.run(ref, first, { signal: context.signal, key: `${context.runId}:${context.stage}/${context.task}:${context.item.id}`, attempt: context.attempt });
    }
    const args = first as StepArgs<unknown, unknown, unknown>;
    const item = args.index === undefined ? '-' : String(args.index);
    return dispatcher.run(ref, args.index === undefined ? args.state : args.item, { signal: args.signal, key: `${args.runId}:${args.node}:${item}`, attempt: args.attempt });
  };
  Object.defineProperty(task, 'name', { value: exportName === 'default' ? basename(path, extname(path)) : exportName });
  return Object.assign(task, {
    run: (input: unknown, runOptions: RunRemoteOptions = {}) => dispatcher.run(ref, input, { signal: runOptions.signal, key: runOptions.idempotencyKey ?? crypto.randomUUID(), attempt: 1 }),
    module: url.href,
    exportName,
    queue,
    dispatcher,
  }) as unknown as RemoteTask<RemoteInputOf<Fn>, RemoteOutputOf<Fn>>;
}
