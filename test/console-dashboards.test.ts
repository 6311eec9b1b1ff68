// Terminal dashboards (spanflow/console): the views as text, redrawing on a terminal, plain lines elsewhere.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  consoleDashboard,
  plainLine,
  progressBar,
  renderCompact,
  renderDetailed,
  renderFull,
  renderProgress,
} from '../exporters/index.ts';
import { type BatchSummary, type FailedItem, ItemsFailedError, type PipelineSnapshot, type WorkerSnapshot } from '../sdk/index.ts';
import { sink } from './support.ts';

const ESC = '\u001B';
const ERASE_LINE = `${ESC}[2K`;
const ANSI = new RegExp(`${ESC}\\[[0-9;?]*[A-Za-z]`, 'g');

function failure(itemId: string, stage: string, task: string, type: string, message: string): FailedItem {
  return { itemId, index: Number(itemId), stage, task, error: { type, message }, attempts: 3, metadata: undefined };
}

function worker(stage: string, n: number, extra: Partial<WorkerSnapshot> = {}): WorkerSnapshot {
  return { stage, worker: n, state: 'idle', itemId: undefined, task: undefined, taskStatus: undefined, processed: 0, failed: 0, avgMs: 0, ...extra };
}

/** A two-stage pipeline `etl`: `done` items through, 3 failed, 2 skipped. */
function snapshot(done: number, at = 10_000, extra: Partial<PipelineSnapshot> = {}): PipelineSnapshot {
  const failed = 3;
  const skipped = 2;
  return {
    pipeline: 'etl',
    runId: 'run-1',
    timestamp: 1_700_000_000_000 + at,
    elapsedMs: at,
    running: true,
    workers: [
      worker('fetch', 0, { state: 'busy', itemId: '5120', task: 'fetchOne', taskStatus: 'downloading 3 of 7 parts', processed: 2600, failed: 2, avgMs: 12.5 }),
      worker('fetch', 1, { processed: 2500, failed: 1, avgMs: 11 }),
      worker('parse', 0, { state: 'busy', itemId: '5118', task: 'validate', processed: done, avgMs: 3.25 }),
    ],
    stats: {
      expected: 6000,
      fed: 6000,
      completed: done - failed - skipped,
      failed,
      skipped,
      inFlight: 6000 - done,
      queueSizes: { fetch: 30, parse: 4 },
      stages: [
        { name: 'fetch', workers: 2, capacity: 40, pending: 30, queued: 30, inProgress: 1, completed: 5100, failed: 2, skipped: 0 },
        { name: 'parse', workers: 1, capacity: 8, pending: 4, queued: 4, inProgress: 1, completed: done - 3, failed: 1, skipped: 2 },
      ],
    },
    errors: {
      total: 3,
      byType: { TypeError: 2, StepTimeoutError: 1 },
      byStage: { fetch: 2, parse: 1 },
      recent: [
        failure('17', 'fetch', 'fetchOne', 'StepTimeoutError', 'step fetchOne timed out after 1000 ms'),
        failure('240', 'fetch', 'fetchOne', 'TypeError', 'fetch failed'),
        failure('999', 'parse', 'validate', 'TypeError', `unexpected token in JSON at position 4 ${'x'.repeat(200)}`),
      ],
    },
    ...extra,
  };
}

const summary: BatchSummary = {
  runId: 'run-1',
  pipeline: 'etl',
  status: 'failed',
  error: new ItemsFailedError(3, 10_000, 'boom'),
  durationMs: 4000,
  fed: 10_000,
  completed: 9995,
  failed: 3,
  skipped: 2,
};

const widest = (text: string) => Math.max(...text.split('\n').map((line) => line.length));

describe('progress view', () => {
  test('shows bar, percent, done/total, rate, ETA and failures', () => {
    const text = renderProgress(snapshot(5120), { total: 10_000, rate: 2345, width: 100 });
    assert.match(text, /^etl \[█+░+\]/);
    assert.match(text, / 51% 5,120\/10,000 /);
    assert.match(text, /2,345 items\/s/);
    assert.match(text, /ETA 2\.1s/);
    assert.match(text, /3 failed · 2 skipped/);
    assert.ok(text.length <= 100);
  });

  test('without a total, percent and ETA count the items fed so far', () => {
    const text = plainLine(snapshot(3000), { rate: 1000 });
    assert.equal(text, 'etl: 3,000/6,000 50% · 1,000 items/s · ETA 3.0s · 3 failed · 2 skipped');
  });

  test('without a measured rate, uses the average since the start', () => {
    assert.match(plainLine(snapshot(5000, 10_000)), /· 500 items\/s ·/);
  });

  test('fits a narrow terminal', () => {
    const text = renderProgress(snapshot(5120), { total: 10_000, rate: 2345, width: 40 });
    assert.ok(text.length <= 40, text);
    assert.match(text, /^etl/);
  });
});

describe('compact view', () => {
  test('one line per stage with its counts, then the progress line', () => {
    const lines = renderCompact(snapshot(5120), { total: 10_000, width: 120 }).split('\n');
    assert.match(lines[0] ?? '', /^etl · running/);
    assert.match(lines[1] ?? '', /^ {2}fetch +pending 30 +in progress 1 +completed 5,100 +failed 2/);
    assert.match(lines[2] ?? '', /^ {2}parse +pending 4 +in progress 1 +completed 5,117 +failed 1 +skipped 2/);
    assert.match(lines[3] ?? '', /51% 5,120\/10,000/);
    assert.equal(lines.length, 4);
  });
});

describe('detailed view', () => {
  const text = renderDetailed(snapshot(5120), { total: 10_000, width: 110 });

  test('has a stage table and a worker table with each worker’s current item and task', () => {
    assert.match(text, /│ Stage +│ Workers │ +Queue │ In progress │ Completed │ Failed │ Skipped │/);
    assert.match(text, /│ fetch +│ +2 │ +30\/40 │/);
    const fetch0 = text.split('\n').find((line) => line.includes('5120') && line.includes('fetchOne'));
    assert.ok(fetch0, text);
    assert.match(fetch0, /busy/);
    assert.match(fetch0, /downloading 3 of 7 parts/);
    assert.match(fetch0, /12\.5/);
  });

  test('lists the recent errors, newest last, cut to the width', () => {
    assert.match(text, /Recent errors \(3 of 3\):/);
    assert.match(text, /item 240 · fetch\/fetchOne · 3 attempts · TypeError: fetch failed$/m);
    const last = text.split('\n').find((line) => line.includes('item 999'));
    assert.ok(last?.endsWith('…'), last);
    assert.ok(widest(text) <= 110);
  });

  test('shrinks its tables to a narrow width, cutting long cells', () => {
    const narrow = renderDetailed(snapshot(5120), { width: 60 });
    assert.ok(widest(narrow) <= 60, narrow);
    assert.match(narrow, /…/);
    assert.match(narrow, /fetch/);
  });

  test('shows busy workers first when there are too many to list', () => {
    const many = Array.from({ length: 30 }, (_, n) => worker('fetch', n, n === 25 ? { state: 'busy', itemId: 'item-x', task: 'fetchOne' } : {}));
    const out = renderDetailed(snapshot(10, 1000, { workers: many }), { maxWorkers: 5 });
    assert.match(out, /item-x/);
    assert.match(out, /… 25 more workers \(29 idle in all\)/);
  });
});

describe('full view', () => {
  const text = renderFull(snapshot(5120), { total: 10_000, width: 110 });

  test('adds an item tracker with counts by status', () => {
    assert.match(text, /│ queued +│ +878 │ +14\.6% │/);
    assert.match(text, /│ in progress +│ +2 │/);
    assert.match(text, /│ completed +│ +5,115 │/);
    assert.match(text, /│ failed +│ +3 │/);
    assert.match(text, /│ skipped +│ +2 │/);
    assert.match(text, /│ fed +│ +6,000 │/);
  });

  test('adds the error summary by type and by stage, and keeps the detailed sections', () => {
    assert.match(text, /│ TypeError +│ +2 │/);
    assert.match(text, /│ StepTimeoutError +│ +1 │/);
    assert.match(text, /│ fetch +│ +2 │/);
    assert.match(text, /downloading 3 of 7 parts/);
    assert.match(text, /Recent errors/);
    assert.ok(widest(text) <= 110);
  });
});

describe('dashboards on a terminal', () => {
  test('redraw in place, the last frame holding the latest numbers', () => {
    const out = sink(true);
    const board = consoleDashboard('detailed', { stream: out.stream, total: 10_000 });
    board.onStart?.(snapshot(100, 1000));
    board.onUpdate(snapshot(2000, 2000));
    board.onUpdate(snapshot(4321, 3000));
    const last = out.writes.at(-1) ?? '';
    assert.ok(out.text().includes(ERASE_LINE), 'erases the previous frame');
    assert.match(last, /4,321\/10,000/);
    assert.doesNotMatch(last, /2,000\/10,000/);
    for (const line of out.text().replaceAll(ANSI, '').split('\n')) assert.ok(line.length <= 80, line);
  });

  test('the progress bar ends with its final frame and the summary', () => {
    const out = sink(true);
    const board = progressBar({ stream: out.stream });
    board.onStart?.(snapshot(0, 0));
    board.onUpdate(snapshot(3000, 1500));
    board.onFinish?.(snapshot(6000, 3000, { running: false }), summary);
    assert.ok(out.text().includes(ESC));
    assert.match(out.text(), /100% 6,000\/6,000/);
    assert.match(out.writes.at(-1) ?? '', /etl: failed in 4\.0s · 10,000 fed · 9,995 completed · 3 failed · 2 skipped/);
  });
});

describe('a progress bar and a view on one stream', () => {
  test('on a terminal share one frame and show the summary once', () => {
    const out = sink(true);
    const boards = [progressBar({ stream: out.stream }), consoleDashboard('compact', { stream: out.stream })];
    for (const board of boards) board.onStart?.(snapshot(0, 0));
    for (const board of boards) board.onUpdate(snapshot(3000, 1500));
    for (const board of boards) {
      board.onUpdate(snapshot(6000, 3000, { running: false }));
      board.onFinish?.(snapshot(6000, 3000, { running: false }), summary);
    }
    const text = out.text();
    assert.match(text, /etl · running/);
    assert.match(text, /pending 30/);
    assert.equal(text.split('etl: failed in 4.0s').length - 1, 1);
  });

  test('on a pipe print each line once', () => {
    const out = sink(false);
    const boards = [progressBar({ stream: out.stream }), consoleDashboard('detailed', { stream: out.stream })];
    for (const board of boards) board.onUpdate(snapshot(3000, 1500));
    for (const board of boards) {
      // As the engine ends a batch: a last update, then the finish, dashboard by dashboard.
      board.onUpdate(snapshot(6000, 3000, { running: false }));
      board.onFinish?.(snapshot(6000, 3000, { running: false }), summary);
    }
    assert.equal(out.writes.length, 3);
    assert.match(out.writes[0] ?? '', /^etl: 3,000\/6,000 50%/);
    assert.match(out.writes[1] ?? '', /^etl: 6,000\/6,000 100%/);
    assert.match(out.writes[2] ?? '', /^etl: failed in 4\.0s/);
  });
});

describe('dashboards on a pipe or file', () => {
  test('write one plain progress line per update and a summary at the end', () => {
    const out = sink(false);
    const board = consoleDashboard('full', { stream: out.stream, total: 10_000 });
    board.onStart?.(snapshot(0, 0));
    board.onUpdate(snapshot(1000, 1000));
    board.onUpdate(snapshot(3000, 2000));
    board.onFinish?.(snapshot(10_000, 4000, { running: false }), summary);
    const text = out.text();
    assert.ok(!text.includes(ESC), 'no escape codes');
    const lines = text.trimEnd().split('\n');
    assert.deepEqual(lines, [
      'etl: 1,000/10,000 10% · 1,000 items/s · ETA 9.0s · 3 failed · 2 skipped',
      'etl: 3,000/10,000 30% · 1,500 items/s · ETA 4.7s · 3 failed · 2 skipped',
      'etl: failed in 4.0s · 10,000 fed · 9,995 completed · 3 failed · 2 skipped · 2,500 items/s',
    ]);
  });

  test('skip the line when nothing moved since the last one', () => {
    const out = sink(false);
    const board = progressBar({ stream: out.stream, title: 'import' });
    board.onUpdate(snapshot(500, 1000));
    board.onUpdate(snapshot(500, 1250));
    board.onUpdate(snapshot(700, 1500));
    assert.equal(out.writes.length, 2);
    assert.match(out.writes[1] ?? '', /^import: 700\/6,000 11% /);
  });
});

test('an unknown view name is refused', () => {
  assert.throws(() => consoleDashboard('fancy' as 'full'), /unknown dashboard 'fancy'/);
});
