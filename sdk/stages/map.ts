import { SpanflowError } from '../errors.ts';
import type { RetryPolicy } from '../executor.ts';
import { type Feedable, FeedError, stages } from './pipeline.ts';
import type { FailedItem, TaskContext } from './types.ts';

export interface MapOptions {
  /** Items in flight at once. Default 8. */
  readonly concurrency?: number;
  /** Retries after the first attempt (a number), or a full retry policy. Default 0. */
  readonly retries?: number | RetryPolicy;
  /** Per attempt, in ms. */
  readonly timeout?: number;
  /** Stops the work: items not done fail with a CancelledError. */
  readonly signal?: AbortSignal;
}

/**
 * Some items of a `map()` failed, or its items' source threw (`cause` is then the `FeedError`,
 * whose `cause` is the source's error). Nothing is dropped: the results that did complete are here too.
 */
export class MapFailedError<R> extends SpanflowError {
  override name = 'MapFailedError';
  readonly failures: readonly FailedItem[];
  /** In input order; `undefined` where an item failed. */
  readonly results: readonly (R | undefined)[];
  constructor(failures: readonly FailedItem[], results: readonly (R | undefined)[], feedError?: FeedError) {
    const first = failures[0];
    const failed = first ? `${failures.length} of ${results.length} items failed; first (item ${first.index}): ${first.error.message}` : undefined;
    super(feedError ? `${feedError.message}${failed ? `; ${failed}` : ''}` : (failed ?? `0 of ${results.length} items failed`), feedError && { cause: feedError });
    this.failures = failures;
    this.results = results;
  }
}

/**
 * Runs `fn` over every item, `concurrency` at a time, with retries and a
 * timeout, on the same core as stage pipelines. Resolves with the results in
 * input order, or rejects with a `MapFailedError` holding the failures and
 * every result that did complete.
 */
export async function map<T, R>(fn: (item: T, context: TaskContext) => R | Promise<R>, items: Feedable<T>, options: MapOptions = {}): Promise<R[]> {
  if (typeof fn !== 'function') throw new TypeError(`map(fn, items): fn must be a function of (item, context) (got ${typeof fn})`);
  if (options.concurrency !== undefined && !(Number.isInteger(options.concurrency) && options.concurrency >= 1)) {
    throw new RangeError(`map(): concurrency must be a whole number of 1 or more (got ${options.concurrency}); default 8`);
  }
  if (typeof options.retries === 'number' && !(Number.isInteger(options.retries) && options.retries >= 0)) {
    throw new RangeError(`map(): retries must be a whole number of 0 or more, the retries after the first attempt (got ${options.retries})`);
  }
  const retry = typeof options.retries === 'number' ? { attempts: options.retries + 1 } : options.retries;
  const pipeline = stages<T>('map').stage<R>('map', {
    workers: options.concurrency ?? 8,
    tasks: { name: fn.name || 'map', run: fn },
    ...(retry === undefined ? {} : { retry }),
    ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
  });
  const result = await pipeline.run(items, options.signal ? { signal: options.signal } : {});
  if (result.status !== 'succeeded') {
    const results = result.items.map((o) => (o.status === 'completed' ? o.value : undefined));
    throw new MapFailedError<R>(result.failures, results, result.error instanceof FeedError ? result.error : undefined);
  }
  return result.results;
}
