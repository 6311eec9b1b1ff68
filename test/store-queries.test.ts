// The query API the CLI reads runs with: filters and pages, hostile filter
// values that stay inert, run ids from prefixes, comparisons, stats, cleanup;
// on PostgreSQL and on the embedded database alike.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RunIdError, type Store } from '../exporters/postgres/index.ts';
import { pipeline } from '../sdk/index.ts';
import { ENGINES } from './store-support.ts';

const SCHEMA = 'store_queries';
const ODD_NAME = "vidéo 'render' %_ 🎬";

/** Ids chosen so that prefixes collide: abcd1… twice, abce… once. */
const IDS = {
  first: 'abcd1000-0000-4000-8000-000000000001',
  second: 'abcd1fff-0000-4000-8000-000000000002',
  other: 'abce0000-0000-4000-8000-000000000003',
};

class Flaky extends Error {
  override name = 'Flaky';
}

function flaky(failures: number) {
  let calls = 0;
  return pipeline<{ n: number }>('checkout')
    .step(
      'charge',
      async ({ state }) => {
        if (calls++ < failures) throw new Flaky(`charge failed (${calls})`);
        state.n++;
      },
      { retry: { attempts: 2, initialDelayMs: 1, jitter: 0 }, to: 'receipt' },
    )
    .step('receipt', async function* () {
      yield 'line 1';
      yield 'line 2';
    });
}

/** Rows of a table, counted by the store's own connection (`runIds`: of these runs only). */
async function count(store: Store, table: 'runs' | 'events', runIds?: readonly string[]): Promise<number> {
  let query = store.db.withSchema(store.schema).selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n'));
  if (runIds) query = query.where(table === 'runs' ? 'id' : 'run_id', 'in', [...runIds]);
  return Number((await query.executeTakeFirstOrThrow()).n);
}

for (const engine of ENGINES) describe(`the query API on ${engine.name}`, { skip: engine.skip }, () => {
  let store: Store;

  before(async () => {
    store = await engine.open(SCHEMA);
    await flaky(0).run({ n: 0 }, { persist: store, runId: IDS.first });
    await flaky(1).run({ n: 0 }, { persist: store, runId: IDS.second });
    await flaky(2).run({ n: 0 }, { persist: store, runId: IDS.other });
    await pipeline(ODD_NAME)
      .step('only', async () => {})
      .run(undefined, { persist: store });
    await store.flush();
  });
  after(() => store.close());

  test('lists runs newest first, filtered by pipeline and status, a page at a time', async () => {
    const all = await store.listRuns({ pipeline: 'checkout' });
    assert.deepEqual(
      all.runs.map((r) => r.id),
      [IDS.other, IDS.second, IDS.first],
    );
    assert.deepEqual(
      (await store.listRuns({ status: 'failed' })).runs.map((r) => r.id),
      [IDS.other],
    );
    const page = await store.listRuns({ limit: 2, offset: 1 });
    assert.equal(page.total, 4);
    assert.equal(page.runs.length, 2);
    assert.equal(page.nextOffset, 3);
    assert.equal((await store.listRuns({ limit: 2, offset: 3 })).nextOffset, undefined);
    assert.equal((await store.listRuns({ since: new Date(Date.now() + 60_000) })).total, 0);
  });

  test('hostile filter values are data, never SQL: they match nothing and the tables stay whole', async () => {
    const hostile = ["'; drop table store_queries.runs; --", "x' or '1'='1", '%', '_', '\\', 'checkout%', '🎬', 'null\0byte', ODD_NAME.toUpperCase()];
    for (const value of hostile) {
      assert.equal((await store.listRuns({ pipeline: value })).total, 0, JSON.stringify(value));
      assert.equal((await store.errorSummary({ pipeline: value })).total, 0);
      assert.equal((await store.stats({ pipeline: value })).runs, 0);
      assert.equal((await store.cleanup({ pipeline: value, olderThan: 0 })).count, 0);
    }
    const odd = await store.listRuns({ pipeline: ODD_NAME });
    assert.equal(odd.total, 1, 'a name with quotes, wildcards and emoji is found by its exact self');
    assert.equal(odd.runs[0]?.pipeline, ODD_NAME);
    assert.equal(await count(store, 'runs'), 4);
  });

  test('a status that is not one is refused by name, not sent to the database', async () => {
    await assert.rejects(store.listRuns({ status: "succeeded' or '1'='1" as never }), /unknown run status .*use pending, running, .*interrupted/);
    await assert.rejects(store.listRuns({ limit: 0 }), /limit must be a whole number from 1 to 1000/);
    await assert.rejects(store.getRun("'; select 1; --"), RunIdError);
  });

  test('a unique prefix of 4 characters or more resolves to its run; ambiguous, unknown and malformed ones say why', async () => {
    assert.equal(await store.resolveRunId('abce'), IDS.other);
    assert.equal(await store.resolveRunId('ABCD1F'), IDS.second);
    assert.equal(await store.resolveRunId('abcd1000-0000'), IDS.first);
    assert.equal(await store.resolveRunId(IDS.first), IDS.first);
    await assert.rejects(store.resolveRunId('abcd'), (error: RunIdError) => {
      assert.equal(error.reason, 'ambiguous');
      assert.match(error.message, /'abcd' is ambiguous: it starts 2 run ids \(.*abcd1fff.*abcd1000.*\): give more characters/);
      assert.deepEqual(error.matches.map((r) => r.id).toSorted(), [IDS.first, IDS.second]);
      return true;
    });
    await assert.rejects(store.resolveRunId('ffff'), (error: RunIdError) => error.reason === 'unknown' && /no run id starts with 'ffff'/.test(error.message));
    for (const bad of ['abc', "ab'; --", 'xyz12345', '%%%%', '']) {
      await assert.rejects(store.resolveRunId(bad), (error: RunIdError) => error.reason === 'invalid' && /at least 4 of its first characters/.test(error.message));
    }
  });

  test('one run comes back with its attempts, and a failed one with its error', async () => {
    const run = await store.getRun(IDS.other);
    assert.equal(run?.status, 'failed');
    assert.equal(run?.failedNode, 'charge');
    assert.equal(run?.error?.type, 'StepFailedError');
    assert.deepEqual(
      run?.steps.map((s) => [s.node, s.attempt, s.status, s.error?.type ?? null]),
      [
        ['charge', 1, 'retrying', 'Flaky'],
        ['charge', 2, 'failed', 'Flaky'],
      ],
    );
    assert.equal(await store.getRun('00000000-0000-4000-8000-000000000000'), undefined);
  });

  test('the tokens of a step come back in order, for replay', async () => {
    const [receipt] = await store.stepTokens(IDS.first, { node: 'receipt' });
    assert.deepEqual(
      receipt?.tokens.map((t) => [t.tokenIndex, t.token]),
      [
        [0, 'line 1'],
        [1, 'line 2'],
      ],
    );
    assert.deepEqual(await store.stepTokens(IDS.other), [], 'a run that never streamed has none');
  });

  test('two runs compared step by step', async () => {
    const diff = await store.compareRuns(IDS.first, IDS.second);
    assert.equal(diff.sameDefinition, true);
    assert.equal(diff.a.id, IDS.first);
    assert.deepEqual(
      diff.steps.map((s) => [s.node, s.a?.attempts, s.b?.attempts, s.b?.statuses]),
      [
        ['charge', 1, 2, { retrying: 1, succeeded: 1 }],
        ['receipt', 1, 1, { succeeded: 1 }],
      ],
    );
    assert.equal(typeof diff.durationDeltaMs, 'number');
  });

  test('errors summarised by type and node; stats per pipeline over days', async () => {
    const errors = await store.errorSummary({ pipeline: 'checkout' });
    assert.deepEqual(errors.byType, { Flaky: 3 });
    assert.deepEqual(errors.byNode, { charge: 3 });
    assert.equal(errors.recent[0]?.runId, IDS.other);
    const stats = await store.stats({ days: 1 });
    assert.equal(stats.runs, 4);
    const checkout = stats.pipelines.find((p) => p.pipeline === 'checkout');
    assert.deepEqual(checkout?.byStatus, { succeeded: 2, failed: 1 });
    assert.equal(checkout?.successRate, 2 / 3);
    assert.ok((checkout?.p95Ms ?? -1) >= (checkout?.p50Ms ?? 0));
  });

  test('cleanup reports what it would delete, keeps the newest of each pipeline, and deletes only when told', async () => {
    await assert.rejects(store.cleanup({}), /needs olderThan, status or keep/);
    const dry = await store.cleanup({ keep: 1 });
    assert.equal(dry.deleted, false);
    assert.deepEqual(
      dry.runs.map((r) => r.id),
      [IDS.first, IDS.second],
    );
    assert.equal((await store.listRuns({})).total, 4, 'a dry run deletes nothing');
    const done = await store.cleanup({ keep: 1, status: ['succeeded'], dryRun: false });
    assert.deepEqual(
      [done.deleted, done.count],
      [true, 2],
    );
    assert.deepEqual(
      (await store.listRuns({ pipeline: 'checkout' })).runs.map((r) => r.id),
      [IDS.other],
    );
    assert.equal(await count(store, 'events', [IDS.first, IDS.second]), 0, 'their events went with them');
  });
});
