// Stage pipelines, stopping early: shutdown() mid-run (tasks that ignore their signal too,
// items in every place an item can be), the signal option, a stalled async source, and a
// stream() consumer that breaks out or throws. Every item fed is accounted for.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type BatchResult, type SpanflowEvent, stages } from '../sdk/index.ts';
import { eventLog, latch, never, range, status } from './support.ts';

/** Every item fed has exactly one outcome and one final item_status event. */
function assertAccounted(result: BatchResult<unknown>, events: SpanflowEvent[]): void {
  assert.equal(result.fed, result.completed + result.failed + result.skipped);
  assert.equal(result.items.length, result.fed);
  assert.ok(result.items.every((o, i) => o !== undefined && o.index === i));
  const finals = events.filter((e) => e.type === 'item_status' && ['completed', 'failed', 'skipped'].includes(e.status));
  assert.equal(finals.length, result.fed);
  assert.equal(new Set(finals.map((e) => (e.type === 'item_status' ? e.itemId : ''))).size, result.fed);
}

describe('shutdown()', { timeout: 10_000 }, () => {
  test('a 3-stage pipeline stopped mid-run resolves, and every item ends completed or cancelled where it was', async (t) => {
    const log = eventLog();
    const p = stages<number>('three')
      .stage('a', {
        workers: 1,
        capacity: 2,
        retry: { mode: 'stage', attempts: 2, initialDelayMs: 60_000, jitter: 0 },
        tasks: (n: number) => {
          if (n === 3) throw new Error('flaky'); // waits a minute for its second pass
          return n;
        },
      })
      .stage('b', { workers: 1, capacity: 1, timeout: 60_000, tasks: (n: number) => (n >= 2 ? never<number>() : n) }) // ignores its signal
      .stage('c', { workers: 1, tasks: (n: number) => (n === 1 ? never<number>() : n) }); // ignores its signal
    const batch = p.start({ onEvent: log.listen });
    t.after(() => batch.shutdown()); // no minute-long retry timer left behind if an assertion fails
    const feeding = batch.feed(range(10));
    // One worker per stage keeps each stage first-in first-out, so where each item waits is known:
    // 0 done; 1 stuck in c; 2 stuck in b, 4 in b's queue, 5 waiting to enter it; 3 waiting for its
    // second pass through a; 6 and 7 in a's queue, 8 waiting to enter it; 9 not fed yet.
    await Promise.all([
      log.waitFor(status('0', 'completed')),
      log.waitFor((e) => e.type === 'task_start' && e.stage === 'c' && e.itemId === '1'),
      log.waitFor((e) => e.type === 'task_start' && e.stage === 'b' && e.itemId === '2'),
      log.waitFor(status('3', 'retrying')),
      log.waitFor(status('5', 'queued', 'b')),
      log.waitFor(status('8', 'queued', 'a')),
    ]);
    const before = batch.snapshot().stats;
    assert.deepEqual([before.fed, before.completed, before.inFlight], [9, 1, 8]);

    const result = await batch.shutdown('test over');
    await feeding; // feed() blocked by backpressure resolves too
    assert.equal(result.status, 'cancelled');
    assert.deepEqual([result.fed, result.completed, result.failed, result.skipped], [9, 1, 8, 0]);
    assert.deepEqual(result.results, [0]);
    assertAccounted(result, log.events);
    const where = Object.fromEntries(result.failures.map((f) => [f.itemId, f.stage]));
    assert.deepEqual(where, { 1: 'c', 2: 'b', 3: 'a', 4: 'b', 5: 'b', 6: 'a', 7: 'a', 8: 'a' });
    assert.ok(result.failures.every((f) => f.error.type === 'CancelledError' && f.error.message.includes('test over')));
    const end = log.of('run_end')[0];
    assert.deepEqual([end?.status, end?.items], ['cancelled', { fed: 9, completed: 1, failed: 8, skipped: 0 }]);
    const after = batch.snapshot();
    assert.deepEqual([after.running, after.stats.inFlight], [false, 0]);
    assert.equal(await batch.join(), result, 'join() after shutdown() gives the same result');
  });

  test('the signal option stops run() like shutdown()', async () => {
    const log = eventLog();
    const controller = new AbortController();
    const p = stages<number>('signal').stage('s', {
      workers: 2,
      tasks: (n: number) => {
        if (n === 4) controller.abort(new Error('user pressed stop'));
        return n >= 4 ? never<number>() : n;
      },
    });
    const result = await p.run(range(20), { signal: controller.signal, onEvent: log.listen });
    assert.equal(result.status, 'cancelled');
    assert.ok(result.completed >= 1 && result.fed < 20, `stopped early (fed ${result.fed})`);
    assert.equal(result.items[4]?.status, 'failed');
    assertAccounted(result, log.events);
    assert.ok(result.failures.every((f) => f.error.type === 'CancelledError' && f.error.message.includes('user pressed stop')));
  });

  test('shutdown resolves while feed() waits on an async source that has nothing yet', async () => {
    const log = eventLog();
    let stopped = false;
    async function* source() {
      try {
        yield 1;
        yield 2;
        await never();
      } finally {
        stopped = true;
      }
    }
    const p = stages<number>('stalled').stage('s', { tasks: (n: number) => n * 2 });
    const batch = p.start({ onEvent: log.listen });
    void batch.feed(source());
    await log.waitFor(status('1', 'completed'));
    const result = await batch.shutdown();
    assert.deepEqual([result.status, result.fed, result.completed], ['cancelled', 2, 2]);
    assert.deepEqual(result.results, [2, 4]);
    assertAccounted(result, log.events);
    assert.equal(stopped, false, 'the source is still suspended in its own await: nothing more is taken from it');
  });

  test('run() over a stalled async source ends when its signal aborts, and feed() returns', async () => {
    const controller = new AbortController();
    async function* source() {
      yield 1;
      yield 2;
      await never();
    }
    const p = stages<number>('stalled-run').stage('s', { tasks: (n: number) => n * 2 });
    const log = eventLog();
    const running = p.run(source(), { signal: controller.signal, onEvent: log.listen });
    await log.waitFor(status('1', 'completed'));
    controller.abort(new Error('enough'));
    const result = await running;
    assert.deepEqual([result.status, result.fed, result.completed], ['cancelled', 2, 2]);
    assertAccounted(result, log.events);
  });
});

describe('stream() early exit', { timeout: 10_000 }, () => {
  test('breaking out shuts the batch down: no new tasks start and every item fed is accounted for', async () => {
    const log = eventLog();
    const p = stages<number>('early')
      .stage('a', { workers: 2, tasks: (n: number) => n })
      .stage('b', { workers: 2, tasks: (n: number) => (n === 2 ? never<number>() : n) }); // item 2 ignores its signal
    const got: number[] = [];
    for await (const outcome of p.stream(range(1000), { onEvent: log.listen })) {
      if (outcome.status === 'completed') got.push(outcome.value);
      if (got.length === 3) break;
    }
    const startsAtBreak = log.of('task_start').length;
    const snap = p.snapshot();
    assert.ok(snap);
    assert.deepEqual([snap.running, snap.stats.inFlight], [false, 0]);
    assert.ok(snap.stats.fed < 1000, `feeding stopped early (fed ${snap.stats.fed})`);
    assert.equal(snap.stats.fed, snap.stats.completed + snap.stats.failed + snap.stats.skipped);
    assert.ok(snap.stats.failed >= 1, 'item 2, stuck in b, was cancelled');
    const end = log.of('run_end')[0];
    assert.deepEqual([end?.status, end?.items?.fed], ['cancelled', snap.stats.fed]);
    await sleep(10);
    assert.equal(log.of('task_start').length, startsAtBreak, 'nothing started after the break');
  });

  test('a consumer that throws also shuts the batch down, and its error reaches the caller', async () => {
    const p = stages<number>('throws').stage('s', { workers: 2, tasks: (n: number) => (n === 1 ? never<number>() : n) });
    await assert.rejects(async () => {
      for await (const outcome of p.stream(range(50))) if (outcome.index === 3) throw new Error('consumer bug');
    }, /consumer bug/);
    const snap = p.snapshot();
    assert.deepEqual([snap?.running, snap?.stats.inFlight], [false, 0]);
  });

  test('breaking out of a stream over a stalled async source ends at once', async () => {
    const gate = latch();
    async function* source() {
      yield 1;
      yield 2;
      await gate.promise; // a live source with nothing to give yet
      yield 3;
    }
    const p = stages<number>('live').stage('s', { tasks: (n: number) => n });
    const seen: number[] = [];
    for await (const outcome of p.stream(source())) {
      seen.push(outcome.index);
      break;
    }
    const snap = p.snapshot();
    assert.deepEqual([seen, snap?.running, snap?.stats.inFlight], [[0], false, 0]);
    gate.resolve(); // the source wakes later: the ended batch takes nothing more from it
    await sleep(1);
    assert.equal(p.snapshot()?.stats.fed, snap?.stats.fed);
  });
});
