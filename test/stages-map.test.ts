// map(fn, items, { concurrency, retries, timeout, signal }): the convenience on the stage core.
// Results in input order, at most `concurrency` in flight, retries, timeouts, and a
// MapFailedError that keeps both the failures and every result that did complete.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { item, map, MapFailedError } from '../sdk/index.ts';

function latch(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Rejects with the MapFailedError `work` throws, so a test can look inside it. */
async function mapFailure<R>(work: Promise<R[]>): Promise<MapFailedError<R>> {
  try {
    await work;
  } catch (error) {
    assert.ok(error instanceof MapFailedError, `expected a MapFailedError, got ${String(error)}`);
    return error as MapFailedError<R>;
  }
  assert.fail('map() resolved, but some items should have failed');
}

describe('map()', { timeout: 10_000 }, () => {
  test('returns results in input order, though later items finish first', async () => {
    const lastDone = latch();
    let done = 0;
    const results = await map(
      async (n: number) => {
        if (n === 0) await lastDone.promise;
        if (++done === 5) lastDone.resolve();
        return n * n;
      },
      range(6),
      { concurrency: 3 },
    );
    assert.deepEqual(results, [0, 1, 4, 9, 16, 25]);
  });

  test('never runs more than `concurrency` at once, and uses all of it', async () => {
    let inFlight = 0;
    let peak = 0;
    const results = await map(
      async (n: number) => {
        peak = Math.max(peak, ++inFlight);
        await sleep(2);
        inFlight--;
        return n;
      },
      range(20),
      { concurrency: 4 },
    );
    assert.equal(peak, 4);
    assert.deepEqual(results, range(20));
  });

  test('takes async iterables and items, and tells fn the item', async () => {
    async function* words() {
      yield 'a';
      yield item('b', { id: 'bee' });
      yield 'c';
    }
    const seen: string[] = [];
    const results = await map((w: string, ctx) => {
      seen.push(`${ctx.item.id}=${w}`);
      return w.toUpperCase();
    }, words());
    assert.deepEqual(results, ['A', 'B', 'C']);
    assert.deepEqual(seen.sort(), ['0=a', '2=c', 'bee=b']);
  });

  test('retries: a failing call is tried again; retries: n means n + 1 attempts', async () => {
    const attempts = new Map<number, number>();
    const results = await map(
      (n: number, ctx) => {
        attempts.set(n, ctx.attempt);
        if (ctx.attempt <= n) throw new Error(`not yet ${n}`);
        return n;
      },
      [0, 1, 2],
      { retries: { attempts: 3, initialDelayMs: 1 } },
    );
    assert.deepEqual(results, [0, 1, 2]);
    assert.deepEqual([...attempts.entries()].sort(), [
      [0, 1],
      [1, 2],
      [2, 3],
    ]);

    // A number counts retries after the first attempt.
    const err = await mapFailure(map(() => Promise.reject(new TypeError('always')), [1], { retries: 1 }));
    assert.deepEqual([err.failures[0]?.attempts, err.failures[0]?.error.type], [2, 'TypeError']);
  });

  test('a call over the timeout fails with StepTimeoutError and its signal fires', async () => {
    let aborted = 0;
    const err = await mapFailure(
      map(
        (n: number, ctx) => {
          if (n !== 1) return n;
          return new Promise<number>((_resolve, reject) => {
            ctx.signal.addEventListener('abort', () => {
              aborted++;
              reject(ctx.signal.reason);
            });
          });
        },
        [0, 1, 2],
        { timeout: 5 },
      ),
    );
    assert.equal(aborted, 1);
    assert.deepEqual(
      err.failures.map((f) => [f.index, f.error.type, f.attempts]),
      [[1, 'StepTimeoutError', 1]],
    );
    assert.deepEqual(err.results, [0, undefined, 2]);
  });

  test('failures reject with MapFailedError holding every failure and the partial results', async () => {
    class OddError extends Error {}
    const err = await mapFailure(
      map(
        (n: number) => {
          if (n % 2) throw new OddError(`odd ${n}`);
          return `even ${n}`;
        },
        range(6),
        { concurrency: 2 },
      ),
    );
    assert.equal(err.name, 'MapFailedError');
    assert.match(err.message, /^3 of 6 items failed; first \(item \d\): odd \d$/);
    assert.deepEqual(
      [...err.failures].sort((a, b) => a.index - b.index).map((f) => [f.index, f.error.type, f.error.message]),
      [1, 3, 5].map((n) => [n, 'OddError', `odd ${n}`]),
    );
    assert.deepEqual(err.results, ['even 0', undefined, 'even 2', undefined, 'even 4', undefined]);
  });

  test('a task that returns undefined is a result, not a failure', async () => {
    assert.deepEqual(await map(() => undefined, range(3)), [undefined, undefined, undefined]);
  });

  test('an aborted signal stops the work: MapFailedError with cancelled items', async () => {
    const controller = new AbortController();
    const started = latch();
    const work = map(
      async (n: number, ctx) => {
        if (n === 0) started.resolve();
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
        return n;
      },
      range(10),
      { concurrency: 2, signal: controller.signal },
    );
    await started.promise;
    controller.abort(new Error('enough'));
    const err = await mapFailure(work);
    assert.ok(err.failures.length >= 1);
    assert.ok(err.failures.every((f) => f.error.type === 'CancelledError' && f.error.message.includes('enough')));
    // 2 workers and a queue of 8 took all 10 items before the abort: each is a result or a failure.
    assert.equal(err.results.length, 10);
    assert.equal(err.failures.length + err.results.filter((r) => r !== undefined).length, 10);
  });
});
