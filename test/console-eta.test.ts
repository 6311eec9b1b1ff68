// The ETA on progress lines waits out the warm-up: a batch's first items run slower than the
// rest (JIT, pools and connections starting), and a 10,000-item batch that finished in 12 s
// showed `ETA 29m 07s` at its start. It is estimated once the batch has run 2 s or done 5%.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { consoleDashboard, plainLine, progressOf } from '../exporters/index.ts';
import type { PipelineSnapshot } from '../sdk/index.ts';
import { sink } from './support.ts';

/** A batch of 10,000 items, `done` of them completed `elapsedMs` after it started. */
function batch(done: number, elapsedMs: number): PipelineSnapshot {
  return {
    pipeline: 'etl',
    runId: 'run-1',
    timestamp: 1_700_000_000_000 + elapsedMs,
    elapsedMs,
    running: true,
    workers: [],
    stats: { expected: 10_000, fed: 10_000, completed: done, failed: 0, skipped: 0, inFlight: 10_000 - done, queueSizes: {}, stages: [] },
    errors: { total: 0, byType: {}, byStage: {}, recent: [] },
  };
}

describe('the ETA of a progress line', () => {
  test('is unknown during the warm-up: few items done in the first seconds', () => {
    assert.equal(progressOf(batch(6, 300)).etaMs, undefined);
    assert.equal(progressOf(batch(6, 300), { rate: 20 }).etaMs, undefined, 'a measured rate too');
    assert.match(plainLine(batch(6, 300)), /· ETA -- ·/);
    assert.match(plainLine(batch(499, 1_999)), /· ETA -- ·/);
  });

  test('is estimated once the batch has run 2 s, or done 5% of its items', () => {
    assert.equal(progressOf(batch(100, 2_000)).etaMs, (9_900 / 50) * 1000, 'after 2 s, at the average rate since the start');
    assert.equal(progressOf(batch(500, 400)).etaMs, (9_500 / 1_250) * 1000, 'after 5% of the items');
    assert.match(plainLine(batch(5_000, 6_000), { rate: 1_000 }), /· ETA 5\.0s ·/);
  });

  test('reads 0 once everything is done, however soon', () => {
    assert.equal(progressOf(batch(10_000, 100)).etaMs, 0);
  });

  test('a dashboard on a pipe prints ETA -- for its first lines, then the estimate', () => {
    const out = sink(false);
    const board = consoleDashboard('compact', { stream: out.stream });
    board.onStart?.(batch(0, 0));
    board.onUpdate(batch(8, 250));
    board.onUpdate(batch(300, 1_000));
    board.onUpdate(batch(2_000, 3_000));
    const lines = out.text().trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0] ?? '', /ETA --/);
    assert.match(lines[1] ?? '', /ETA --/);
    assert.doesNotMatch(lines[2] ?? '', /ETA --/);
  });
});
