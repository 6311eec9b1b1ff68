// Stage batches of synchronous tasks give the event loop its turns: timers, dashboards and an
// AbortSignal's abort run while the work goes on, not only once it is over. The items come in
// small feed() calls from a synchronous loop (a parser handing over rows as it reads them):
// then the workers move them on their own, so they themselves must stop for the loop's turn.
// No timing decides these tests: they count ticks and outcomes, not milliseconds.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Batch, type PipelineSnapshot, stages } from '../sdk/index.ts';
import { HANG_GUARD } from './support.ts';

const ITEMS = 300_000;

/** Feeds 0 … count - 1 in feed() calls of 200 from a synchronous loop, as a parser's 'rows' handler would. */
function feedInChunks(batch: Batch<number, number>, count: number): void {
  for (let start = 0; start < count; start += 200) {
    void batch.feed(Array.from({ length: Math.min(200, count - start) }, (_, i) => start + i));
  }
}

describe('a long batch of synchronous tasks', () => {
  test('a 1 ms interval and the dashboard keep ticking while 300,000 items go through', HANG_GUARD, async () => {
    let ticks = 0;
    const interval = setInterval(() => ticks++, 1);
    const updates: PipelineSnapshot[] = [];
    const p = stages<number>('sync-ticks', { dashboard: { onUpdate: (s) => updates.push(s) }, updateInterval: 1 })
      .stage('double', { workers: 4, tasks: (n: number) => n * 2 })
      .stage('inc', { workers: 4, tasks: (n: number) => n + 1 });
    const batch = p.start({ collectResults: false });
    feedInChunks(batch, ITEMS);
    const ticksBefore = ticks;
    const result = await batch.join();
    const ticksDuring = ticks - ticksBefore;
    clearInterval(interval);
    assert.deepEqual([result.status, result.fed, result.completed], ['succeeded', ITEMS, ITEMS]);
    assert.ok(ticksDuring > 0, 'the interval ticked while the batch ran');
    // The last update is the one the batch makes as it ends; the ones before came from its interval.
    const midway = updates.slice(0, -1).filter((s) => s.running && s.stats.completed < ITEMS);
    assert.ok(midway.length > 0, 'the dashboard was updated while items were still being worked on');
  });

  test('an AbortSignal aborted from a 10 ms timer stops it: cancelled, and every item not done is reported so', HANG_GUARD, async () => {
    const count = 20_000;
    const controller = new AbortController();
    const p = stages<number>('sync-cancel').stage('busy', {
      workers: 2,
      // At least 0.25 ms of work each: all of them would take 5 s or more; the timer is due long before.
      tasks: (n: number) => {
        const until = performance.now() + 0.25;
        while (performance.now() < until);
        return n;
      },
    });
    const batch = p.start({ signal: controller.signal });
    feedInChunks(batch, count);
    setTimeout(() => controller.abort(new Error('stop pressed')), 10);
    const result = await batch.join();
    assert.equal(result.status, 'cancelled');
    assert.equal(result.error?.name, 'CancelledError');
    // Feed calls still waiting for room when it stopped queue no more; every item queued has its outcome.
    assert.ok(result.fed <= count);
    assert.equal(result.fed, result.completed + result.failed + result.skipped);
    assert.ok(result.completed < count && result.failed > 0, `stopped early (${result.completed} completed)`);
    assert.equal(result.failures.length, result.failed);
    assert.ok(result.failures.every((f) => f.error.type === 'CancelledError' && f.error.message.includes('stop pressed')));
    assert.equal(result.items.length, result.fed);
    assert.ok(result.items.every((o, i) => o.index === i && (o.status === 'completed' || o.status === 'failed')));
  });
});
