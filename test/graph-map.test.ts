// Map nodes: a producer of items (array or async iterable) and a worker that
// runs once per item, with bounded concurrency, ordered results and limits.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { collectRun, MapLimitError, pipeline, StepFailedError } from '../sdk/index.ts';

/** Lets other queued work run, so several items overlap without timers. */
async function yieldTurns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

describe('map', () => {
  it('runs the worker once per item of an array and gives results in input order', async () => {
    const seen: number[] = [];
    const p = pipeline('square')
      .map('items', () => [1, 2, 3, 4], { worker: 'square', to: 'sum' })
      .step<number>('square', ({ item }) => {
        seen.push(item);
        return item ** 2;
      })
      .step('sum', ({ output }) => (output<number[]>('items') ?? []).reduce((a, b) => a + b, 0));
    const { result, of, steps } = await collectRun(p.run(undefined));
    assert.equal(result.status, 'succeeded');
    assert.deepEqual([...seen].sort(), [1, 2, 3, 4]);
    assert.deepEqual(result.outputs.items, [1, 4, 9, 16]);
    assert.equal(result.outputs.sum, 30);
    assert.deepEqual(steps, ['square[0]:succeeded', 'square[1]:succeeded', 'square[2]:succeeded', 'square[3]:succeeded', 'items:succeeded', 'sum:succeeded']);
    const [start] = of('map_start');
    assert.equal(start?.worker, 'square');
    const [end] = of('map_end');
    assert.equal(end?.items, 4);
    assert.equal(result.metrics.maps.items?.items, 4);
  });

  it('accepts an async iterable and passes each item and its index to the worker', async () => {
    const p = pipeline('letters')
      .map(
        'produce',
        async function* () {
          for (const letter of ['a', 'b', 'c']) {
            await yieldTurns(1);
            yield letter;
          }
        },
        { worker: 'label' },
      )
      .step<string>('label', ({ item, index }) => `${index}:${item}`);
    const result = await p.run(undefined);
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(result.outputs.produce, ['0:a', '1:b', '2:c']);
  });

  it('never runs more items at once than its concurrency, and reports the peak', async () => {
    let inFlight = 0;
    let peak = 0;
    const p = pipeline('bounded')
      .map('items', () => Array.from({ length: 20 }, (_, i) => i), { worker: 'work', concurrency: 3 })
      .step('work', async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await yieldTurns(3);
        inFlight--;
      });
    const result = await p.run(undefined);
    assert.equal(result.status, 'succeeded');
    assert.equal(peak, 3);
    assert.equal(result.metrics.maps.items?.peakWorkers, 3);
    assert.equal(result.metrics.maps.items?.items, 20);
    assert.equal(result.metrics.steps.work?.attempts, 20);
  });

  it('keeps input order when items finish out of order', async () => {
    const finished: number[] = [];
    // Item i may finish only after item i + 1 did: they finish in reverse order.
    const done = Array.from({ length: 4 }, () => Promise.withResolvers<void>());
    const p = pipeline('reverse')
      .map('items', () => [0, 1, 2, 3], { worker: 'work', concurrency: 4 })
      .step<number>('work', async ({ item: i }) => {
        const next = done[i + 1];
        if (next) await next.promise;
        finished.push(i);
        done[i]?.resolve();
        return `r${i}`;
      });
    const result = await p.run(undefined);
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(finished, [3, 2, 1, 0]);
    assert.deepEqual(result.outputs.items, ['r0', 'r1', 'r2', 'r3']);
  });

  it('completes an empty map with no results', async () => {
    const p = pipeline('empty')
      .map('items', () => [], { worker: 'work', to: 'after' })
      .step('work', () => assert.fail('no item to work on'))
      .step('after', ({ output }) => output<unknown[]>('items')?.length);
    const result = await p.run(undefined);
    assert.equal(result.status, 'succeeded');
    assert.equal(result.outputs.after, 0);
  });

  it('fails the map with a clear message when the producer returns no items', async () => {
    const p = pipeline('forgot-return')
      .map('items', (() => undefined) as unknown as () => number[], { worker: 'work' })
      .step('work', () => assert.fail('no item to work on'));
    const result = await p.run(undefined);
    assert.equal(result.status, 'failed');
    assert.match(result.error?.message ?? '', /map 'items': its producer returned undefined, not an array or \(async\) iterable/);
  });

  it('fails the map with MapLimitError when the producer yields more than maxItems', async () => {
    let produced = 0;
    const p = pipeline('limited')
      .map(
        'items',
        function* () {
          for (let i = 0; i < 1000; i++) {
            produced++;
            yield i;
          }
        },
        { worker: 'work', maxItems: 5, concurrency: 2, to: 'after' },
      )
      .step('work', () => undefined)
      .step('after', () => assert.fail('a failed map has no successors'));
    const { result, of } = await collectRun(p.run(undefined));
    assert.equal(result.status, 'failed');
    assert.equal(result.failedNode, 'items');
    assert.ok(result.error instanceof StepFailedError);
    assert.ok(result.error.cause instanceof MapLimitError);
    assert.match(result.error.message, /map 'items' produced more than its maxItems \(5\) items/);
    const mapEnd = of('step_end').find((e) => e.node === 'items');
    assert.equal(mapEnd?.status, 'failed');
    assert.equal(mapEnd?.error?.type, 'MapLimitError');
    assert.equal(produced, 6, 'the producer is not drained past the limit');
    assert.equal(result.metrics.maps.items?.items, 5, 'a failed map still reports the items it ran');
    assert.ok(!of('step_end').some((e) => e.node === 'after' && e.status === 'succeeded'));
  });

  it('accepts exactly maxItems items', async () => {
    const p = pipeline('at-limit')
      .map('items', () => [1, 2, 3], { worker: 'work', maxItems: 3 })
      .step('work', ({ item }) => item);
    const result = await p.run(undefined);
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(result.outputs.items, [1, 2, 3]);
  });

  it('streams 100,000 items with bounded memory: the producer stays within concurrency of the workers', async () => {
    const total = 100_000;
    const concurrency = 16;
    let produced = 0;
    let finished = 0;
    let maxAhead = 0;
    const p = pipeline('big')
      .map(
        'items',
        async function* () {
          for (let i = 0; i < total; i++) {
            produced++;
            maxAhead = Math.max(maxAhead, produced - finished);
            yield i;
          }
        },
        { worker: 'noop', concurrency },
      )
      .step('noop', async () => {
        // Finish on a later turn, so a producer that ran ahead of its workers would show.
        await new Promise<void>((resolve) => setImmediate(resolve));
        finished++;
      });
    const result = await p.run(undefined, { timeout: 30_000 });
    assert.equal(result.status, 'succeeded', result.error?.message);
    assert.equal(produced, total);
    assert.equal(finished, total);
    assert.equal(result.metrics.maps.items?.items, total);
    assert.equal((result.outputs.items as unknown[]).length, total);
    assert.ok(maxAhead <= concurrency + 1, `the producer ran ${maxAhead} items ahead of the workers (concurrency ${concurrency})`);
  });

  it('fails the run when a worker exhausts its retries, naming the worker and the item; other items are cancelled', async () => {
    const attempts: number[] = [];
    const started = Promise.withResolvers<void>();
    let waiting = 0;
    const p = pipeline('flaky')
      .map('items', () => [0, 1, 2, 3], { worker: 'analyze', concurrency: 4, to: 'after' })
      .step<number>(
        'analyze',
        async ({ item, attempt, signal }) => {
          if (item === 2) {
            attempts.push(attempt);
            await started.promise; // fail only once the others are in flight
            throw new Error(`bad frame (attempt ${attempt})`);
          }
          if (++waiting === 3) started.resolve();
          await sleep(60_000, undefined, { signal });
        },
        { retry: { attempts: 3, initialDelayMs: 1, jitter: 0 } },
      )
      .step('after', () => assert.fail('never reached'));
    const { result, of } = await collectRun(p.run(undefined, { timeout: 10_000 }));
    assert.equal(result.status, 'failed');
    assert.deepEqual(attempts, [1, 2, 3]);
    const error = result.error;
    assert.ok(error instanceof StepFailedError, String(error));
    assert.equal(error.node, 'analyze');
    assert.equal(error.index, 2);
    assert.equal(error.attempts, 3);
    assert.match(error.message, /step 'analyze' \(item 2\) failed after 3 attempts: bad frame \(attempt 3\)/);
    assert.equal(of('step_retry').filter((e) => e.node === 'analyze' && e.index === 2).length, 2);
    const ends = new Map(of('step_end').filter((e) => e.node === 'analyze').map((e) => [e.index, e.status]));
    assert.equal(ends.get(2), 'failed');
    for (const other of [0, 1, 3]) assert.equal(ends.get(other), 'cancelled', `item ${other}`);
    assert.equal(of('step_end').find((e) => e.node === 'items')?.status, 'failed');
    assert.equal(of('map_end').length, 0);
  });

  it('gives as many results as it ran items when its worker shortens the array it maps', async () => {
    const items = [1, 2, 3, 4, 5];
    const p = pipeline('shortened')
      .map('items', () => items, { worker: 'work', concurrency: 1 })
      .step<number>('work', ({ item }) => {
        if (item === 1) items.length = 3;
        return item * 10;
      });
    const result = await p.run(undefined);
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(result.outputs.items, [10, 20, 30]);
    assert.equal(result.metrics.maps.items?.items, 3);
  });

  it("measures its items' durations for someone who can read them (a listener, telemetry), not in a quiet run", async () => {
    const p = pipeline('timed-items')
      .map('items', () => [0, 1, 2], { worker: 'work' })
      .step('work', () => sleep(5));
    const quiet = await p.run(undefined);
    assert.equal(quiet.status, 'succeeded');
    assert.deepEqual(quiet.metrics.steps.work, { attempts: 3, succeeded: 3, failed: 0, totalMs: 0, maxMs: 0 });
    const heard = await p.run(undefined, { onEvent: () => {} });
    const work = heard.metrics.steps.work;
    assert.equal(work?.attempts, 3);
    assert.ok((work?.maxMs ?? 0) > 0 && (work?.totalMs ?? 0) >= (work?.maxMs ?? 0), JSON.stringify(work));
  });

  it('counts its items cancelled mid-attempt as failed attempts in the run metrics, with or without a listener', async () => {
    for (const options of [{}, { onEvent: () => {} }]) {
      const running = Promise.withResolvers<void>();
      let waiting = 0;
      const p = pipeline('cancelled-items')
        .map('items', () => [0, 1, 2], { worker: 'work', concurrency: 3 })
        .step<number>('work', async ({ item, signal }) => {
          if (item === 0) {
            await running.promise;
            throw new Error('bad item');
          }
          if (++waiting === 2) running.resolve();
          await sleep(60_000, undefined, { signal });
        });
      const result = await p.run(undefined, { timeout: 10_000, ...options });
      assert.equal(result.status, 'failed');
      assert.equal(result.metrics.steps.work?.attempts, 3);
      assert.equal(result.metrics.steps.work?.failed, 3, 'the failed item and the two cancelled while they ran');
    }
  });
});
