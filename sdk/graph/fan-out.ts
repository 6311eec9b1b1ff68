// A map's items through its worker: at most `concurrency` at once, results in
// input order, the producer pulled only as fast as items finish (so memory is
// bounded by the concurrency, whatever the item count), the first failure
// cancelling the items still in flight.

import { MapLimitError, StepFailedError } from '../errors.ts';
import type { Outcome } from '../executor.ts';

export interface FanOutSpec {
  /** The map's name, for errors. */
  readonly map: string;
  readonly worker: string;
  readonly concurrency: number;
  readonly maxItems: number | undefined;
  /** The map attempt's signal: its abort cancels the items in flight. */
  readonly signal: AbortSignal;
  /** Runs the worker on one item, under the fan-out's own signal: its outcome now, or undefined when `settle` will be called with it. */
  run(item: unknown, index: number, signal: AbortSignal, settle: (outcome: Outcome<unknown>) => void): Outcome<unknown> | undefined;
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

export async function fanOut(source: Iterable<unknown> | AsyncIterable<unknown>, spec: FanOutSpec): Promise<FanOutResult> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(spec.signal.reason);
  spec.signal.addEventListener('abort', onAbort, { once: true });
  const results: unknown[] = [];
  let active = 0;
  let peak = 0;
  let count = 0;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const onOutcome = (index: number, outcome: Outcome<unknown>) => {
    if (outcome.status === 'succeeded') results[index] = outcome.value;
    else if (outcome.status === 'skipped') results[index] = undefined;
    else if (!failure && outcome.status !== 'cancelled') {
      failure = outcome.status === 'failed' ? new StepFailedError(spec.worker, outcome.attempts, outcome.error, index) : (outcome.error as Error);
      controller.abort(failure);
    }
    active--;
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };

  const sync = Symbol.iterator in source;
  const iterator = sync ? (source as Iterable<unknown>)[Symbol.iterator]() : (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  let exhausted = false;
  try {
    for (;;) {
      while (active >= spec.concurrency) await new Promise<void>((resolve) => (wake = resolve));
      const paused = spec.ready();
      if (paused) await paused;
      // Checked after any wait: a timeout or cancellation that came meanwhile pulls no further item.
      if (failure || controller.signal.aborted) break;
      const next = sync ? (iterator as Iterator<unknown>).next() : await (iterator as AsyncIterator<unknown>).next();
      if (next.done) {
        exhausted = true;
        break;
      }
      if (spec.maxItems !== undefined && count >= spec.maxItems) {
        failure = new MapLimitError(
          `map '${spec.map}' produced more than its maxItems (${spec.maxItems}) items: raise maxItems, or have the producer stop sooner`,
        );
        controller.abort(failure);
        break;
      }
      const index = count++;
      active++;
      if (active > peak) peak = active;
      const outcome = spec.run(next.value, index, controller.signal, (settled) => onOutcome(index, settled));
      if (outcome) onOutcome(index, outcome);
    }
    while (active > 0) await new Promise<void>((resolve) => (wake = resolve));
  } catch (error) {
    // The producer threw: cancel the items in flight and let them end before the map does.
    controller.abort(error);
    while (active > 0) await new Promise<void>((resolve) => (wake = resolve));
    throw error;
  } finally {
    spec.signal.removeEventListener('abort', onAbort);
    if (!exhausted) void Promise.resolve(iterator.return?.()).catch(() => {});
  }
  return { results, items: count, peakWorkers: peak, failure };
}
