// Worker tasks and pools declared wrong fail with a WorkerDefinitionError that
// names what is wrong and the fix: when declared where it can be known then,
// else (an export, a module that fails to load) at the first run, never retried.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { DefinitionError, pipeline, StepFailedError } from '../sdk/index.ts';
import { WorkerDefinitionError, WorkerPool, type WorkerPoolOptions, WorkerPoolError, workerTask } from '../worker-threads/index.ts';
import type * as tasks from './fixtures/worker-tasks.ts';

const fixtures = new URL('./fixtures/worker-tasks.ts', import.meta.url);
const pool = new WorkerPool({ name: 'bad-input', minThreads: 1, maxThreads: 1 });

/** Asserts `fn` throws a WorkerDefinitionError (a DefinitionError) whose message matches each pattern. */
function definitionError(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof WorkerDefinitionError, String(error));
    assert.ok(error instanceof DefinitionError, 'a kind of DefinitionError');
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  });
}

describe('worker tasks and pools declared wrong', { timeout: 30_000 }, () => {
  after(() => pool.close());

  test('a module that does not exist fails when declared, naming the path and how to give it', () => {
    definitionError(
      () => workerTask(new URL('./fixtures/no-such-module.ts', import.meta.url), 'render'),
      /worker task render: module .*no-such-module\.ts does not exist/,
      /does not exist: check the path \(relative to the file that declares the task when you give it as new URL\('\.\/render\.ts', import\.meta\.url\)\)$/,
    );
  });

  test('a relative path, a directory or a URL that is not a file fails when declared', () => {
    definitionError(() => workerTask('./fixtures/worker-tasks.ts', 'double'), /is not a file URL or an absolute path/, /import\.meta\.url/);
    definitionError(() => workerTask(new URL('./fixtures/', import.meta.url), 'double'), /is not a file: name the worker module itself/);
    definitionError(() => workerTask(new URL('https://example.com/render.ts'), 'double'), /is not a file: worker modules are files/);
    definitionError(() => workerTask(42 as unknown as string, 'double'), /module must be a file URL or an absolute path \(got number\)/);
  });

  test('an export name that cannot name a function fails when declared', () => {
    for (const name of ['', 'render-frames', 42]) {
      definitionError(() => workerTask(fixtures, name as string), /exportName must be the name of a function the module exports/);
    }
  });

  test('unknown task options and a pool that is not a WorkerPool fail when declared', () => {
    definitionError(() => workerTask(fixtures, 'double', { pools: pool } as never), /unknown option 'pools': the only option is pool/);
    definitionError(() => workerTask(fixtures, 'double', { pool: { name: 'x' } as never }), /pool must be a WorkerPool/);
  });

  test('an export that is not a function fails at the first run, listing the module’s functions, and is not retried', async () => {
    const missing = workerTask(fixtures, 'notAFunction', { pool });
    const result = await pipeline('missing-export').step('render', missing, { retry: 3 }).run(undefined);
    assert.equal(result.status, 'failed');
    assert.ok(result.error instanceof StepFailedError);
    assert.equal(result.error.attempts, 1, 'a definition error is never retried');
    const cause = result.error.cause;
    assert.ok(cause instanceof WorkerDefinitionError);
    assert.match(cause.message, /^worker task notAFunction \(worker-tasks\.ts\): module test\/fixtures\/worker-tasks\.ts has no exported function 'notAFunction'/);
    assert.match(cause.message, /its functions: .*double.*spin/);
    assert.match(cause.message, /export function notAFunction\(input\)/);
  });

  test('a module that throws as it loads fails at the first run with its error, and is not retried', async () => {
    const broken = workerTask(new URL('./fixtures/worker-broken.ts', import.meta.url), 'render', { pool });
    const error = await broken.run(undefined).catch((thrown: unknown) => thrown);
    assert.ok(error instanceof WorkerDefinitionError, String(error));
    assert.match(error.message, /module test\/fixtures\/worker-broken\.ts failed to load in a worker thread: Error: RENDER_PROFILE is not set/);
    assert.equal((error.cause as Error).message, 'RENDER_PROFILE is not set');
    const result = await pipeline('broken').step('render', broken, { retry: 3 }).run(undefined);
    assert.equal((result.error as StepFailedError).attempts, 1);
  });

  test('input that cannot be copied to a thread fails the attempt with a WorkerPoolError naming the task', async () => {
    const double = workerTask<typeof tasks.double>(fixtures, 'double', { pool });
    const error = await double.run({ n: 1, onDone: () => {} } as never).catch((thrown: unknown) => thrown);
    assert.ok(error instanceof WorkerPoolError, String(error));
    assert.match(error.message, /worker task double \(worker-tasks\.ts\): its input or output cannot be copied between threads/);
    assert.match(error.message, /send plain data/);
    assert.equal((await double.run({ n: 2 })).n, 4, 'the pool goes on serving');
  });

  test('bad pool options fail when the pool is made, each with the fix', () => {
    const cases: [WorkerPoolOptions, RegExp][] = [
      [{ maxThreads: 0 }, /worker pool 'default': maxThreads must be a whole number of 1 or more \(got 0\)/],
      [{ minThreads: -1 }, /minThreads must be a whole number of 0 or more/],
      [{ minThreads: 4, maxThreads: 2 }, /minThreads \(4\) is more than maxThreads \(2\): raise maxThreads or lower minThreads/],
      [{ maxThread: 2 } as WorkerPoolOptions, /unknown option 'maxThread': the options are name, minThreads, maxThreads/],
      [{ idleTimeout: -5 }, /idleTimeout must be a number of ms, 0 or more \(got -5\)/],
      [{ maxQueue: 1.5 }, /maxQueue must be a whole number of 0 or more, 'auto' or Infinity/],
      [{ concurrentTasksPerWorker: 0 }, /concurrentTasksPerWorker must be a whole number of 1 or more/],
      [{ resourceLimits: { maxOldGenerationSizeMB: 64 } as never }, /unknown resource limit 'maxOldGenerationSizeMB': the limits are maxOldGenerationSizeMb/],
      [{ resourceLimits: { maxOldGenerationSizeMb: 0 } }, /resourceLimits\.maxOldGenerationSizeMb must be a positive number of MB \(got 0\)/],
      [{ name: '' }, /worker pool: name must be a non-empty string/],
    ];
    for (const [options, pattern] of cases) definitionError(() => new WorkerPool(options), pattern);
    definitionError(() => new WorkerPool(null as never), /options must be an object/);
  });
});
