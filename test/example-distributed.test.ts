// examples/distributed/main.ts as the README's "Scale out" runs it: two
// `spanflow worker` processes on the render queue, then the example, against
// the test database (pg-boss's default schema, which only this test uses).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cli } from './cli-support.ts';
import { dropSchema, jobStates, NEEDS_POSTGRES, startWorkerProcess, stopWorkerProcess, TEST_DATABASE_URL, type WorkerProcess } from './distributed-support.ts';

const MAIN = fileURLToPath(new URL('../examples/distributed/main.ts', import.meta.url));
const GUARD = { timeout: 120_000 };

describe('examples/distributed', { skip: NEEDS_POSTGRES, ...GUARD }, () => {
  let workers: WorkerProcess[] = [];

  before(async () => {
    await dropSchema('pgboss');
    workers.push(await startWorkerProcess('render', 'pgboss', { concurrency: 4 }));
    workers.push(await startWorkerProcess('render', 'pgboss', { concurrency: 4 }));
  }, GUARD);

  after(async () => {
    await Promise.all(workers.map(stopWorkerProcess));
    workers = [];
    await dropSchema('pgboss');
  }, GUARD);

  test('the film renders its scenes on the workers', GUARD, async () => {
    const env = { ...process.env, SPANFLOW_DATABASE_URL: TEST_DATABASE_URL };
    const { stdout } = await promisify(execFile)(process.execPath, [MAIN], { env, timeout: 60_000 });
    const lines = stdout.trim().split('\n');
    assert.equal(lines[0], 'succeeded 6 scenes rendered on workers');
    assert.deepEqual(
      lines.slice(1).map((line) => line.replace(/[0-9a-f]{12}$/, '…')),
      [1, 2, 3, 4, 5, 6].map((n) => `scene ${n}: …`),
    );
    const states = await jobStates('pgboss');
    assert.deepEqual(states, { completed: 6 });
  });

  test('spanflow worker on a database that does not answer: one line saying so, exit 1', async () => {
    const { code, stderr } = await cli(['worker', '--queue', 'render', '--database-url', 'postgres://app:secret@127.0.0.1:1/app']);
    assert.equal(code, 1);
    assert.match(stderr, /^spanflow: could not start the worker on postgres:\/\/app:\*+@127\.0\.0\.1:1\/app: .*ECONNREFUSED/);
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
    const usage = await cli(['worker', '--queue', 'render', '--database-url', 'postgres://127.0.0.1:1/app', '--queue-schema', 'Bad-Schema']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /schema must be a lower-case SQL name/);
  });

  test('spanflow worker without a database: says what to give, exit 2', async () => {
    const { code, stderr } = await cli(['worker', '--queue', 'render'], { env: { SPANFLOW_DATABASE_URL: '', DATABASE_URL: '' } });
    assert.equal(code, 2);
    assert.match(stderr, /spanflow worker needs the Postgres its queue is kept in: give --database-url postgres:\/\/…/);
  });
});
