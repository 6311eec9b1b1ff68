// A persisted batch whose feed source threw is stored as it ended: failed, with the FeedError
// as the run's error and the items it did take counted, on PostgreSQL and on the embedded database.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Store } from '../exporters/postgres/index.ts';
import { stages } from '../sdk/index.ts';
import { ENGINES } from './store-support.ts';

for (const engine of ENGINES) describe(`a persisted batch whose source throws, on ${engine.name}`, { skip: engine.skip, timeout: 30_000 }, () => {
  let store: Store;
  before(async () => {
    store = await engine.open('stages_feed_stored');
  });
  after(() => store.close());

  test('is stored failed, naming the FeedError, with the items it took', async () => {
    async function* source() {
      yield 1;
      yield 2;
      throw new Error('source broke');
    }
    const result = await stages<number>('stored-feed', { persist: store }).stage('double', { tasks: (n: number) => n * 2 }).run(source());
    await store.flush();
    const run = (await store.listRuns({ pipeline: 'stored-feed' })).runs[0];
    assert.equal(run?.id, result.runId);
    assert.equal(run?.status, 'failed');
    assert.equal(run?.error?.type, 'FeedError');
    assert.match(run?.error?.message ?? '', /threw after 2 items: source broke/);
    assert.deepEqual(run?.items, { fed: 2, completed: 2, failed: 0, skipped: 0 });
  });
});
