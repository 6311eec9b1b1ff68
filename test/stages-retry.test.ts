// Stage pipelines, when tasks fail: per-task retry with backoff, per-stage retry (the item goes
// back through the whole stage after a delay), timeouts, concurrency limits, skip, callbacks —
// and every item accounted for (fed = completed + failed + skipped) in both retry modes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type FailedItem, stages } from '../sdk/index.ts';
import { eventLog, flush, range } from './support.ts';

class FlakyError extends Error {}
class QuotaError extends Error {}
class ChecksumError extends Error {}

const byIndex = (a: FailedItem, b: FailedItem) => a.index - b.index;

describe('per-task retry', { timeout: 10_000 }, () => {
  test('retries a failing task with exponential backoff, reporting error, attempt and delay', async () => {
    const log = eventLog();
    const attempts: number[] = [];
    const p = stages<number>('task-retry').stage('fetch', {
      retry: { attempts: 3, initialDelayMs: 2, factor: 2, jitter: 0 },
      tasks: function fetchOne(n: number, ctx) {
        attempts.push(ctx.attempt);
        if (ctx.attempt < 3) throw new FlakyError(`try ${ctx.attempt}`);
        return n;
      },
    });
    const result = await p.run([7], { onEvent: log.listen });
    assert.deepEqual(result.results, [7]);
    assert.deepEqual(attempts, [1, 2, 3]);
    assert.deepEqual(
      log.of('task_retry').map((e) => [e.task, e.attempt, e.delayMs, e.error.type, e.error.message]),
      [
        ['fetchOne', 1, 2, 'FlakyError', 'try 1'],
        ['fetchOne', 2, 4, 'FlakyError', 'try 2'],
      ],
    );
    assert.deepEqual(log.of('task_start').map((e) => e.attempt), [1, 2, 3]);
    const ends = log.of('task_end');
    assert.deepEqual(ends.map((e) => [e.status, e.attempt]), [['succeeded', 3]]);
    assert.ok(typeof ends[0]?.durationMs === 'number' && ends[0].durationMs >= 0);
    assert.deepEqual(log.of('item_status').map((e) => e.status), ['queued', 'in_progress', 'retrying', 'in_progress', 'retrying', 'in_progress', 'completed']);
  });

  test('exhausted retries fail the item with message, error class, stage, task and attempts; the rest go on', async () => {
    const log = eventLog();
    const told: FailedItem[] = [];
    const p = stages<number>('exhaust')
      .stage('read', { tasks: (n: number) => n })
      .stage('fetch', {
        workers: 2,
        retry: { attempts: 3, initialDelayMs: 1, jitter: 0 },
        tasks: [
          function prep(n: number) {
            return n;
          },
          function upload(n: number) {
            if (n % 2) throw new QuotaError(`quota ${n}`);
            return n;
          },
        ],
        onFailure: (failure) => told.push(failure),
      });
    const result = await p.run(range(6), { onEvent: log.listen });
    assert.equal(result.status, 'failed');
    assert.deepEqual(result.results, [0, 2, 4]);
    assert.deepEqual([result.fed, result.completed, result.failed, result.skipped], [6, 3, 3, 0]);
    const failures = [...result.failures].sort(byIndex);
    assert.deepEqual(
      failures.map((f) => [f.itemId, f.stage, f.task, f.error.type, f.error.message, f.attempts]),
      [1, 3, 5].map((n) => [String(n), 'fetch', 'upload', 'QuotaError', `quota ${n}`, 3]),
    );
    assert.deepEqual([...told].sort(byIndex), failures);
    const outcome = result.items[3];
    assert.equal(outcome?.status === 'failed' && outcome.failure.error.type, 'QuotaError');
    assert.deepEqual(log.of('task_end').filter((e) => e.status === 'failed').map((e) => [e.task, e.attempt]), [
      ['upload', 3],
      ['upload', 3],
      ['upload', 3],
    ]);
    assert.equal(log.of('task_retry').length, 6);
    const failedEvents = log.of('item_status').filter((e) => e.status === 'failed');
    assert.deepEqual(failedEvents.map((e) => [e.stage, e.error?.type]), Array(3).fill(['fetch', 'QuotaError']));
  });

  test("a task's own retry overrides the stage's; retryIf stops retrying errors no attempt can fix", async () => {
    const calls = { once: 0, check: 0, flaky: 0 };
    /** A task that throws `error` for the item named after it and passes the others through. */
    const failsOn = (name: keyof typeof calls, error: () => Error, retry?: number) => ({
      name,
      ...(retry === undefined ? {} : { retry }),
      run: (v: string) => {
        if (v !== name) return v;
        calls[name]++;
        throw error();
      },
    });
    const p = stages<string>('override').stage('s', {
      retry: { attempts: 4, initialDelayMs: 1, jitter: 0, retryIf: (error) => !(error instanceof ChecksumError) },
      tasks: [failsOn('once', () => new FlakyError('x'), 1), failsOn('check', () => new ChecksumError('corrupt')), failsOn('flaky', () => new FlakyError('y'))],
    });
    const result = await p.run(['once', 'check', 'flaky', 'fine']);
    assert.deepEqual(calls, { once: 1, check: 1, flaky: 4 });
    assert.deepEqual(result.results, ['fine']);
    assert.deepEqual([...result.failures].sort(byIndex).map((f) => [f.task, f.attempts, f.error.type]), [
      ['once', 1, 'FlakyError'],
      ['check', 1, 'ChecksumError'],
      ['flaky', 4, 'FlakyError'],
    ]);
  });
});

describe('per-stage retry', { timeout: 10_000 }, () => {
  test('the item goes back through the whole stage, after at least the backoff delay', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const log = eventLog();
    const calls: string[] = [];
    const p = stages<number>('stage-retry').stage('fetch', {
      retry: { mode: 'stage', attempts: 3, initialDelayMs: 50, factor: 2, jitter: 0 },
      tasks: [
        function download(n: number, ctx) {
          calls.push(`download pass ${ctx.stageAttempt} attempt ${ctx.attempt}`);
          return n;
        },
        function verify(n: number, ctx) {
          calls.push(`verify pass ${ctx.stageAttempt}`);
          if (ctx.stageAttempt < 3) throw new ChecksumError('bad checksum');
          return n * 2;
        },
      ],
    });
    const running = p.run([21], { onEvent: log.listen });
    const queued = () => log.of('item_status').filter((e) => e.status === 'queued').length;
    for (const [round, delay] of [[1, 50], [2, 100]] as const) {
      await log.waitFor((e) => e.type === 'item_status' && e.status === 'retrying' && log.of('item_status').filter((s) => s.status === 'retrying').length === round);
      t.mock.timers.tick(delay - 1);
      await flush();
      assert.equal(queued(), round, `pass ${round + 1} not queued before ${delay} ms`);
      t.mock.timers.tick(1);
      await flush();
      assert.equal(queued(), round + 1, `pass ${round + 1} queued after ${delay} ms`);
    }
    const result = await running;
    assert.deepEqual(result.results, [42]);
    assert.deepEqual(calls, [1, 2, 3].flatMap((pass) => [`download pass ${pass} attempt 1`, `verify pass ${pass}`]));
    const statuses = log.of('item_status').map((e) => (e.status === 'retrying' ? `retrying ${e.error?.type}` : `${e.status} ${e.attempt}`));
    assert.deepEqual(statuses, [
      'queued 1',
      'in_progress 1',
      'retrying ChecksumError',
      'queued 2',
      'in_progress 2',
      'retrying ChecksumError',
      'queued 3',
      'in_progress 3',
      'completed 3',
    ]);
    assert.equal(log.of('task_retry').length, 0, 'tasks are not retried in place');
    assert.deepEqual(log.of('task_end').filter((e) => e.task === 'verify').map((e) => e.status), ['failed', 'failed', 'succeeded']);
  });

  test('exhausted passes fail the item with the passes as attempts; skips and completions are counted too', async () => {
    const log = eventLog();
    const p = stages<number>('stage-exhaust')
      .stage('check', {
        workers: 2,
        retry: { mode: 'stage', attempts: 2, initialDelayMs: 1, jitter: 0 },
        skip: (n) => n === 3,
        tasks: function inspect(n: number) {
          if (n === 2) throw new TypeError('nope');
          return n;
        },
      })
      .stage('store', { tasks: (n: number) => n + 100 });
    const result = await p.run(range(5), { onEvent: log.listen });
    assert.deepEqual([result.fed, result.completed, result.failed, result.skipped], [5, 3, 1, 1]);
    assert.equal(result.fed, result.completed + result.failed + result.skipped);
    assert.deepEqual(result.results, [100, 101, 104]);
    const [failure] = result.failures;
    assert.deepEqual([failure?.itemId, failure?.stage, failure?.task, failure?.error.type, failure?.attempts], ['2', 'check', 'inspect', 'TypeError', 2]);
    assert.deepEqual(result.items[3], { status: 'skipped', itemId: '3', index: 3, stage: 'check' });
    const item2 = log.of('item_status').filter((e) => e.itemId === '2').map((e) => e.status);
    assert.deepEqual(item2, ['queued', 'in_progress', 'retrying', 'queued', 'in_progress', 'failed']);
    assert.deepEqual(log.of('task_end').filter((e) => e.itemId === '2').map((e) => e.status), ['failed', 'failed']);
  });
});

describe('timeouts, limits, skip and callbacks', { timeout: 10_000 }, () => {
  test('a task over its timeout is aborted and fails with StepTimeoutError, even when it ignores its signal', async () => {
    const log = eventLog();
    let aborted = 0;
    const p = stages<string>('timeout').stage('slow', {
      timeout: 5,
      retry: { attempts: 2, initialDelayMs: 1, jitter: 0 },
      tasks: (v: string, ctx) =>
        v === 'deaf'
          ? new Promise<string>(() => {})
          : new Promise<string>((_resolve, reject) => {
              ctx.signal.addEventListener('abort', () => {
                aborted++;
                reject(ctx.signal.reason);
              });
            }),
    });
    const result = await p.run(['polite', 'deaf'], { onEvent: log.listen });
    assert.deepEqual([result.failed, result.completed], [2, 0]);
    for (const failure of result.failures) assert.deepEqual([failure.error.type, failure.attempts], ['StepTimeoutError', 2]);
    assert.equal(aborted, 2, 'the polite task saw its signal on both attempts');
    assert.deepEqual(log.of('task_end').map((e) => e.status), ['timed_out', 'timed_out']);
    assert.ok(log.of('task_retry').every((e) => e.error.type === 'StepTimeoutError'));
  });

  test('a task concurrency limit caps items in that task across the workers', async () => {
    let inUpload = 0;
    let peak = 0;
    const p = stages<number>('limits').stage('s', {
      workers: 5,
      tasks: [
        (n: number) => n,
        {
          name: 'upload',
          concurrency: 2,
          run: async (n: number) => {
            peak = Math.max(peak, ++inUpload);
            await sleep(3);
            inUpload--;
            return n;
          },
        },
      ],
    });
    const result = await p.run(range(10));
    assert.equal(peak, 2);
    assert.deepEqual(result.results, range(10));
  });

  test('a throwing skip predicate fails its item; throwing callbacks are warnings; nothing hangs or is lost', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const p = stages<number>('callbacks').stage('s', {
        workers: 2,
        tasks: (n: number) => {
          if (n === 3) throw new QuotaError('over');
          return n;
        },
        skip: (n) => {
          if (n === 1) throw new RangeError('bad predicate');
          return n === 4;
        },
        onSuccess: () => {
          throw new Error('onSuccess bug');
        },
        onFailure: () => {
          throw new Error('onFailure bug');
        },
      });
      const result = await p.run(range(5));
      // Warnings are emitted on a later tick: give them a few turns to arrive.
      for (let turn = 0; turn < 50 && warnings.length < 4; turn++) await flush();
      assert.deepEqual([result.fed, result.completed, result.failed, result.skipped], [5, 2, 2, 1]);
      assert.deepEqual([...result.failures].sort(byIndex).map((f) => [f.itemId, f.error.type, f.stage]), [
        ['1', 'RangeError', 's'],
        ['3', 'QuotaError', 's'],
      ]);
      assert.equal(warnings.filter((m) => /onSuccess threw: onSuccess bug$/.test(m)).length, 2);
      assert.equal(warnings.filter((m) => /onFailure threw: onFailure bug$/.test(m)).length, 2);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
