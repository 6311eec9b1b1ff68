// The embedded database is shared: stores in this process and in others read
// while one writes (SQLite's WAL: readers never wait), and a write held up by
// another connection's past busyTimeoutMs is told once and tried again until
// it lands. A process killed mid-run leaves its run to the next open, which
// marks it interrupted. (Before, the folder was one process's at a time.)

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, test } from 'node:test';
import { embeddedFile, openStore, type RunPage } from '../exporters/postgres/index.ts';
import { pipeline, type SpanflowEvent } from '../sdk/index.ts';
import { bin, cli } from './cli-support.ts';
import { captureWarnings, startDoomedRun, tempFolder } from './store-support.ts';
import { HANG_GUARD } from './support.ts';

const folder = tempFolder('shared');
after(folder.cleanup);

const listed = async (dataDir: string): Promise<RunPage> => {
  const { code, stdout, stderr } = await cli(['runs', '--data-dir', dataDir, '--json']);
  assert.equal(code, 0, stderr);
  return JSON.parse(stdout) as RunPage;
};

describe('the embedded database, shared', () => {
  test('two stores in this process: what one writes, the other reads at once', HANG_GUARD, async () => {
    const dataDir = join(folder.path, 'here');
    const writer = await openStore({ dataDir });
    const reader = await openStore({ dataDir });
    try {
      const { runId } = await pipeline('shared')
        .step('only', () => 'done')
        .run(undefined, { persist: writer });
      await writer.flush();
      assert.equal((await reader.getRun(runId))?.status, 'succeeded');
    } finally {
      await writer.close();
      await reader.close();
    }
  });

  test('a process writing a run under way: this one and `spanflow runs` read it as running; killed, the next open marks it interrupted', HANG_GUARD, async () => {
    const dataDir = join(folder.path, 'live');
    const { child, runId } = await startDoomedRun(dataDir, 'spanflow');
    try {
      const reading = await openStore({ dataDir, migrate: false });
      try {
        assert.equal(reading.interrupted, 0, 'its process is alive');
        assert.equal((await reading.getRun(runId))?.status, 'running');
      } finally {
        await reading.close();
      }
      const viaBin = await bin(['runs', '--data-dir', dataDir, '--json']);
      assert.equal(viaBin.code, 0, viaBin.stderr);
      assert.deepEqual(
        (JSON.parse(viaBin.stdout) as RunPage).runs.map((r) => [r.id, r.status]),
        [[runId, 'running']],
        'the CLI, a process of its own, reads while the other still holds the database open',
      );
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    const store = await openStore({ dataDir });
    try {
      assert.equal(store.interrupted, 1);
      assert.equal((await store.getRun(runId))?.status, 'interrupted');
    } finally {
      await store.close();
    }
  });

  test('a write held up by another connection past busyTimeoutMs: told once, tried again, and every row lands once it is let go; readers go on meanwhile', HANG_GUARD, async () => {
    const dataDir = join(folder.path, 'busy');
    const store = await openStore({ dataDir, busyTimeoutMs: 20, retryDelayMs: 5 });
    // Another connection (as another process would) takes the write lock and keeps it.
    const holder = new DatabaseSync(embeddedFile(dataDir, 'spanflow'));
    holder.exec('begin immediate');
    const warnings = captureWarnings('SpanflowPersistenceWarning');
    const events: SpanflowEvent[] = [];
    try {
      const result = await pipeline('held-up')
        .step('tokens', async function* () {
          for (let i = 0; i < 50; i++) yield i;
        })
        .run(undefined, { persist: store, onEvent: (e) => events.push(e) });
      assert.equal(result.status, 'succeeded', 'the run does not wait for the database');
      await warnings.waitFor(/cannot write to .*runs\.sqlite \(database is locked\); retrying with backoff/);
      assert.ok(store.writes.buffered > 0, 'its rows wait');
      assert.equal((await listed(dataDir)).total, 0, 'a reader is not held up by the write lock (and sees nothing of the run yet)');
      holder.exec('rollback');
      // With a time limit, flush() holds the process while it waits (without, a store waiting for its database does not).
      await store.flush({ timeoutMs: 30_000 });
      assert.deepEqual({ ...store.writes }, { written: events.length, dropped: 0, droppedEvents: 0, buffered: 0, unendedRuns: 0 });
      assert.equal((await store.runEvents(result.runId)).length, events.length);
      assert.deepEqual(
        warnings.messages.filter((w) => /database is locked/.test(w)).length,
        1,
        `told once: ${warnings.messages.join(' | ')}`,
      );
    } finally {
      warnings.stop();
      holder.close();
      await store.close();
    }
  });
});
