// A task on a worker thread that runs out of time, is cancelled, exits its
// thread or runs out of memory: the attempt ends with the engine's status and a
// typed error naming the task, the retry policy applies, the thread is
// replaced and the pool goes on serving.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { collectRun, pipeline, StepFailedError, StepTimeoutError, stages } from '../sdk/index.ts';
import { WorkerExitError, WorkerOutOfMemoryError, WorkerPool, WorkerTaskError, workerTask } from '../worker-threads/index.ts';
import type * as tasks from './fixtures/worker-tasks.ts';
import { HANG_GUARD } from './support.ts';

const fixtures = new URL('./fixtures/worker-tasks.ts', import.meta.url);
const pool = new WorkerPool({ name: 'failures', minThreads: 1, maxThreads: 1 });
// A thread holds ~64 MB of old space: the task that hoards arrays reaches it quickly.
const smallPool = new WorkerPool({ name: 'small', minThreads: 1, maxThreads: 1, resourceLimits: { maxOldGenerationSizeMb: 64 } });
const whichThread = workerTask<typeof tasks.whichThread>(fixtures, 'whichThread', { pool });
const hang = workerTask<typeof tasks.hang>(fixtures, 'hang', { pool });
const exitOnFirst = workerTask<typeof tasks.exitOnFirst>(fixtures, 'exitOnFirst', { pool });
const fail = workerTask<typeof tasks.fail>(fixtures, 'fail', { pool });
const throwValue = workerTask<typeof tasks.throwValue>(fixtures, 'throwValue', { pool });
const exhaustMemory = workerTask<typeof tasks.exhaustMemory>(fixtures, 'exhaustMemory', { pool: smallPool });

const quickRetry = { attempts: 2, initialDelayMs: 1, jitter: 0 };

describe('failures of tasks on worker threads', () => {
  after(() => Promise.all([pool.close(), smallPool.close()]), HANG_GUARD);

  test('a timeout mid-task ends the attempt timed_out, stops the task with its thread, and the pool replaces it', HANG_GUARD, async () => {
    const before = await whichThread.run(undefined);
    const { result, of } = await collectRun(pipeline('stuck').step('render', hang, { timeout: 150 }).run(undefined));
    assert.equal(result.status, 'timed_out');
    assert.ok(result.error instanceof StepTimeoutError);
    assert.equal(result.error.node, 'render');
    assert.deepEqual(
      of('step_end').map((e) => [e.node, e.status]),
      [['render', 'timed_out']],
    );
    // The thread that ran the endless loop is gone (only stopping it could end the loop); a new one serves.
    assert.ok(!pool.threadIds.includes(before), `thread ${before} was stopped (threads now: ${pool.threadIds.join(', ')})`);
    const afterwards = await whichThread.run(undefined);
    assert.notEqual(afterwards, before);
  });

  test('cancelling the run stops the task inside its worker, and the run ends cancelled', HANG_GUARD, async () => {
    const before = await whichThread.run(undefined);
    const controller = new AbortController();
    const handle = pipeline('cancelled')
      .step('render', hang)
      .run(undefined, { signal: controller.signal, onEvent: (e) => e.type === 'step_start' && setTimeout(() => controller.abort(), 50) });
    const result = await handle;
    assert.equal(result.status, 'cancelled');
    assert.ok(!pool.threadIds.includes(before));
    assert.notEqual(await whichThread.run(undefined), before);
  });

  test('a task that calls process.exit fails its attempt with WorkerExitError; the retry runs on a new thread and succeeds', HANG_GUARD, async () => {
    const { result, of } = await collectRun(
      pipeline('exits')
        .step('render', ({ attempt, signal }) => exitOnFirst.run({ attempt }, { signal }), { retry: quickRetry })
        .run(undefined),
    );
    assert.equal(result.status, 'succeeded');
    assert.equal(result.outputs.render, 'attempt 2 ran');
    const [retry] = of('step_retry');
    assert.equal(retry?.error.type, 'WorkerExitError');
    assert.match(retry?.error.message ?? '', /worker task exitOnFirst \(worker-tasks\.ts\): its thread exited with code 3/);
  });

  test('a task that exits on every attempt fails the step cleanly, and the pool goes on serving', HANG_GUARD, async () => {
    const result = await pipeline('always-exits')
      .step('render', ({ signal }) => exitOnFirst.run({ attempt: 1 }, { signal }), { retry: quickRetry })
      .run(undefined);
    assert.equal(result.status, 'failed');
    assert.ok(result.error instanceof StepFailedError);
    assert.equal(result.error.attempts, 2);
    const cause = result.error.cause;
    assert.ok(cause instanceof WorkerExitError);
    assert.equal(cause.exitCode, 3);
    assert.equal(cause.task, 'exitOnFirst (worker-tasks.ts)');
    assert.equal(cause.pool, 'failures');
    assert.equal(typeof (await whichThread.run(undefined)), 'number');
  });

  test('a task that runs out of memory fails its attempt with WorkerOutOfMemoryError; the retry succeeds on a new thread', HANG_GUARD, async () => {
    const { result, of } = await collectRun(
      pipeline('hoards')
        .step('render', ({ attempt, signal }) => exhaustMemory.run({ attempt, failOn: [1] }, { signal }), { retry: quickRetry })
        .run(undefined),
    );
    assert.equal(result.status, 'succeeded');
    assert.equal(result.outputs.render, 'attempt 2 ran');
    assert.deepEqual(
      of('step_retry').map((e) => e.error.type),
      ['WorkerOutOfMemoryError'],
    );
  });

  test('out of memory on every attempt fails the step with the typed error, and the pool goes on serving', HANG_GUARD, async () => {
    const result = await pipeline('always-hoards')
      .step('render', ({ attempt, signal }) => exhaustMemory.run({ attempt, failOn: [1, 2] }, { signal }), { retry: quickRetry })
      .run(undefined);
    assert.equal(result.status, 'failed');
    const cause = (result.error as StepFailedError).cause;
    assert.ok(cause instanceof WorkerOutOfMemoryError, String(cause));
    assert.ok(cause instanceof WorkerExitError, 'out of memory is a kind of thread exit');
    assert.match(cause.message, /worker task exhaustMemory \(worker-tasks\.ts\) ran out of memory on pool 'small'/);
    assert.equal(await exhaustMemory.run({ attempt: 3, failOn: [] }), 'attempt 3 ran');
  });

  test('a stage task that throws fails its item with WorkerTaskError, keeping the worker error’s name and message', HANG_GUARD, async () => {
    const result = await stages<{ message: string }>('checks')
      .stage('check', { tasks: { name: 'check', run: fail, retry: quickRetry } })
      .run([{ message: 'frame 7 is corrupt' }]);
    assert.equal(result.status, 'failed');
    const [failure] = result.failures;
    assert.equal(failure?.attempts, 2, 'the retry policy applied');
    assert.equal(failure?.error.type, 'WorkerTaskError');
    assert.equal(failure?.error.message, 'worker task fail (worker-tasks.ts) threw RangeError: frame 7 is corrupt');
    const thrown = await fail.run({ message: 'again' }).catch((error: unknown) => error);
    assert.ok(thrown instanceof WorkerTaskError);
    assert.equal((thrown.cause as Error).name, 'RangeError');
    assert.match((thrown.cause as Error).stack ?? '', /worker-tasks\.ts/, 'the stack is the worker’s');
  });

  test('a task that throws something that is not an Error is described as an in-process throw would be, never [object Object]', HANG_GUARD, async () => {
    for (const [value, said] of [
      [{ code: 1 }, '{"code":1}'],
      ['plain text', 'plain text'],
      [null, 'null'],
    ] as const) {
      const thrown = await throwValue.run({ value }).catch((error: unknown) => error);
      assert.ok(thrown instanceof WorkerTaskError, String(thrown));
      assert.equal(thrown.message, `worker task throwValue (worker-tasks.ts) threw ${said}`);
      assert.deepEqual(thrown.cause, value, 'the value itself is the cause');
    }
  });
});
