// Crash safety: a process killed mid-run leaves its run `running`; the next
// store to open marks it `interrupted` (its process is gone, or its heartbeat
// went stale), and the listing returns it like any other run.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { openStore, type Store, type StoreOptions } from '../exporters/postgres/index.ts';
import { adminQuery, killMidRun, NEEDS_POSTGRES, TEST_DATABASE_URL, tempFolder } from './store-support.ts';


async function expectInterrupted(options: StoreOptions, runId: string): Promise<Store> {
  const store = await openStore(options);
  assert.equal(store.interrupted, 1, 'the open marked the dead run');
  const page = await store.listRuns({ status: 'interrupted' });
  assert.deepEqual(
    page.runs.map((r) => [r.id, r.pipeline, r.status]),
    [[runId, 'doomed', 'interrupted']],
  );
  const run = await store.getRun(runId);
  assert.equal(run?.error?.type, 'InterruptedError');
  assert.match(run?.error?.message ?? '', /stopped before the run ended/);
  assert.ok(run?.endedAt, 'an interrupted run has an end: its last heartbeat');
  assert.deepEqual(
    run?.steps.map((s) => [s.node, s.status]),
    [
      ['prepare', 'succeeded'],
      ['hang', 'running'],
    ],
    'its steps stay as the process left them',
  );
  return store;
}

describe('a process killed with SIGKILL mid-run', () => {
  test('on PostgreSQL: the next open marks its run interrupted, and the listing returns it', { skip: NEEDS_POSTGRES }, async () => {
    const schema = 'store_crash';
    await adminQuery(`drop schema if exists ${schema} cascade`);
    const runId = await killMidRun(TEST_DATABASE_URL, schema);
    const before = await adminQuery<{ status: string }>(`select status from ${schema}.runs where id = $1`, [runId]);
    assert.deepEqual(before, [{ status: 'running' }], 'the killed process left it running');
    const store = await expectInterrupted({ url: TEST_DATABASE_URL, schema }, runId);
    await store.close();
  });

  const folder = tempFolder('crash');
  after(() => folder.cleanup());
  test('on the embedded database: the folder opens again, and the run is interrupted', async () => {
    const runId = await killMidRun(folder.path, 'spanflow');
    const store = await expectInterrupted({ dataDir: folder.path }, runId);
    await store.close();
  });
});

describe('the heartbeat', { skip: NEEDS_POSTGRES }, () => {
  const schema = 'store_heartbeat';

  test('a run from another host is interrupted once its heartbeat is stale, not before', async () => {
    const store = await openStore({ url: TEST_DATABASE_URL, schema });
    await store.close();
    await adminQuery(`delete from ${schema}.runs`);
    const insert = `insert into ${schema}.runs (id, pipeline, kind, status, started_at, host, pid, heartbeat_at)
      values ($1, 'remote', 'graph', 'running', now() - interval '2 hours', 'another-host', 4242, now() - $2::interval)`;
    await adminQuery(insert, ['00000000-0000-4000-8000-000000000001', '1 hour']);
    await adminQuery(insert, ['00000000-0000-4000-8000-000000000002', '1 second']);
    const reopened = await openStore({ url: TEST_DATABASE_URL, schema, staleAfterMs: 60_000 });
    try {
      const rows = await reopened.listRuns({});
      assert.deepEqual(
        rows.runs.map((r) => [r.id.slice(-1), r.status]).toSorted(),
        [
          ['1', 'interrupted'],
          ['2', 'running'],
        ],
      );
    } finally {
      await reopened.close();
    }
  });

  test('a run under way keeps touching its heartbeat', async () => {
    const store = await openStore({ url: TEST_DATABASE_URL, schema, heartbeatMs: 20 });
    try {
      const { pipeline } = await import('../sdk/index.ts');
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      const handle = pipeline('beating')
        .step('hold', () => held)
        .run(undefined, { persist: store });
      const beat = () => adminQuery<{ at: Date }>(`select heartbeat_at as at from ${schema}.runs where id = $1`, [handle.runId]);
      let first: Date | undefined;
      while (!first) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        first = (await beat())[0]?.at;
      }
      let later = first;
      while (later.getTime() === first.getTime()) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        later = (await beat())[0]?.at ?? first;
      }
      assert.ok(later > first);
      release();
      await handle;
    } finally {
      await store.close();
    }
  });
});
