// One process at a time in an embedded database folder: a second store (in
// this process or another) waits for the folder, then fails with an error
// naming the holder and the way out; a lock left by a killed process is taken
// over.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createStore, FolderBusyError, openStore } from '../exporters/postgres/index.ts';
import { startDoomedRun, tempFolder } from './store-support.ts';

const folder = tempFolder('lock');
after(folder.cleanup);

describe('the embedded database folder is one process\'s at a time', { timeout: 60_000 }, () => {
  test('a second store in this process waits for the first to close', async () => {
    const dataDir = join(folder.path, 'here');
    const first = await openStore({ dataDir });
    await assert.rejects(openStore({ dataDir, lockWaitMs: 200 }), (error: Error) => {
      assert.ok(error instanceof FolderBusyError);
      assert.match(error.message, new RegExp(`open in another process \\(pid ${process.pid}\\)`));
      return true;
    });
    const second = openStore({ dataDir, lockWaitMs: 20_000 });
    await first.close();
    const store = await second;
    assert.deepEqual((await store.listRuns()).runs, []);
    await store.close();
    assert.equal(existsSync(`${dataDir}.lock`), false, 'the lock goes with the last store');
  });

  test('close() while open() waits for the folder: the wait ends, and open() says the store closed', async () => {
    const dataDir = join(folder.path, 'closing');
    const first = await openStore({ dataDir });
    try {
      const second = createStore({ dataDir, lockWaitMs: 60_000, closeTimeoutMs: 200 });
      const opening = second.open();
      await second.close();
      await assert.rejects(opening, { message: `the store at ${dataDir} was closed while it opened` });
    } finally {
      await first.close();
    }
    const again = await openStore({ dataDir, lockWaitMs: 0 });
    await again.close();
  });

  test('a process holding the folder keeps others out with a clear error; once it is killed, its lock is taken over', async () => {
    const dataDir = join(folder.path, 'shared');
    const { child } = await startDoomedRun(dataDir, 'spanflow');
    await assert.rejects(openStore({ dataDir, lockWaitMs: 200 }), {
      name: 'FolderBusyError',
      message: `the embedded database in ${dataDir} is open in another process (pid ${child.pid}), and only one process at a time may use it: wait for that one to finish, or keep runs in a Postgres server (SPANFLOW_DATABASE_URL=postgres://…)`,
    });
    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.ok(existsSync(`${dataDir}.lock`), 'a killed process leaves its lock behind');
    const store = await openStore({ dataDir, lockWaitMs: 0 });
    assert.equal(store.interrupted, 1, 'and its run is marked interrupted');
    await store.close();
  });

  test('a lock naming a pid that no longer runs is taken over at once', async () => {
    const dataDir = join(folder.path, 'stale');
    writeFileSync(`${dataDir}.lock`, '2147483646');
    const store = await openStore({ dataDir, lockWaitMs: 0 });
    await store.close();
  });
});
