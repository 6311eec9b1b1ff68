// A map's items through its worker: at most `concurrency` at once, results in
// input order, the producer pulled only as fast as items finish (so memory is
// bounded by the concurrency, whatever the item count), the first failure
// cancelling the items still in flight.

import { MapLimitError, StepFailedError } from '../errors.ts';
import { type Outcome, OwnDependents } from '../executor.ts';
/** What an item's late outcome is told apart by: the options it ran under, which name its index. */
export interface ItemRef {
  readonly index: number | undefined;
}

export interface FanOutSpec {
  /** The map's name, for errors. */
  readonly map: string;
  readonly worker: string;
  readonly concurrency: number;
  readonly maxItems: number | undefined;
  /** The map attempt's signal: its abort cancels the items in flight. */
  readonly signal: AbortSignal;
  /**
   * Runs the worker on one item, under the fan-out's own signal (whose pending attempts wait in
   * `link`, which the fan-out ends itself when it aborts the signal): its outcome now, or undefined
   * when `settle` will be called with it and the options it ran under, which carry the item's index.
   */
  run(
    item: unknown,
    index: number,
    signal: AbortSignal,
    link: OwnDependents,
    settle: (outcome: Outcome<unknown>, options: ItemRef) => void,
  ): Outcome<unknown> | undefined;
  /** Asked before each item: waits while event readers fall behind, or while timers and I/O have their turn (`undefined`: go on at once). */
  ready(): Promise<void> | undefined;
}

export interface FanOutResult {
  readonly results: unknown[];
  readonly items: number;
  readonly peakWorkers: number;
  /** The first item that failed for good (or the item limit), if any. */
  readonly failure: Error | undefined;
}

export function fanOut(source: Iterable<unknown> | AsyncIterable<unknown>, spec: FanOutSpec): Promise<FanOutResult> {
  return new Promise((resolve, reject) => new FanOut(source, spec, resolve, reject).pump());
}

/**
 * The fan-out runs by callback, not as an async loop: an item that ends starts the next
 * one itself, so an item costs no promise or wake-up of the fan-out's own. It waits
 * (and `pump` is called again when the wait ends) only for a free slot, for `ready()`,
 * or for an async producer's next item.
 */
class FanOut {
  readonly #spec: FanOutSpec;
  readonly #controller = new AbortController();
  readonly #signal = this.#controller.signal;
  /** The signal aborted (only `#abort` aborts it): a flag, not its getter, is read per item. */
  #aborted = false;
  /** Items' attempts waiting on the signal: ended by `#abort`, with no listener on the signal. */
  readonly #inFlight = new OwnDependents();
  readonly #resolve: (result: FanOutResult) => void;
  readonly #reject: (error: unknown) => void;
  readonly #onAbort: () => void;
  /** As long as an array source from the start: filled by index, not grown as items end (each growth copies it). */
  readonly #results: unknown[];
  /** An array is read by index (no iterator result per item); anything else through its iterator. */
  readonly #array: readonly unknown[] | undefined;
  readonly #iterator: Iterator<unknown> | AsyncIterator<unknown> | undefined;
  readonly #sync: boolean;
  #active = 0;
  #peak = 0;
  #count = 0;
  #failure: Error | undefined;
  /** The producer's error: the items in flight are cancelled, and the map throws it once they ended. */
  #thrown: { readonly error: unknown } | undefined;
  /** No item is pulled any more (the source ended, an item failed, the map was cancelled, the producer threw). */
  #stopped = false;
  #exhausted = false;
  /** Waiting for `ready()` or an async producer: the wait's end pumps. */
  #waiting = false;
  #pumping = false;
  #done = false;
  readonly #itemEnded = (outcome: Outcome<unknown>, options: ItemRef): void => this.#ended(options.index as number, outcome);
  readonly #resume = (): void => {
    this.#waiting = false;
    this.pump();
  };

  constructor(source: Iterable<unknown> | AsyncIterable<unknown>, spec: FanOutSpec, resolve: (result: FanOutResult) => void, reject: (error: unknown) => void) {
    this.#spec = spec;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#onAbort = () => this.#abort(spec.signal.reason);
    spec.signal.addEventListener('abort', this.#onAbort, { once: true });
    const plainArray = Array.isArray(source) && (source as unknown[])[Symbol.iterator] === Array.prototype[Symbol.iterator];
    this.#array = plainArray ? (source as unknown[]) : undefined;
    this.#results = plainArray ? new Array((source as unknown[]).length) : [];
    this.#sync = Symbol.iterator in source;
    this.#iterator = plainArray
      ? undefined
      : this.#sync
        ? (source as Iterable<unknown>)[Symbol.iterator]()
        : (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  }

  /** Starts items while slots are free and nothing says wait; ends the fan-out when nothing is left to run. */
  pump(): void {
    if (this.#pumping || this.#waiting || this.#done) return;
    this.#pumping = true;
    try {
      while (!this.#stopped && this.#active < this.#spec.concurrency) {
        const paused = this.#spec.ready();
        if (paused) {
          this.#waiting = true;
          paused.then(this.#resume);
          return;
        }
        // Checked after any wait: a timeout or cancellation that came meanwhile pulls no further item.
        if (this.#failure || this.#aborted) {
          this.#stopped = true;
          break;
        }
        const array = this.#array;
        if (array) {
          if (this.#count >= array.length) {
            this.#exhausted = true;
            this.#stopped = true;
            break;
          }
          this.#start(array[this.#count]);
        } else if (this.#sync) {
          this.#pulled((this.#iterator as Iterator<unknown>).next());
        } else {
          this.#waiting = true;
          (this.#iterator as AsyncIterator<unknown>).next().then(
            (next) => {
              this.#waiting = false;
              this.#pulled(next);
              this.pump();
            },
            (error: unknown) => {
              this.#waiting = false;
              this.#threw(error);
              this.pump();
            },
          );
          return;
        }
      }
    } catch (error) {
      this.#threw(error);
    } finally {
      this.#pumping = false;
    }
    this.#finishIfDone();
  }

  #pulled(next: IteratorResult<unknown>): void {
    if (next.done) {
      this.#exhausted = true;
      this.#stopped = true;
      return;
    }
    this.#start(next.value);
  }

  #start(item: unknown): void {
    const spec = this.#spec;
    if (spec.maxItems !== undefined && this.#count >= spec.maxItems) {
      this.#failure = new MapLimitError(
        `map '${spec.map}' produced more than its maxItems (${spec.maxItems}) items: raise maxItems, or have the producer stop sooner`,
      );
      this.#stopped = true;
      this.#abort(this.#failure);
      return;
    }
    const index = this.#count++;
    this.#active++;
    if (this.#active > this.#peak) this.#peak = this.#active;
    const outcome = spec.run(item, index, this.#signal, this.#inFlight, this.#itemEnded);
    if (outcome) this.#ended(index, outcome);
  }

  #ended(index: number, outcome: Outcome<unknown>): void {
    if (outcome.status === 'succeeded') this.#results[index] = outcome.value;
    else if (outcome.status === 'skipped') this.#results[index] = undefined;
    else if (!this.#failure && outcome.status !== 'cancelled') {
      this.#failure =
        outcome.status === 'failed' ? new StepFailedError(this.#spec.worker, outcome.attempts, outcome.error, index) : (outcome.error as Error);
      this.#abort(this.#failure);
    }
    this.#active--;
    this.pump();
  }

  /** The producer threw: cancel the items in flight and let them end before the map does. */
  #threw(error: unknown): void {
    this.#thrown ??= { error };
    this.#stopped = true;
    this.#abort(error);
  }

  /** Aborts the fan-out's signal (its listeners first: items' own signals), then ends the attempts waiting on it. */
  #abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#controller.abort(reason);
    this.#inFlight.abort();
  }

  #finishIfDone(): void {
    if (!this.#stopped || this.#active > 0 || this.#waiting || this.#done) return;
    this.#done = true;
    this.#spec.signal.removeEventListener('abort', this.#onAbort);
    const iterator = this.#iterator;
    if (!this.#exhausted && iterator) void Promise.resolve(iterator.return?.()).catch(() => {});
    if (this.#thrown) this.#reject(this.#thrown.error);
    else {
      // An array the items' code shortened as they ran leaves no empty slots at the end.
      if (this.#results.length > this.#count) this.#results.length = this.#count;
      this.#resolve({ results: this.#results, items: this.#count, peakWorkers: this.#peak, failure: this.#failure });
    }
  }
}
