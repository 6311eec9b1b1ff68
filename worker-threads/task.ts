// Declaring a CPU-bound step or task: a worker module and the export to call.
// What `workerTask()` returns is a function usable both as a graph step and as
// a stage task, so retry, timeout, events and spans stay the engine's own: the
// worker pool is only where the attempt runs (docs/architecture.md, "The task
// seam").

import { statSync } from 'node:fs';
import { basename, extname, isAbsolute, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { checkPeers, type StepArgs, type TaskContext } from '../sdk/index.ts';
import { WorkerDefinitionError } from './errors.ts';
import { defaultPool, type TaskRef, WorkerPool } from './pool.ts';
import type { Transfer, Unwrapped } from './transfer.ts';

/** What a worker module exports: a function of one input (sync or async). */
export type WorkerFn = (input: never) => unknown;

export type InputOf<Fn extends WorkerFn> = Fn extends (input: infer I) => unknown ? I : never;
export type OutputOf<Fn extends WorkerFn> = Unwrapped<Awaited<ReturnType<Fn>>>;

export interface WorkerTaskOptions {
  /** The pool to run on. Default: the process's shared pool (`defaultPool()`). */
  readonly pool?: WorkerPool;
}

export interface RunOnPoolOptions {
  /** Stops the task: the thread running it is stopped and replaced. Give it a step's or task's `signal`. */
  readonly signal?: AbortSignal;
}

/**
 * A CPU-bound task that runs on a worker thread. Use it as
 * - a stage task: `tasks: renderFrames` (or in a list, or as `{ name, run: renderFrames, retry }`);
 *   its input is the item's value;
 * - a graph step: `.step('render', renderFrames)`; its input is the run's state
 *   (a map worker's: its item), copied, so the step cannot change the state:
 *   its output is the step's output;
 * - from any code: `await renderFrames.run(input, { signal })`, such as a step
 *   that builds the input from the state and puts the output back.
 * The attempt's signal (its timeout, the run's cancellation) stops the task
 * inside the worker.
 */
export interface WorkerTask<In, Out> {
  /** As a stage task. */
  (value: In, context: TaskContext): Promise<Out>;
  /** As a graph step. */
  <S, C, I>(args: StepArgs<S, C, I>): Promise<Out>;
  /** Runs the task once on its pool. Wrap the input in `transfer()` to move its buffers rather than copy them. */
  run(input: In | Transfer<In>, options?: RunOnPoolOptions): Promise<Out>;
  /** The export's name (a stage names the task by it). */
  readonly name: string;
  /** The module's file URL. */
  readonly module: string;
  readonly exportName: string;
  /** The pool it was given; undefined: the default pool. */
  readonly pool: WorkerPool | undefined;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** The module's file URL, checked: it must name a file that exists. */
export function moduleUrl(module: URL | string, subject: string): URL {
  const howTo = "give it as new URL('./render.ts', import.meta.url)";
  let url: URL;
  if (module instanceof URL) url = module;
  else if (typeof module === 'string' && module.startsWith('file:')) url = new URL(module);
  else if (typeof module === 'string' && isAbsolute(module)) url = pathToFileURL(module);
  else if (typeof module === 'string') {
    throw new WorkerDefinitionError(subject, `module '${module}' is not a file URL or an absolute path (a relative path would be resolved from spanflow's folder, not yours): ${howTo}`);
  } else throw new WorkerDefinitionError(subject, `module must be a file URL or an absolute path (got ${typeof module}): ${howTo}`);
  if (url.protocol !== 'file:') throw new WorkerDefinitionError(subject, `module ${url.href} is not a file: worker modules are files, ${howTo}`);
  const path = fileURLToPath(url);
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    throw new WorkerDefinitionError(subject, `module ${path} does not exist: check the path (relative to the file that declares the task when you ${howTo})`);
  }
  if (!isFile) throw new WorkerDefinitionError(subject, `module ${path} is not a file: name the worker module itself`);
  return url;
}

/** A path for people: relative to the working directory when under it. */
export function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split(sep).join('/') : path;
}

/**
 * Declares a CPU-bound task: `exportName` of the worker module `module` (a
 * TypeScript or JavaScript file: `new URL('./render.ts', import.meta.url)`),
 * called on a worker thread with one input, its result sent back. Type it
 * from the function itself: `workerTask<typeof renderFrames>(...)` with
 * `import type { renderFrames } from './render.ts'`. The module and export are
 * checked here (the export at the first run: the module is not loaded on
 * this thread), each problem a WorkerDefinitionError naming the fix.
 */
export function workerTask<Fn extends WorkerFn = (input: unknown) => unknown>(
  module: URL | string,
  exportName: string,
  options: WorkerTaskOptions = {},
): WorkerTask<InputOf<Fn>, OutputOf<Fn>> {
  // Its pool is made at the first run: say now, at the definition, if what the pool needs is not installed.
  checkPeers('spanflow/workers');
  const named = typeof exportName === 'string' && exportName !== '' ? exportName : '(no export)';
  if (typeof exportName !== 'string' || !(IDENTIFIER.test(exportName) || exportName === 'default')) {
    throw new WorkerDefinitionError('worker task', `exportName must be the name of a function the module exports, as 'renderFrames' (got ${typeof exportName === 'string' ? `'${exportName}'` : typeof exportName})`);
  }
  const url = moduleUrl(module, `worker task ${named}`);
  const path = fileURLToPath(url);
  if (typeof options !== 'object' || options === null) throw new WorkerDefinitionError(`worker task ${named}`, 'options must be an object, { pool }');
  for (const key of Object.keys(options)) {
    if (key !== 'pool') throw new WorkerDefinitionError(`worker task ${named}`, `unknown option '${key}': the only option is pool (a WorkerPool)`);
  }
  const pool = options.pool;
  if (pool !== undefined && !(pool instanceof WorkerPool)) {
    throw new WorkerDefinitionError(`worker task ${named}`, 'pool must be a WorkerPool: new WorkerPool({ name, maxThreads, ... }), or leave it out for the default pool');
  }
  const ref: TaskRef = { module: url.href, exportName, modulePath: shown(path), label: `${exportName} (${basename(path)})` };
  const run = (input: unknown, signal: AbortSignal | undefined) => (pool ?? defaultPool()).run(ref, input, signal);

  // Two parameters, so a stage passes its task context (and with it the attempt's signal).
  const task = (first: unknown, second?: unknown): Promise<unknown> => {
    if (second !== null && typeof second === 'object' && 'stage' in second) return run(first, (second as TaskContext).signal);
    const args = first as StepArgs<unknown, unknown, unknown>;
    return run(args.index === undefined ? args.state : args.item, args.signal);
  };
  // A stage names a function task by its name: the export's, or the module's for a default export.
  const name = exportName === 'default' ? basename(path, extname(path)) : exportName;
  Object.defineProperty(task, 'name', { value: name });
  return Object.assign(task, {
    run: (input: unknown, runOptions?: RunOnPoolOptions) => run(input, runOptions?.signal),
    module: url.href,
    exportName,
    pool,
  }) as unknown as WorkerTask<InputOf<Fn>, OutputOf<Fn>>;
}
