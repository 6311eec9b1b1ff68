// Stage pipelines, paths the other stage tests leave out: a batch's life after join(),
// feeding a later stage mid-flow, priorities in every stage, per-task overrides of a stage's
// retry and timeout, odd failures, empty sources, concurrent batches, and the Channel.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledError, Channel, item, map, stages } from '../sdk/index.ts';
import { eventLog, flush, latch, range } from './support.ts';

describe('a batch after join()', { timeout: 10_000 }, () => {
  test('shutdown() after join() gives the same result and changes nothing', async () => {
    const batch = stages<number>('after').stage('double', { tasks: (n: number) => n * 2 }).start();
    await batch.feed([1, 2, 3]);
    const result = await batch.join();
    const again = await batch.shutdown('too late');
    assert.equal(again, result);
    assert.equal(again.status, 'succeeded');
    assert.deepEqual(again.results, [2, 4, 6]);
    await assert.rejects(batch.feed([4]), (e: unknown) => e instanceof Error && /feed before join\(\) or shutdown\(\)/.test(e.message));
  });

  test('snapshot() after join() shows a finished batch: not running, nothing in flight, every count', async () => {
    const p = stages<number>('snap-after').stage('odd', { workers: 2, tasks: (n: number) => n, skip: (n) => n === 0 });
    const batch = p.start();
    await batch.feed([0, 1, 2]);
    await batch.join();
    const snap = batch.snapshot();
    assert.equal(snap.running, false);
    assert.deepEqual([snap.stats.fed, snap.stats.completed, snap.stats.skipped, snap.stats.inFlight], [3, 2, 1, 0]);
    assert.ok(snap.workers.every((w) => w.state === 'idle'));
    assert.deepEqual(p.snapshot()?.runId, batch.runId);
  });

  test('two batches of one pipeline at once keep their own snapshots', async () => {
    const gate = latch();
    const p = stages<number>('twins').stage('wait', {
      workers: 1,
      capacity: 10,
      tasks: async (n: number) => {
        if (n < 100) await gate.promise;
        return n;
      },
    });
    const a = p.start();
    const b = p.start();
    await a.feed([1, 2, 3]);
    await b.feed([100, 101]);
    const resultB = await b.join();
    assert.deepEqual(resultB.results, [100, 101]);
    const snapA = a.snapshot();
    assert.deepEqual([snapA.running, snapA.stats.fed, snapA.stats.inFlight, snapA.stats.completed], [true, 3, 3, 0]);
    assert.deepEqual([b.snapshot().running, b.snapshot().stats.completed], [false, 2]);
    assert.equal(p.snapshot()?.runId, b.runId, 'the pipeline shows the batch started last');
    gate.resolve();
    assert.deepEqual((await a.join()).results, [1, 2, 3]);
  });
});

describe('feeding and priorities across stages', { timeout: 10_000 }, () => {
  test('items fed into a later stage mix with items flowing from stage 1; results stay in feed order', async () => {
    const seen: string[] = [];
    const p = stages<number>('mid-feed')
      .stage('parse', {
        workers: 2,
        tasks: async (n: number) => {
          seen.push(`parse ${n}`);
          await sleep(1);
          return n * 10;
        },
      })
      .stage('store', {
        workers: 2,
        tasks: (n: number) => {
          seen.push(`store ${n}`);
          return n + 1;
        },
      });
    const batch = p.start();
    const first = batch.feed(range(6));
    const late = batch.feed([1000, 2000], { stage: 'store' });
    await Promise.all([first, late]);
    const result = await batch.join();
    // The two feeds run at once (either may pause for the event loop's turn), so only each feed's own order is known.
    assert.deepEqual(result.results.filter((n) => n < 1000), [1, 11, 21, 31, 41, 51]);
    assert.deepEqual(result.results.filter((n) => n > 1000), [1001, 2001]);
    assert.ok(!seen.includes('parse 1000') && !seen.includes('parse 2000'));
    assert.equal(seen.filter((s) => s.startsWith('store')).length, 8);
  });

  test("an item's priority is honoured again in the second stage's queue", async () => {
    const gate = latch();
    const log = eventLog();
    const order: string[] = [];
    const p = stages<string>('prio2')
      .stage('pass', { workers: 1, capacity: 20, tasks: (v: string) => v })
      .stage('sink', {
        workers: 1,
        capacity: 20,
        tasks: async (v: string) => {
          if (v === 'blocker') await gate.promise;
          order.push(v);
          return v;
        },
      });
    const batch = p.start({ onEvent: log.listen });
    await batch.feed(['blocker']);
    await log.waitFor((e) => e.type === 'task_start' && e.stage === 'sink');
    // The low ones reach sink's queue before the urgent ones are even fed.
    await batch.feed(['low-1', 'low-2'], { priority: 5 });
    await log.waitFor((e) => e.type === 'item_status' && e.stage === 'sink' && e.status === 'queued' && e.itemId === '2');
    await batch.feed([item('urgent-1', { priority: 1 }), item('urgent-2', { priority: 1 })]);
    await log.waitFor((e) => e.type === 'item_status' && e.stage === 'sink' && e.status === 'queued' && e.itemId === '4');
    gate.resolve();
    await batch.join();
    assert.deepEqual(order, ['blocker', 'urgent-1', 'urgent-2', 'low-1', 'low-2']);
  });
});

describe('task options and odd failures', { timeout: 10_000 }, () => {
  test("a TaskSpec's concurrency, timeout and retry override the stage's across 4 workers", async () => {
    let inside = 0;
    let peak = 0;
    const attempts = new Map<number, number>();
    const p = stages<number>('spec').stage('s', {
      workers: 4,
      timeout: 5, // the stage's timeout would kill the slow task below
      retry: 1, // and the stage would not retry
      tasks: {
        name: 'slow',
        concurrency: 1,
        timeout: 30_000, // never reached: it only has to be the task's own, not the stage's 5 ms
        retry: { attempts: 2, initialDelayMs: 1, jitter: 0 },
        run: async (n: number, ctx) => {
          attempts.set(n, ctx.attempt);
          peak = Math.max(peak, ++inside);
          await sleep(15);
          inside--;
          if (n === 2 && ctx.attempt === 1) throw new Error('flaky');
          return n;
        },
      },
    });
    const result = await p.run(range(4));
    assert.deepEqual(result.results, range(4));
    assert.equal(peak, 1);
    assert.equal(attempts.get(2), 2, 'the task retried by its own policy');
  });

  test('per-stage retry sends a timed-out pass back through the stage', async () => {
    const passes: number[] = [];
    const p = stages<string>('stage-timeout').stage('s', {
      timeout: 10,
      retry: { mode: 'stage', attempts: 3, initialDelayMs: 1, jitter: 0 },
      tasks: [
        (v: string) => v,
        (v: string, ctx) => {
          passes.push(ctx.stageAttempt);
          return ctx.stageAttempt < 3 ? new Promise<string>(() => {}) : `${v}!`;
        },
      ],
    });
    const result = await p.run(['x']);
    assert.deepEqual(result.results, ['x!']);
    assert.deepEqual(passes, [1, 2, 3]);
  });

  test('a task that throws a string fails its item with that string as the message', async () => {
    const p = stages<number>('str').stage('s', {
      tasks: function boom(n: number) {
        if (n === 1) throw 'disk on fire';
        return n;
      },
    });
    const result = await p.run([0, 1]);
    assert.equal(result.status, 'failed');
    assert.deepEqual(result.results, [0]);
    const [failure] = result.failures;
    assert.deepEqual([failure?.error.message, failure?.error.type, failure?.task, failure?.index], ['disk on fire', 'string', 'boom', 1]);
  });

  test('a skip predicate on the last stage skips there; onSuccess gets the output value', async () => {
    const succeeded: [unknown, number][] = [];
    const p = stages<number>('last-skip')
      .stage('inc', { tasks: (n: number) => n + 1, onSuccess: (v, info) => succeeded.push([v, info.index]) })
      .stage('keep', { tasks: (n: number) => `v${n}`, skip: (n) => n % 2 === 0 });
    const result = await p.run([0, 1, 2]);
    assert.deepEqual(result.results, ['v1', 'v3']);
    assert.deepEqual(result.items.map((o) => [o.status, o.status === 'skipped' ? o.stage : undefined]), [
      ['completed', undefined],
      ['skipped', 'keep'],
      ['completed', undefined],
    ]);
    assert.deepEqual(succeeded.sort((a, b) => a[1] - b[1]), [
      [1, 0],
      [2, 1],
      [3, 2],
    ]);
  });

  test('collectResults: false with failures: no failures kept, counts right, onFailure still called', async () => {
    const told: number[] = [];
    const log = eventLog();
    const p = stages<number>('nocollect', { collectResults: false }).stage('s', {
      tasks: (n: number) => {
        if (n % 2) throw new RangeError(`odd ${n}`);
        return n;
      },
      onFailure: (f) => told.push(f.index),
    });
    const result = await p.run(range(5), { onEvent: log.listen });
    assert.deepEqual([result.results, result.items, result.failures], [[], [], []]);
    assert.deepEqual([result.status, result.fed, result.completed, result.failed], ['failed', 5, 3, 2]);
    assert.deepEqual(told.sort(), [1, 3]);
    const end = log.of('run_end')[0];
    assert.equal(end?.status, 'failed');
    assert.match(end?.error?.message ?? '', /2 of 5 items failed/, 'run_end says why the batch failed');
    assert.equal(end?.failedNode, 's');
  });

  test('a signal aborted before the batch starts: no task runs, every item ends cancelled', async () => {
    let ran = 0;
    const p = stages<number>('pre-aborted').stage('s', {
      workers: 2,
      tasks: (n: number) => {
        ran++;
        return n;
      },
    });
    const result = await p.run(range(5), { signal: AbortSignal.abort('nope') });
    assert.equal(ran, 0);
    assert.equal(result.status, 'cancelled');
    assert.deepEqual([result.fed, result.completed, result.failed], [5, 0, 5]);
    assert.ok(result.failures.every((f) => f.error.type === CancelledError.name));
  });
});

describe('empty and async sources', { timeout: 10_000 }, () => {
  test('map() over an empty array and over an async iterable', async () => {
    assert.deepEqual(await map((n: number) => n, []), []);
    const source = (async function* () {
      for (const n of [3, 1, 2]) {
        await flush();
        yield n;
      }
    })();
    assert.deepEqual(await map(async (n: number) => n * 2, source, { concurrency: 2 }), [6, 2, 4]);
  });

  test('stream() over an empty source yields nothing and returns an empty result', async () => {
    const p = stages<number>('empty').stage('s', { tasks: (n: number) => n });
    for (const source of [[], (async function* () {})()]) {
      const gen = p.stream(source);
      let next = await gen.next();
      const seen = [];
      while (!next.done) {
        seen.push(next.value);
        next = await gen.next();
      }
      assert.deepEqual(seen, []);
      assert.deepEqual([next.value.status, next.value.fed], ['succeeded', 0]);
    }
  });
});

describe('Channel', { timeout: 10_000 }, () => {
  test('values come out in push order; close() lets the reader finish the buffer, then ends', async () => {
    const ch = new Channel<number>(10);
    const waiting = ch.next();
    ch.push(1);
    ch.push(2);
    ch.push(3);
    ch.close();
    ch.push(4); // after close: dropped
    assert.deepEqual(await waiting, { value: 1, done: false });
    const rest: number[] = [];
    for await (const v of ch) rest.push(v);
    assert.deepEqual(rest, [2, 3]);
    assert.equal((await ch.next()).done, true);
  });

  test('room() waits while the buffer is full and is released by next()', async () => {
    const ch = new Channel<string>(2);
    assert.equal(ch.room(), undefined);
    ch.push('a');
    ch.push('b');
    assert.equal(ch.full, true);
    let released = false;
    const room = ch.room()?.then(() => {
      released = true;
    });
    assert.ok(room, 'a full channel makes the producer wait');
    await flush();
    assert.equal(released, false);
    assert.deepEqual(await ch.next(), { value: 'a', done: false });
    await room;
    assert.equal(released, true);
  });

  test('return() (a reader breaking out) releases producers waiting for room', async () => {
    const ch = new Channel<number>(1);
    ch.push(1);
    const room = ch.room();
    assert.ok(room);
    for await (const _ of ch) break;
    await room;
    assert.equal(ch.room(), undefined, 'no producer waits on a reader that left');
    ch.push(2);
    assert.equal((await ch.next()).done, true);
  });
});
