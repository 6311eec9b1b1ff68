// A stage pipeline's batch is stored as ONE run: counters in the run row,
// failed items and retried task attempts as rows, and nothing per item that
// went well; on PostgreSQL and on the embedded database.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { closeDefaultStore, configureDefaultStore, openStore, type Store, type StoreOptions } from '../exporters/postgres/index.ts';
import { type BatchResult, stages } from '../sdk/index.ts';
import { adminQuery, ENGINES, NEEDS_POSTGRES, TEST_DATABASE_URL, tempFolder } from './store-support.ts';

const SCHEMA = 'store_stages';
const run = promisify(execFile);

class Rejected extends Error {
  override name = 'Rejected';
}

/** 120 numbers through three stages: every 25th is rejected in `check`, every 10th fails once in `price` (and is retried), every 7th skips `price`. */
function orders(store: Store | true) {
  const flaky = new Set<number>();
  return stages<number>('orders', { persist: store, meta: { team: 'billing' } })
    .stage('load', { workers: 4, tasks: async (n: number) => n })
    .stage('check', {
      workers: 2,
      tasks: function check(n: number) {
        if (n % 25 === 24) throw new Rejected(`order ${n} is rejected`);
        return n;
      },
    })
    .stage('price', {
      workers: 3,
      retry: { attempts: 2, initialDelayMs: 1, jitter: 0 },
      skip: (n) => n % 7 === 3,
      tasks: [
        function quote(n: number) {
          if (n % 10 === 5 && !flaky.has(n)) {
            flaky.add(n);
            throw new Error(`quote service busy for ${n}`);
          }
          return n * 2;
        },
        async function total(n: number) {
          return n + 1;
        },
      ],
    });
}

const ITEMS = Array.from({ length: 120 }, (_, i) => i);

for (const engine of ENGINES) describe(`a stage batch persisted on ${engine.name}`, { skip: engine.skip }, () => {
  let store: Store;
  let result: BatchResult<number>;

  before(async () => {
    store = await engine.open(SCHEMA);
    result = await orders(store).run(ITEMS);
    await store.flush();
  });
  after(() => store.close());

  test('is one run row, with the batch status and its item counters', async () => {
    const page = await store.listRuns({ pipeline: 'orders' });
    assert.equal(page.total, 1);
    const run = page.runs[0];
    assert.equal(run?.id, result.runId);
    assert.equal(run?.kind, 'stages');
    assert.equal(run?.status, 'failed');
    assert.equal(run?.error?.type, 'ItemsFailedError');
    assert.deepEqual(run?.items, { fed: 120, completed: result.completed, failed: result.failed, skipped: result.skipped });
    assert.equal(result.failed, 4);
    assert.ok(result.skipped > 0 && result.completed > 0);
  });

  test('each failed item is a row naming its stage and task, item and error', async () => {
    const detail = await store.getRun(result.runId);
    const failures = detail?.steps.filter((s) => s.status !== 'retrying') ?? [];
    assert.deepEqual(
      failures.map((s) => ({ node: s.node, kind: s.nodeKind, index: s.index, itemId: s.itemId, status: s.status, error: s.error?.type })),
      result.failures.map((f) => ({ node: `${f.stage}/${f.task}`, kind: 'stage', index: f.index, itemId: f.itemId, status: 'failed', error: 'Rejected' })),
    );
  });

  test('each retried task attempt is a row, under stage/task', async () => {
    const detail = await store.getRun(result.runId);
    const retried = detail?.steps.filter((s) => s.status === 'retrying') ?? [];
    const expected = ITEMS.filter((n) => n % 10 === 5 && n % 25 !== 24 && n % 7 !== 3);
    assert.deepEqual(retried.map((s) => s.index).toSorted((a, b) => (a ?? 0) - (b ?? 0)), expected);
    for (const step of retried) {
      assert.equal(step.node, 'price/quote');
      assert.equal(step.attempt, 1);
      assert.match(step.error?.message ?? '', /quote service busy/);
    }
  });

  test('items leave no events of their own: the events are the run and its task retries', async () => {
    const types: Record<string, number> = {};
    for (const event of await store.runEvents(result.runId)) types[event.type] = (types[event.type] ?? 0) + 1;
    const retries = ITEMS.filter((n) => n % 10 === 5 && n % 25 !== 24 && n % 7 !== 3).length;
    assert.deepEqual(types, { run_queued: 1, run_start: 1, task_retry: retries, run_end: 1 });
  });

  test('the error summary of the run counts failures and retries by type and node', async () => {
    const summary = await store.errorSummary({ runId: result.runId });
    assert.deepEqual(summary.byType, { Rejected: 4, Error: summary.total - 4 });
    assert.deepEqual(summary.byNode, { 'check/check': 4, 'price/quote': summary.total - 4 });
  });

  test('a batch shut down early is stored cancelled, its unfinished items as cancelled rows', async () => {
    const slow = stages<number>('slow-orders', { persist: store }).stage('wait', {
      workers: 1,
      tasks: async (n: number, { signal }) => {
        await new Promise((resolve, reject) => {
          const timer = setTimeout(resolve, n === 0 ? 1 : 10_000);
          signal.addEventListener(
            'abort',
            () => {
              clearTimeout(timer);
              reject(signal.reason);
            },
            { once: true },
          );
        });
        return n;
      },
    });
    const batch = slow.start();
    const fed = batch.feed([0, 1, 2, 3]);
    while (batch.snapshot().stats.completed < 1) await new Promise((resolve) => setTimeout(resolve, 2));
    const shut = await batch.shutdown('test is done');
    await fed;
    await store.flush();
    const run = await store.getRun(shut.runId);
    assert.equal(run?.status, 'cancelled');
    assert.deepEqual(run?.items, { fed: 4, completed: 1, failed: 3, skipped: 0 });
    assert.deepEqual(
      run?.steps.map((s) => [s.index, s.status, s.error?.type]).toSorted((a, b) => Number(a[0]) - Number(b[0])),
      [1, 2, 3].map((i) => [i, 'cancelled', 'CancelledError']),
    );
  });
});

describe('a batch under way', { skip: NEEDS_POSTGRES }, () => {
  test('shows its item counters as they are, with each heartbeat', { timeout: 30_000 }, async () => {
    const store = await openStore({ url: TEST_DATABASE_URL, schema: SCHEMA, heartbeatMs: 20 });
    try {
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const batch = stages<number>('gated', { persist: store })
        .stage('pass', { workers: 2, tasks: async (n: number) => (n < 5 ? n : gate.then(() => n)) })
        .start();
      const fed = batch.feed(ITEMS.slice(0, 8));
      let live = await store.getRun(batch.runId, { events: false });
      while (live?.items?.completed !== 5) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        live = await store.getRun(batch.runId, { events: false });
      }
      assert.equal(live.status, 'running');
      release();
      await fed;
      await batch.join();
      await store.flush();
      assert.deepEqual((await store.getRun(batch.runId, { events: false }))?.items, { fed: 8, completed: 8, failed: 0, skipped: 0 });
    } finally {
      await store.close();
    }
  });
});

const folder = tempFolder('store-stages');
after(() => folder.cleanup());

for (const engine of ENGINES) {
  /** Where the default store goes, as options and as the environment a script reads. */
  const target = async (name: string): Promise<{ options: StoreOptions; env: NodeJS.ProcessEnv }> => {
    const { SPANFLOW_DATABASE_URL, DATABASE_URL, SPANFLOW_DATA_DIR, ...env } = process.env;
    if (engine.kind === 'sqlite') return { options: { dataDir: `${folder.path}/${name}` }, env: { ...env, SPANFLOW_DATA_DIR: `${folder.path}/${name}` } };
    await adminQuery(`drop schema if exists ${name} cascade`);
    return { options: { url: TEST_DATABASE_URL, schema: name }, env: { ...env, SPANFLOW_DATABASE_URL: TEST_DATABASE_URL, SPANFLOW_SCHEMA: name } };
  };
  const stored = async (options: StoreOptions) => {
    const store = await openStore(options);
    try {
      return (await store.listRuns()).runs.map((r) => ({ id: r.id, status: r.status, completed: r.items?.completed }));
    } finally {
      await store.close();
    }
  };

  describe(`persist: true, on ${engine.name}`, { skip: engine.skip }, () => {
    after(() => closeDefaultStore());

    test('stores the batch in the default store that spanflow/postgres configures', async () => {
      const { options } = await target('store_stages_default');
      await configureDefaultStore(options);
      const result = await orders(true).run(ITEMS.slice(0, 10));
      await closeDefaultStore();
      assert.deepEqual(await stored(options), [{ id: result.runId, status: 'succeeded', completed: result.completed }]);
    });

    test('a script that never closes the default store still has its runs written when it ends, with nothing else to keep it alive', async () => {
      const { options, env } = await target('store_stages_exit');
      const script = `
        import '${new URL('../exporters/postgres/index.ts', import.meta.url).href}';
        import { stages } from '${new URL('../sdk/index.ts', import.meta.url).href}';
        const result = await stages('exiting', { persist: true }).stage('one', { tasks: (n) => n }).run([1, 2, 3]);
        console.log(result.runId);`;
      const { stdout, stderr } = await run(process.execPath, ['--input-type=module', '-e', script], { env, timeout: 30_000 });
      assert.equal(stderr, '', 'no warning of rows left unwritten (nor any other)');
      assert.deepEqual(await stored(options), [{ id: stdout.trim(), status: 'succeeded', completed: 3 }]);
    });
  });
}
