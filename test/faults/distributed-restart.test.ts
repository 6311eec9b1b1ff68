// The Postgres of a distributed queue restarts under a dispatcher and a worker
// (a private cluster, stopped and started by the test): their LISTEN
// connections and idle pool connections die with it. A task running across the
// restart still brings its result back, and the next task runs: each side makes
// its LISTEN connection again, and the bounded polls find what was said while
// it was gone. Neither process crashes on the dropped connections, and a
// dispatcher that first found the database down starts once it is back.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createDispatcher, type Dispatcher, type RemoteWorker, remoteTask, startWorker } from '../../distributed/index.ts';
import { fileWritten } from '../distributed-support.ts';
import type * as tasks from '../fixtures/remote-tasks.ts';
import { type PgCluster, startCluster } from '../pg-cluster.ts';
import { unless } from '../requirements.ts';
import { captureWarnings, HANG_GUARD } from '../support.ts';

const TASKS = new URL('../fixtures/remote-tasks.ts', import.meta.url);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('the queue’s Postgres restarts under a dispatcher and a worker', { skip: unless('postgres-server'), ...HANG_GUARD }, () => {
  let cluster: PgCluster;
  let dispatcher: Dispatcher;
  let worker: RemoteWorker;
  const dir = mkdtempSync(join(tmpdir(), 'spanflow-dist-restart-'));
  const warnings = captureWarnings('SpanflowRemoteWarning');

  before(async () => {
    cluster = await startCluster();
    worker = await startWorker({ connectionString: cluster.url(), queue: 'restart', root: ROOT, pollIntervalMs: 100 });
    dispatcher = createDispatcher({ connectionString: cluster.url(), pollIntervalMs: 100 });
  }, HANG_GUARD);

  after(async () => {
    await dispatcher?.close();
    await worker?.stop({ timeoutMs: 0 });
    warnings.stop();
    cluster?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a task running across the restart brings its result back, and the next one runs', HANG_GUARD, async () => {
    const double = remoteTask<typeof tasks.double>(TASKS, 'double', { queue: 'restart', dispatcher });
    assert.equal((await double.run(1)).doubled, 2, 'before the restart');

    const go = remoteTask<typeof tasks.waitForGo>(TASKS, 'waitForGo', { queue: 'restart', dispatcher });
    const across = go.run({ dir, name: 'across' });
    await fileWritten(join(dir, 'started-across'));
    await cluster.stop('fast');
    await cluster.start();
    writeFileSync(join(dir, 'go-across'), 'go');
    assert.equal(await across, 'done across', 'the task that ran across the restart');

    assert.equal((await double.run(2)).doubled, 4, 'after the restart');
    const states = await cluster.query<{ state: string; n: number }>('SELECT state, count(*)::int AS n FROM pgboss.job GROUP BY state');
    assert.deepEqual(states, [{ state: 'completed', n: 3 }]);
  });

  test('a dispatcher whose first task finds the database down starts once it is back', HANG_GUARD, async () => {
    await cluster.stop('fast');
    const late = createDispatcher({ connectionString: cluster.url(), pollIntervalMs: 100 });
    try {
      const double = remoteTask<typeof tasks.double>(TASKS, 'double', { queue: 'restart', dispatcher: late });
      await assert.rejects(double.run(1), /ECONNREFUSED|connect/);
      await cluster.start();
      assert.equal((await double.run(3)).doubled, 6);
    } finally {
      await late.close();
    }
  });
});
