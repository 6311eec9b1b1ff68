// spanflow/distributed at its edges, with a worker in this process: declarations
// that are wrong say what to fix; a result whose notification was missed is
// found by the dispatcher's bounded poll; a job cancelled behind the worker's
// back stops its task at the next heartbeat; a worker stopped gracefully lets a
// running task finish, and gives back one that outlives its grace (a
// WorkerLostError the retry policy runs again elsewhere); a module outside the
// worker's root is refused and not retried; a job not sent by spanflow is failed.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { createDispatcher, type Dispatcher, RemoteError, type RemoteWorker, remoteTask, startWorker, WorkerDefinitionError, WorkerLostError } from '../distributed/index.ts';
import { collectRun, pipeline } from '../sdk/index.ts';
import { dropSchema, fileWritten, jobStates, NEEDS_POSTGRES, TEST_DATABASE_URL } from './distributed-support.ts';
import type * as tasks from './fixtures/remote-tasks.ts';
import { definitionError } from './support.ts';

const TASKS = new URL('./fixtures/remote-tasks.ts', import.meta.url);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GUARD = { timeout: 60_000 };

describe('declaring remote work wrong', () => {
  // Made but never started: nothing connects until the first task runs.
  const dispatcher = createDispatcher({ connectionString: 'postgres://nobody@127.0.0.1:1/none' });
  after(() => dispatcher.close());

  test('remoteTask: a bad export, module, queue, dispatcher or option names the fix', () => {
    definitionError(() => remoteTask(TASKS, 'not a name', { queue: 'q', dispatcher }), /exportName must be the name of a function the module exports/);
    definitionError(() => remoteTask(new URL('./fixtures/nowhere.ts', import.meta.url), 'double', { queue: 'q', dispatcher }), /does not exist: check the path/);
    definitionError(() => remoteTask('relative/tasks.ts', 'double', { queue: 'q', dispatcher }), /not a file URL or an absolute path/);
    definitionError(() => remoteTask(TASKS, 'double', { queue: 'no spaces', dispatcher }), /queue must name a queue in letters, digits/);
    definitionError(() => remoteTask(TASKS, 'double', { queue: 'q', dispatcher: {} as Dispatcher }), /dispatcher must be a Dispatcher: createDispatcher\(\{ pool \}\)/);
    definitionError(() => remoteTask(TASKS, 'double', { queue: 'q', dispatcher, pool: 1 } as never), /unknown option 'pool': the options are queue and dispatcher/);
  });

  test('createDispatcher and startWorker: where the queue is kept, and their options, name the fix', async () => {
    definitionError(() => createDispatcher({}), /give exactly one of connectionString \(a postgres:\/\/ URL\) and pool/);
    definitionError(() => createDispatcher({ connectionString: 'mysql://x' }), /connectionString must be a postgres:\/\/ URL/);
    definitionError(() => createDispatcher({ connectionString: 'postgres://x', schema: 'No-Such' }), /schema must be a lower-case SQL name/);
    definitionError(() => createDispatcher({ connectionString: 'postgres://x', workerLostAfterMs: 5 }), /workerLostAfterMs must be a whole number of 100 or more/);
    definitionError(() => createDispatcher({ connectionString: 'postgres://x', retries: 3 } as never), /unknown option 'retries'/);
    await assert.rejects(startWorker({ connectionString: 'postgres://x', queue: '' }), WorkerDefinitionError);
    await assert.rejects(startWorker({ connectionString: 'postgres://x', queue: 'q', concurrency: 0 }), /concurrency must be a whole number of 1 or more/);
  });
});

describe('remote work at its edges, with a worker in this process', { skip: NEEDS_POSTGRES, ...GUARD }, () => {
  const schema = `edges_${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'spanflow-dist-edges-'));
  let dispatcher: Dispatcher;
  let boss: PgBoss;
  const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 4 });

  before(async () => {
    await dropSchema(schema);
    // The caller's own pool (closed by the test, after the dispatcher).
    // Heartbeats every second: a job cancelled behind its worker's back is found at the next one.
    dispatcher = createDispatcher({ pool, schema, workerLostAfterMs: 3_000, pollIntervalMs: 100 });
    boss = new PgBoss({ connectionString: TEST_DATABASE_URL, schema, schedule: false, supervise: false });
    await boss.start();
  });

  after(async () => {
    await dispatcher.close();
    await boss.stop({ graceful: false });
    await pool.end();
    await dropSchema(schema);
    rmSync(dir, { recursive: true, force: true });
  });

  test('a result whose notification never came is found by the bounded poll', GUARD, async () => {
    await boss.createQueue('unheard', { retryLimit: 0 });
    const double = remoteTask<typeof tasks.double>(TASKS, 'double', { queue: 'unheard', dispatcher });
    const running = double.run(4);
    // A worker that completes the job but never notifies (the notification lost): only the poll can find it.
    let job: { id: string } | undefined;
    while (!job) {
      [job] = await boss.fetch('unheard');
      if (!job) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await boss.complete('unheard', job.id, { ok: true, output: JSON.stringify({ doubled: 8 }) });
    assert.deepEqual(await running, { doubled: 8 });
  });

  test('a job cancelled behind its worker’s back stops its task at the next heartbeat', GUARD, async () => {
    const worker = await startWorker({ connectionString: TEST_DATABASE_URL, schema, queue: 'behind', root: ROOT });
    try {
      const wait = remoteTask<typeof tasks.waitForAbort>(TASKS, 'waitForAbort', { queue: 'behind', dispatcher });
      const running = wait.run({ dir, name: 'behind' }).then(
        () => assert.fail('the attempt ended well'),
        (error: unknown) => error,
      );
      await fileWritten(join(dir, 'started-behind'));
      const [job] = await boss.findJobs('behind', {});
      assert.ok(job);
      // Cancelled with pg-boss's own API: no notification reaches the worker.
      await boss.cancel('behind', job.id);
      const aborted = JSON.parse(await fileWritten(join(dir, 'aborted-behind')));
      assert.match(aborted.message, /is no longer active: its caller cancelled it/);
      const error = await running;
      assert.ok(error instanceof RemoteError, String(error));
      assert.match(error.message, /ended cancelled by someone other than its caller/);
    } finally {
      await worker.stop();
    }
  });

  test('a worker stopped gracefully lets its running task finish', GUARD, async () => {
    const worker = await startWorker({ connectionString: TEST_DATABASE_URL, schema, queue: 'graceful', root: ROOT });
    const go = remoteTask<typeof tasks.waitForGo>(TASKS, 'waitForGo', { queue: 'graceful', dispatcher });
    const running = go.run({ dir, name: 'graceful' });
    await fileWritten(join(dir, 'started-graceful'));
    const stopped = worker.stop({ timeoutMs: 60_000 });
    writeFileSync(join(dir, 'go-graceful'), 'go');
    assert.equal(await running, 'done graceful');
    await stopped;
    assert.equal(worker.processed, 1);
  });

  test('a task that outlives the grace is given back: a WorkerLostError, run again on another worker', GUARD, async () => {
    const first: RemoteWorker = await startWorker({ connectionString: TEST_DATABASE_URL, schema, queue: 'released', root: ROOT });
    const go = remoteTask<typeof tasks.waitForGo>(TASKS, 'waitForGo', { queue: 'released', dispatcher });
    const run = collectRun(pipeline<{ dir: string; name: string }>('released').step('go', go, { retry: { attempts: 2, initialDelayMs: 0 } }).run({ dir, name: 'released' }));
    await fileWritten(join(dir, 'started-released'));
    rmSync(join(dir, 'started-released'));
    await first.stop({ timeoutMs: 0 });
    // The second worker takes the second attempt; the go file lets it end.
    writeFileSync(join(dir, 'go-released'), 'go');
    const second = await startWorker({ connectionString: TEST_DATABASE_URL, schema, queue: 'released', root: ROOT });
    try {
      const { result, of } = await run;
      assert.equal(result.status, 'succeeded');
      assert.equal(result.outputs.go, 'done released');
      const retries = of('step_retry');
      assert.equal(retries.length, 1);
      assert.equal(retries[0]?.error.type, 'WorkerLostError');
      assert.match(retries[0]?.error.message ?? '', /was given back by its worker \(the worker of queue 'released' stopped before the job ended\)/);
      assert.equal(first.processed, 1, 'the first worker gave its job back');
      // The caller hears of the result as the worker commits it, maybe before the worker counts it: stop() waits for its jobs to end.
      await second.stop();
      assert.equal(second.processed, 1, 'the second ran the second attempt');
    } finally {
      await second.stop();
    }
  });

  test('a module outside the worker’s root is refused, and not retried', GUARD, async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'spanflow-root-'));
    const worker = await startWorker({ connectionString: TEST_DATABASE_URL, schema, queue: 'rooted', root: elsewhere });
    try {
      const double = remoteTask<typeof tasks.double>(TASKS, 'double', { queue: 'rooted', dispatcher });
      const result = await pipeline<number>('rooted').step('double', double, { retry: 3 }).run(1);
      assert.equal(result.status, 'failed');
      const cause = result.error?.cause;
      assert.ok(cause instanceof WorkerDefinitionError, String(result.error));
      assert.match(cause.message, /is outside this worker's root .*: start the worker with a root that holds it/);
      assert.equal((await jobStates(schema)).failed !== undefined, true);
    } finally {
      await worker.stop();
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  test('a job not sent by spanflow is failed, and the worker goes on', GUARD, async () => {
    const worker = await startWorker({ connectionString: TEST_DATABASE_URL, schema, queue: 'foreign', root: ROOT, pollIntervalMs: 50 });
    try {
      await boss.createQueue('foreign');
      const id = await boss.send('foreign', { hello: 'world' }, { retryLimit: 0 });
      assert.ok(id);
      let job = await boss.getJobById<unknown>('foreign', id);
      while (job?.state !== 'failed') {
        await new Promise((resolve) => setTimeout(resolve, 20));
        job = await boss.getJobById<unknown>('foreign', id);
      }
      assert.match(JSON.stringify(job.output), /was not sent by spanflow's dispatcher/);
      const double = remoteTask<typeof tasks.double>(TASKS, 'double', { queue: 'foreign', dispatcher });
      assert.equal((await double.run(2)).doubled, 4);
    } finally {
      await worker.stop();
    }
  });

  test('a worker with threads of its own runs the task on one, with its context; a timeout stops the thread', GUARD, async () => {
    const worker = await startWorker({ connectionString: TEST_DATABASE_URL, schema, queue: 'threaded', root: ROOT, threads: 1, concurrency: 2 });
    try {
      const where = remoteTask<typeof tasks.whereAmI>(TASKS, 'whereAmI', { queue: 'threaded', dispatcher });
      const run = await pipeline<number>('threaded').step('where', where).run(7);
      assert.equal(run.status, 'succeeded');
      assert.deepEqual(run.outputs.where, { n: 7, pid: process.pid, mainThread: false, key: `${run.runId}:where:-`, attempt: 1 });
      const wait = remoteTask<typeof tasks.waitForAbort>(TASKS, 'waitForAbort', { queue: 'threaded', dispatcher });
      const timedOut = await pipeline<{ dir: string; name: string }>('threaded-timeout').step('wait', wait, { timeout: 200 }).run({ dir, name: 'threaded' });
      assert.equal(timedOut.status, 'timed_out');
      // Its thread was stopped (a signal on a thread never fires): the pool goes on with a new one.
      const again = await pipeline<number>('threaded-again').step('where', where).run(8);
      assert.equal((again.outputs.where as { n: number }).n, 8);
      const missing = remoteTask(TASKS, 'nope', { queue: 'threaded', dispatcher });
      const failed = await pipeline<number>('threaded-missing').step('nope', missing, { retry: 3 }).run(1);
      assert.ok(failed.error?.cause instanceof WorkerDefinitionError, String(failed.error));
      assert.match(failed.error.cause.message, /has no exported function 'nope'/);
    } finally {
      await worker.stop();
    }
  });

  test('a task that returns nothing gives undefined, as in process (JSON has no undefined)', GUARD, async () => {
    const worker = await startWorker({ connectionString: TEST_DATABASE_URL, schema, queue: 'nothing', root: ROOT });
    try {
      const nothing = remoteTask<typeof tasks.nothing>(TASKS, 'nothing', { queue: 'nothing', dispatcher });
      assert.equal(await nothing.run(undefined as never), undefined);
      const double = remoteTask<typeof tasks.double>(TASKS, 'double', { queue: 'nothing', dispatcher });
      assert.equal((await double.run(0)).doubled, 0, 'a falsy output is an output');
    } finally {
      await worker.stop();
    }
  });

  test('a lost worker is a WorkerLostError, a RemoteError', () => {
    const lost = new WorkerLostError('t (m.ts)', 'q', 'job', 'worker lost');
    assert.ok(lost instanceof RemoteError);
    assert.equal(lost.name, 'WorkerLostError');
    assert.equal(existsSync(dir), true);
  });
});
