// A feed source that throws (an async generator, a sync generator, an iterator whose next()
// rejects) is never swallowed: feed() rejects with its error, run() and join() end the batch
// `failed` with a FeedError naming it (in the result and in run_end), stream() throws it after
// yielding what finished, map() rejects. The items the source gave before still finish.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type BatchResult, FeedError, type ItemOutcome, MapFailedError, map, type SpanflowEvent, stages } from '../sdk/index.ts';
import { eventLog, latch } from './support.ts';

const broke = new Error('source broke');

/** The source: two items, then an error. */
async function* asyncSource() {
  yield 1;
  yield 2;
  throw broke;
}

function* syncSource() {
  yield 1;
  yield 2;
  throw broke;
}

/** Not a generator: an async iterator whose third next() rejects. */
function rejectingIterator(): AsyncIterable<number> {
  let n = 0;
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => (++n <= 2 ? Promise.resolve({ value: n, done: false }) : Promise.reject(broke)),
    }),
  };
}

const SOURCES = { 'an async generator': asyncSource, 'a sync generator': syncSource, 'an iterator whose next() rejects': rejectingIterator };

const doubling = () => stages<number>('feed-fails').stage('double', { workers: 2, tasks: async (n: number) => n * 2 });

/** The batch failed with a FeedError naming the source's error; both items it gave finished. */
function assertFeedFailed(result: BatchResult<number>, events: SpanflowEvent[]): void {
  assert.equal(result.status, 'failed');
  assert.ok(result.error instanceof FeedError, `a FeedError (got ${String(result.error)})`);
  assert.equal(result.error.cause, broke);
  assert.equal(result.error.fed, 2);
  assert.match(result.error.message, /feed source of 'feed-fails' threw after 2 items: source broke/);
  assert.deepEqual([result.fed, result.completed, result.failed, result.skipped], [2, 2, 0, 0]);
  assert.deepEqual(result.results, [2, 4]);
  const end = events.find((e) => e.type === 'run_end');
  assert.equal(end?.type, 'run_end');
  if (end?.type !== 'run_end') return;
  assert.equal(end.status, 'failed');
  assert.equal(end.error?.type, 'FeedError');
  assert.match(end.error?.message ?? '', /source broke/);
  assert.deepEqual(end.items, { fed: 2, completed: 2, failed: 0, skipped: 0 });
}

describe('a feed source that throws', { timeout: 10_000 }, () => {
  for (const [name, source] of Object.entries(SOURCES)) {
    test(`run() over ${name}: the batch ends failed with a FeedError, the items it gave completed`, async () => {
      const log = eventLog();
      const result = await doubling().run(source(), { onEvent: log.listen });
      assertFeedFailed(result, log.events);
    });

    test(`feed() of ${name} rejects with the source's error; join() ends the batch failed`, async () => {
      const log = eventLog();
      const batch = doubling().start({ onEvent: log.listen });
      await assert.rejects(batch.feed(source()), (e: unknown) => e === broke);
      assert.ok(batch.feedError instanceof FeedError);
      assertFeedFailed(await batch.join(), log.events);
    });

    test(`stream() over ${name} yields the items that finished, then throws the source's error`, async () => {
      const log = eventLog();
      const seen: ItemOutcome<number>[] = [];
      await assert.rejects(
        (async () => {
          for await (const outcome of doubling().stream(source(), { onEvent: log.listen })) seen.push(outcome);
        })(),
        (e: unknown) => e === broke,
      );
      assert.deepEqual(seen.map((o) => (o.status === 'completed' ? o.value : o.status)).sort(), [2, 4]);
      const end = log.of('run_end')[0];
      assert.deepEqual([end?.status, end?.error?.type, end?.items], ['failed', 'FeedError', { fed: 2, completed: 2, failed: 0, skipped: 0 }]);
    });

    test(`map() over ${name} rejects with a MapFailedError holding the results, caused by the FeedError`, async () => {
      const error = await map((n: number) => n * 10, source()).then(
        () => assert.fail('map() resolved'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof MapFailedError);
      assert.deepEqual(error.results, [10, 20]);
      assert.deepEqual(error.failures, []);
      assert.ok(error.cause instanceof FeedError);
      assert.equal(error.cause.cause, broke);
      assert.match(error.message, /threw after 2 items: source broke/);
    });
  }

  test('items the source gave before it threw finish their work: not cancelled, not lost', async () => {
    const gate = latch();
    const log = eventLog();
    const p = stages<number>('slow-then-broken').stage('wait', {
      workers: 2,
      tasks: async (n: number) => {
        await gate.promise; // still working when the source throws
        return n;
      },
    });
    const batch = p.start({ onEvent: log.listen });
    await assert.rejects(batch.feed(asyncSource()), (e: unknown) => e === broke);
    assert.equal(batch.snapshot().stats.inFlight, 2, 'both items are still being worked on');
    gate.resolve();
    const result = await batch.join();
    assert.deepEqual([result.status, result.completed, result.failed], ['failed', 2, 0]);
    assert.deepEqual(result.results, [1, 2]);
    assert.equal(result.error?.name, 'FeedError');
  });

  test('a broken source and failing items: the FeedError names the batch, every failure is still listed', async () => {
    const p = stages<number>('both').stage('odd', {
      tasks: (n: number) => {
        if (n === 1) throw new TypeError('odd one out');
        return n;
      },
    });
    const result = await p.run(syncSource());
    assert.equal(result.status, 'failed');
    assert.equal(result.error?.name, 'FeedError');
    assert.deepEqual([result.fed, result.completed, result.failed], [2, 1, 1]);
    assert.equal(result.failures[0]?.error.message, 'odd one out');
  });

  test('a second source fed to the same batch still runs; the batch remembers the first that threw', async () => {
    const batch = doubling().start();
    await assert.rejects(batch.feed(asyncSource()), (e: unknown) => e === broke);
    await batch.feed([10, 20]);
    const result = await batch.join();
    assert.deepEqual([result.status, result.fed, result.completed], ['failed', 4, 4]);
    assert.deepEqual(result.results, [2, 4, 20, 40]);
    assert.equal((result.error as FeedError).fed, 2);
  });

  test('a wrong argument to run() is refused before a batch starts: no run is begun or ended', async () => {
    const log = eventLog();
    const p = stages<number>('wrong', { onEvent: log.listen }).stage('s', { tasks: (n: number) => n });
    await assert.rejects(p.run(42 as never), TypeError);
    await assert.rejects(p.run([1], { stage: 'nope' }), /no stage named 'nope'/);
    assert.deepEqual(log.events, []);
  });
});
