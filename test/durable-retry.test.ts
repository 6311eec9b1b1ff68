// `spanflow retry` on the showcase's deadline-crunch run, which timed out in
// the rush farm's render step: with a longer step timeout it ends succeeded as
// a new run linked to the old one, and only the render and what follows it
// run again (counted by their attempt rows); the steps that had succeeded,
// map items and the farm's GPU allocation included, are restored.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { context, scenarios, videoRender } from '../examples/video-render/pipeline.ts';
import { openStore, type RunDetail, type Store } from '../exporters/postgres/index.ts';
import { BIN, ROOT } from './cli-support.ts';
import { tempFolder } from './store-support.ts';

const folder = tempFolder('durable-retry');
after(() => folder.cleanup());

/** The steps that ran (attempt rows past 0) in a stored run, each once. */
const ran = (run: RunDetail | undefined) => [...new Set(run?.steps.filter((s) => s.attempt > 0).map((s) => s.node))].toSorted();

// The render of a one-hour cut takes tens of seconds (more on a busy machine): a generous guard against a hang.
test('spanflow retry --timeout carries the timed-out deadline-crunch run on to succeeded, reusing what succeeded', { timeout: 600_000 }, async () => {
  const crunch = scenarios.find((s) => s.name === 'deadline-crunch');
  assert.ok(crunch);
  let store: Store = await openStore({ dataDir: folder.path });
  const failed = await videoRender.run(crunch.job(), { context: context(), persist: store, durable: true });
  await store.close();
  assert.equal(failed.status, 'timed_out');
  assert.equal(failed.failedNode, 'render-farm-rush');

  const { stdout } = await promisify(execFile)(
    process.execPath,
    [BIN, 'retry', failed.runId.slice(0, 8), '--module', 'examples/video-render/pipeline.ts', '--timeout', 'render-frames=3600000', '--data-dir', folder.path],
    { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, timeout: 590_000 },
  );
  const retryId = /retried as run ([0-9a-f-]{36}): succeeded/.exec(stdout)?.[1];
  assert.ok(retryId, stdout);

  store = await openStore({ dataDir: folder.path });
  try {
    const old = await store.getRun(failed.runId);
    const retry = await store.getRun(retryId);
    assert.equal(retry?.status, 'succeeded');
    assert.equal(old?.retriedBy, retryId, 'the failed run names its retry');
    assert.equal(retry?.retryOf, failed.runId, 'the retry names the run it retries');
    // Only the failed sub step and what comes after it ran; the rest was restored.
    assert.deepEqual(ran(retry), ['composite', 'deliver', 'preview', 'render-farm-rush']);
    const restored = (retry?.events ?? []).filter((e) => e.type === 'step_end' && e.data.restored === true).map((e) => e.node);
    for (const node of ['accept', 'validate', 'fetch-cdn', 'fetch-origin', 'normalize', 'extract', 'mix-audio', 'merge', 'quality']) {
      assert.ok(restored.includes(node), `${node} was restored`);
    }
    // The rush farm's child run was retried the same way: the GPU allocation restored, the render run again.
    const oldChild = old?.children[0];
    const newChild = retry?.children[0];
    assert.equal(oldChild?.status, 'timed_out');
    assert.equal(newChild?.retryOf, oldChild?.id);
    assert.deepEqual(ran(await store.getRun(newChild?.id ?? '')), ['release-gpu', 'render-frames']);
    assert.equal(retry?.runMeta?.data.deliveredTo, 's3://renders-eu-west-1/job-crunch-9/high.mp4');
    // A retried run is not retried twice.
    await assert.rejects(videoRender.retry(failed.runId, { context: context(), store }), { name: 'ResumeError', reason: 'already-retried' });
  } finally {
    await store.close();
  }
});
