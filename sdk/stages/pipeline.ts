import { DefinitionError, messageOf, SpanflowError } from '../errors.ts';
import { checkRetry, describe } from '../options.ts';
import { didYouMean } from '../suggest.ts';
import { Batch, type BatchOptions } from './run.ts';
import { describeStages } from './describe.ts';
import type {
  BatchResult,
  FeedOptions,
  ItemOutcome,
  PipelineSnapshot,
  StageOptions,
  StagePipelineOptions,
  StageRetry,
  Task,
  TaskSpec,
} from './types.ts';

/** A stage as the runner sees it: options checked, tasks named. */
export interface StageDef {
  readonly name: string;
  readonly workers: number;
  readonly capacity: number;
  readonly tasks: readonly TaskSpec<unknown, unknown>[];
  readonly retry: StageRetry;
  readonly timeout: number | undefined;
  readonly skip: StageOptions<unknown, unknown>['skip'];
  readonly onSuccess: StageOptions<unknown, unknown>['onSuccess'];
  readonly onFailure: StageOptions<unknown, unknown>['onFailure'];
}

/**
 * What `item()` takes besides the value. An `id` is kept as a string, so dashboards, events and
 * stored rows all show the same text: a number or bigint becomes its decimal text (`42` -> `'42'`),
 * `null` or `undefined` means none (the item is named by its feed position). Anything else (an
 * object, an array, a boolean) is refused with a TypeError when the item is made: its text would
 * be a guess (`[object Object]`, or JSON whose key order can vary), so build the string yourself,
 * e.g. `{ id: \`${order.id}-${order.line}\` }` or `{ id: JSON.stringify(key) }`.
 */
export interface ItemOptions {
  readonly id?: string | number | bigint | null;
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** Lower runs first; first-in first-out within one priority. Default: the feed's, else 0. */
  readonly priority?: number;
}

/** An id as the engine keeps it (see `ItemOptions.id`). */
function itemId(id: unknown): string | undefined {
  if (typeof id === 'string') return id;
  if (typeof id === 'number' || typeof id === 'bigint') return String(id);
  if (id === undefined || id === null) return undefined;
  throw new TypeError(
    `item(value, { id }): id must be a string, a number or a bigint (got ${Array.isArray(id) ? 'an array' : describe(id)}); build a string from it, e.g. { id: \`\${order.id}-\${order.line}\` } or { id: JSON.stringify(key) }`,
  );
}

/** An item with its own id, metadata or priority, for `feed` / `run`. */
export class Item<T> {
  readonly value: T;
  /** Always a string (or undefined for none): see `ItemOptions.id`. */
  readonly id: string | undefined;
  readonly metadata: Readonly<Record<string, unknown>> | undefined;
  readonly priority: number | undefined;
  constructor(value: T, options: ItemOptions = {}) {
    this.value = value;
    this.id = itemId(options?.id);
    this.metadata = options?.metadata;
    this.priority = options?.priority;
  }
}

/** Wraps a value with a custom id, metadata or priority. A number or bigint id becomes a string; see `ItemOptions`. */
export function item<T>(value: T, options?: ItemOptions): Item<T> {
  return new Item(value, options);
}

export type Feedable<T> = Iterable<T | Item<T>> | AsyncIterable<T | Item<T>>;

/** Refuses what `feed()` cannot take (checked before a batch starts, so a wrong call leaves no run behind). */
export function checkFeedable(pipeline: string, items: unknown): void {
  if (typeof items === 'string' || typeof items !== 'object' || items === null || !(Symbol.iterator in items || Symbol.asyncIterator in items)) {
    throw new TypeError(
      `feed() of '${pipeline}' takes an array, an iterable or an async iterable of items (got ${typeof items === 'string' ? 'a string' : items === null ? 'null' : typeof items}); wrap a single item in an array: feed([value])`,
    );
  }
}

/**
 * A feed source (an iterable or async iterable given to `feed`, `run`, `stream` or `map`)
 * threw, or its iterator's `next()` rejected. The batch ends `failed` with this as its error;
 * the items the source gave before still finish and are reported. `cause` is the source's error.
 */
export class FeedError extends SpanflowError {
  override name = 'FeedError';
  /** Items taken from this source before it threw. */
  readonly fed: number;
  constructor(pipeline: string, fed: number, cause: unknown) {
    super(`the feed source of '${pipeline}' threw after ${fed} item${fed === 1 ? '' : 's'}: ${messageOf(cause)}`, { cause });
    this.fed = fed;
  }
}

function positive(pipeline: string, what: string, value: number | undefined, fallback: number): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < 1) throw new DefinitionError(pipeline, [`${what} must be a whole number of 1 or more (got ${describe(value)})`]);
  return n;
}

function nameTasks<In, Out>(pipeline: string, stage: string, options: StageOptions<In, Out>): TaskSpec<unknown, unknown>[] {
  const list = (Array.isArray(options.tasks) ? options.tasks : [options.tasks]) as Task<unknown, unknown>[];
  if (list.length === 0) throw new DefinitionError(pipeline, [`stage '${stage}' has no tasks: give it tasks: fn or tasks: [fn, ...]`]);
  const seen = new Set<string>();
  return list.map((task, i) => {
    if (typeof task !== 'function' && (typeof task !== 'object' || task === null)) {
      throw new DefinitionError(pipeline, [
        `stage '${stage}': task ${i + 1} must be a function or { name, run(value, ctx) } (got ${describe(task)}): tasks: fn or tasks: [fn, ...]`,
      ]);
    }
    // An anonymous arrow takes the name of the property it is written in (`tasks`): not a useful name.
    const named = typeof task === 'function' && task.name !== '' && task.name !== 'tasks' ? task.name : undefined;
    const spec: TaskSpec<unknown, unknown> =
      typeof task === 'function' ? { name: named ?? (list.length === 1 ? stage : `${stage}#${i + 1}`), run: task } : task;
    if (typeof spec.name !== 'string' || spec.name === '') {
      throw new DefinitionError(pipeline, [`stage '${stage}': task ${i + 1} needs a name, a non-empty string (got ${describe(spec.name)}): { name: 'parse', run(value, ctx) }`]);
    }
    if (typeof spec.run !== 'function') {
      throw new DefinitionError(pipeline, [`stage '${stage}': task ${i + 1} has no run function (got ${describe(spec.run)}): give it { name, run(value, ctx) }`]);
    }
    checkRetry(pipeline, `stage '${stage}' task '${spec.name}'`, spec.retry);
    if (spec.timeout !== undefined && !(spec.timeout > 0)) {
      throw new DefinitionError(pipeline, [`stage '${stage}' task '${spec.name}': timeout must be a positive number of ms (got ${describe(spec.timeout)})`]);
    }
    const name = seen.has(spec.name) ? `${spec.name}#${i + 1}` : spec.name;
    seen.add(name);
    if (spec.concurrency !== undefined) positive(pipeline, `stage '${stage}' task '${name}' concurrency`, spec.concurrency, 1);
    return { ...spec, name };
  });
}

/**
 * A stage pipeline: items flow through a chain of stages, each with its own
 * workers running one or more tasks in order. `In` is what you feed, `Out`
 * what comes out of the last stage. Each `.stage()` returns a new pipeline,
 * so a definition is never changed under a running batch.
 */
export class StagePipeline<In, Out> {
  readonly name: string;
  readonly options: StagePipelineOptions;
  readonly stages: readonly StageDef[];
  #latest: Batch<In, Out> | undefined;

  constructor(name: string, options: StagePipelineOptions = {}, stages: readonly StageDef[] = []) {
    if (typeof name !== 'string' || !name) {
      throw new DefinitionError('(unnamed)', [`a stage pipeline needs a name, a non-empty string (got ${describe(name)}): stages("my-pipeline")`]);
    }
    this.name = name;
    this.options = options;
    this.stages = stages;
  }

  /** Adds a stage whose tasks take what the previous stage gives and return `Next`. */
  stage<Next>(name: string, options: StageOptions<Out, Next>): StagePipeline<In, Next> {
    if (typeof name !== 'string' || !name) throw new DefinitionError(this.name, [`a stage needs a name, a non-empty string (got ${describe(name)})`]);
    if (typeof options !== 'object' || options === null) {
      throw new DefinitionError(this.name, [`stage '${name}': options must be an object, { tasks, workers, ... } (got ${describe(options)})`]);
    }
    checkRetry(this.name, `stage '${name}'`, options.retry);
    if (this.stages.some((s) => s.name === name)) throw new DefinitionError(this.name, [`stage '${name}' is defined twice: stage names must be unique`]);
    const workers = positive(this.name, `stage '${name}' workers`, options.workers, 1);
    const retry: StageRetry = typeof options.retry === 'number' ? { attempts: options.retry } : (options.retry ?? { attempts: 1 });
    if (retry.mode !== undefined && retry.mode !== 'task' && retry.mode !== 'stage') {
      throw new DefinitionError(this.name, [`stage '${name}': retry mode must be 'task' or 'stage' (got ${describe(retry.mode)})`]);
    }
    if (options.timeout !== undefined && !(options.timeout > 0)) {
      throw new DefinitionError(this.name, [`stage '${name}': timeout must be a positive number of ms (got ${describe(options.timeout)})`]);
    }
    const def: StageDef = {
      name,
      workers,
      capacity: positive(this.name, `stage '${name}' capacity`, options.capacity, workers * 4),
      tasks: nameTasks(this.name, name, options),
      retry,
      timeout: options.timeout,
      skip: options.skip as StageDef['skip'],
      onSuccess: options.onSuccess as StageDef['onSuccess'],
      onFailure: options.onFailure,
    };
    return new StagePipeline<In, Next>(this.name, this.options, [...this.stages, def]);
  }

  /** Starts a batch to feed by hand: `start()`, `feed()` as often as needed, then `join()` (or `shutdown()`). */
  start(options: BatchOptions = {}): Batch<In, Out> {
    if (this.stages.length === 0) throw new DefinitionError(this.name, ['it has no stages: add one with .stage(name, { tasks })']);
    const batch = new Batch<In, Out>(this, options);
    this.#latest = batch;
    return batch;
  }

  /** A Mermaid flowchart of the pipeline: its chain of stages, with their workers and tasks. */
  toMermaid(): string {
    return describeStages(this as StagePipeline<unknown, unknown>).mermaid;
  }

  /** A snapshot of the batch started last (by `run`, `stream` or `start`), or undefined before the first. */
  snapshot(): PipelineSnapshot | undefined {
    return this.#latest?.snapshot();
  }

  /**
   * Feeds every item, waits for all to finish, and returns outcomes in input order. A source
   * that throws ends the batch `failed` with a `FeedError` (`result.error`, its `cause` the
   * source's error); the items it gave before still finish and are in the result.
   */
  async run(items: Feedable<In>, options: BatchOptions & FeedOptions = {}): Promise<BatchResult<Out>> {
    this.#checkFeed(items, options);
    const batch = this.start(Array.isArray(items) && options.expected === undefined ? { ...options, expected: items.length } : options);
    try {
      await batch.feed(items, options);
    } catch (error) {
      // The source's own error is the batch's: join() ends it failed, naming it. Anything else is not ours to report.
      if (batch.feedError === undefined) {
        await batch.shutdown();
        throw error;
      }
    }
    return batch.join();
  }

  /**
   * Feeds `items` and yields each item's outcome as it finishes (completion
   * order). Breaking out of the loop shuts the batch down cleanly. A source that
   * throws: the items it gave before finish and are yielded, then its error is thrown.
   */
  async *stream(items: Feedable<In>, options: BatchOptions & FeedOptions = {}): AsyncGenerator<ItemOutcome<Out>, BatchResult<Out>, undefined> {
    this.#checkFeed(items, options);
    const batch = this.start({
      ...options,
      collectResults: false,
      ...(Array.isArray(items) && options.expected === undefined ? { expected: items.length } : {}),
    });
    const outcomes = batch.outcomes();
    let failed: { readonly error: unknown } | undefined;
    const feeding = batch.feed(items, options).then(
      () => batch.join(),
      (error: unknown) => {
        failed = { error };
        // The source's own error: what it gave still finishes. Anything else stops the batch.
        return batch.feedError === undefined ? batch.shutdown() : batch.join();
      },
    );
    let finished = false;
    try {
      for await (const outcome of outcomes) yield outcome;
      finished = true;
    } finally {
      if (!finished) await batch.shutdown();
    }
    const result = await feeding;
    if (failed) throw failed.error;
    return result;
  }

  /** What `feed()` would refuse, refused before a batch (and a stored run) is started for it. */
  #checkFeed(items: unknown, options: FeedOptions): void {
    checkFeedable(this.name, items);
    if (options.stage !== undefined) this.stageIndex(options.stage);
  }

  /** Checks a stage name, with a suggestion when it is close to one. */
  stageIndex(name: string): number {
    const index = this.stages.findIndex((s) => s.name === name);
    if (index < 0) throw new DefinitionError(this.name, [`no stage named '${name}'.${didYouMean(name, this.stages.map((s) => s.name))}`]);
    return index;
  }
}

/** Starts a stage pipeline definition. `In` is the type of the items you feed. */
export function stages<In>(name: string, options?: StagePipelineOptions): StagePipeline<In, In> {
  return new StagePipeline<In, In>(name, options);
}
