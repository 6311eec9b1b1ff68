// Console dashboards at their edges: narrow terminals, empty and huge batches, unruly error text,
// dashboards reused or finished without updates, and a real stage run written to a pipe.
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
  summaryLine,
} from '../exporters/index.ts';
import { type BatchSummary, FeedError, ItemsFailedError, type PipelineSnapshot, stages, type WorkerSnapshot } from '../sdk/index.ts';
import { sink } from './support.ts';

const ESC = '\u001B';
const views = { renderProgress, renderCompact, renderDetailed, renderFull };

function worker(stage: string, n: number, extra: Partial<WorkerSnapshot> = {}): WorkerSnapshot {
  return { stage, worker: n, state: 'idle', itemId: undefined, task: undefined, taskStatus: undefined, processed: 0, failed: 0, avgMs: 0, ...extra };
}

interface Counts {
  expected?: number;
  fed?: number;
  completed?: number;
  failed?: number;
  skipped?: number;
}

/** A one-stage snapshot with the given counts; `at` ms into the batch. */
function snap(counts: Counts = {}, at = 1000, extra: Partial<PipelineSnapshot> = {}): PipelineSnapshot {
  const { completed = 0, failed = 0, skipped = 0 } = counts;
  const fed = counts.fed ?? counts.expected ?? 0;
  const expected = counts.expected ?? fed;
  return {
    pipeline: 'etl',
    runId: 'run-1',
    timestamp: 1_700_000_000_000 + at,
    elapsedMs: at,
    running: true,
    workers: [worker('fetch', 0, { state: 'busy', itemId: '7', task: 'fetchOne' }), worker('fetch', 1)],
    stats: {
      expected,
      fed,
      completed,
      failed,
      skipped,
      inFlight: fed - completed - failed - skipped,
      queueSizes: { fetch: 0 },
      stages: [{ name: 'fetch', workers: 2, capacity: 8, pending: 0, queued: 0, inProgress: 1, completed, failed, skipped }],
    },
    errors: { total: 0, byType: {}, byStage: {}, recent: [] },
    ...extra,
  };
}

const summary = (extra: Partial<BatchSummary> = {}): BatchSummary => ({
  runId: 'run-1',
  pipeline: 'etl',
  status: 'succeeded',
  error: undefined,
  durationMs: 2000,
  fed: 100,
  completed: 100,
  failed: 0,
  skipped: 0,
  ...extra,
});

describe('narrow terminals', () => {
  const longStage = 'fetch-from-the-upstream-archive-with-a-very-long-name';
  const busy = snap({ expected: 10_000, completed: 4000, failed: 12 }, 5000, {
    pipeline: 'a-pipeline-with-a-rather-long-name',
    workers: [worker(longStage, 0, { state: 'busy', itemId: 'item-000123', task: 'download', taskStatus: 'part 3 of 7' })],
    errors: {
      total: 1,
      byType: { TypeError: 1 },
      byStage: { [longStage]: 1 },
      recent: [{ itemId: '9', index: 9, stage: longStage, task: 'download', error: { type: 'TypeError', message: 'bad' }, attempts: 2, metadata: undefined }],
    },
  });
  const withLongStage: PipelineSnapshot = {
    ...busy,
    stats: { ...busy.stats, stages: [{ name: longStage, workers: 2, capacity: 8, pending: 3, queued: 3, inProgress: 1, completed: 4000, failed: 12, skipped: 0 }] },
  };

  for (const width of [20, 40]) {
    for (const [name, render] of Object.entries(views)) {
      test(`${name} fits ${width} columns even with long pipeline and stage names`, () => {
        const text = render(withLongStage, { width });
        for (const line of text.split('\n')) assert.ok(line.length <= width, `${line.length} > ${width}: ${line}`);
      });
    }
  }
});

describe('numbers that are not there yet', () => {
  test('an empty batch shows 0%, no NaN or Infinity, and nothing left to wait for', () => {
    const empty = snap({}, 0);
    for (const text of [plainLine(empty), renderProgress(empty), renderFull(empty, { width: 100 }), summaryLine(summary({ durationMs: 0, fed: 0, completed: 0 }))]) {
      assert.doesNotMatch(text, /NaN|Infinity|undefined/, text);
    }
    assert.match(plainLine(empty), /^etl: 0\/0 0% · 0 items\/s · ETA 0\.0s · 0 failed$/);
  });

  test('a known total with nothing done yet shows the ETA as unknown, not NaN', () => {
    const text = plainLine(snap({ expected: 500 }, 2000));
    assert.equal(text, 'etl: 0/500 0% · 0 items/s · ETA -- · 0 failed');
    assert.match(renderProgress(snap({ expected: 500 }, 0)), /ETA --/);
  });

  test('ten million items get thousands separators everywhere', () => {
    const huge = snap({ expected: 10_000_000, completed: 2_500_000 }, 100_000);
    assert.match(plainLine(huge), /^etl: 2,500,000\/10,000,000 25% · 25,000 items\/s · ETA 5m 00s/);
    assert.match(renderCompact(huge, { width: 120 }), /completed 2,500,000/);
    assert.match(renderFull(huge, { width: 120 }), /│ +10,000,000 │/);
    assert.match(summaryLine(summary({ fed: 10_000_000, completed: 10_000_000, durationMs: 400_000 })), /10,000,000 fed · 10,000,000 completed .* 25,000 items\/s/);
  });
});

describe('unruly text in the views', () => {
  const nasty = `JSON parse failed\nat line 2\r\n\t${ESC}[31mred${ESC}[0m end`;
  const withError = snap({ expected: 10, completed: 1, failed: 1 }, 1000, {
    workers: [worker('fetch', 0, { state: 'busy', itemId: '3', task: 'fetchOne', taskStatus: `${ESC}[1mbold${ESC}[22m\nsecond line` })],
    errors: {
      total: 1,
      byType: { SyntaxError: 1 },
      byStage: { fetch: 1 },
      recent: [{ itemId: '4', index: 4, stage: 'fetch', task: 'fetchOne', error: { type: 'SyntaxError', message: nasty }, attempts: 1, metadata: undefined }],
    },
  });

  test('an error message with newlines and colour codes is listed on one line without escape codes', () => {
    const text = renderDetailed(withError, { width: 120 });
    const line = text.split('\n').find((l) => l.includes('item 4'));
    assert.equal(line, '  item 4 · fetch/fetchOne · 1 attempt · SyntaxError: JSON parse failed at line 2 red end');
    assert.ok(!text.includes(ESC), JSON.stringify(text));
    assert.ok(!text.includes('\r') && !text.includes('\t'), JSON.stringify(text));
  });

  test('a task status with escape codes stays on its worker row, cleaned', () => {
    const text = renderFull(withError, { width: 120 });
    const row = text.split('\n').find((l) => l.includes('fetchOne') && l.includes('busy'));
    assert.match(row ?? '', /│ bold second line +│/);
    assert.ok(!text.includes(ESC));
  });
});

describe('workers beyond maxWorkers', () => {
  test('busy workers are listed first and the hidden ones are counted', () => {
    const many = Array.from({ length: 12 }, (_, n) => worker('parse', n, n === 3 || n === 10 ? { state: 'busy', itemId: `busy-${n}`, task: 'parse' } : {}));
    const text = renderDetailed(snap({ expected: 5 }, 1000, { workers: many }), { maxWorkers: 3, width: 120 });
    assert.match(text, /busy-3/);
    assert.match(text, /busy-10/);
    const rows = text.split('\n').filter((l) => /│ parse +│/.test(l));
    assert.equal(rows.length, 3);
    assert.match(text, /… 9 more workers \(10 idle in all\)/);
  });
});

describe('dashboard objects', () => {
  test('progressBar({ total }) wins over the snapshot’s expected count', () => {
    const out = sink(false);
    const board = progressBar({ stream: out.stream, total: 1000 });
    board.onStart?.(snap({ expected: 50 }, 0));
    board.onUpdate(snap({ expected: 50, completed: 25 }, 1000));
    assert.match(out.writes[0] ?? '', /^etl: 25\/1,000 2% /);
  });

  test('onFinish without any update writes the summary once, on a pipe and on a terminal', () => {
    for (const tty of [false, true]) {
      const out = sink(tty);
      const board = consoleDashboard('full', { stream: out.stream });
      board.onFinish?.(snap({ expected: 100, completed: 100 }, 2000, { running: false }), summary());
      const text = out.text();
      assert.equal(text.split('etl: succeeded in 2.0s').length - 1, 1, text);
      assert.doesNotMatch(text, /NaN|Infinity/);
      if (!tty) assert.ok(!text.includes(ESC));
    }
  });

  test('the summary of a batch whose feed source threw ends with the source’s error, on one line', () => {
    const error = new FeedError('etl', 2, new Error('source broke\nat line 3'));
    const line = summaryLine(summary({ status: 'failed', error, fed: 2, completed: 2 }));
    assert.match(line, /^etl: failed in 2\.0s · 2 fed · 2 completed · 0 failed · 0 skipped · [\d.]+ items\/s · the feed source of 'etl' threw after 2 items: source broke at line 3$/);
    assert.doesNotMatch(summaryLine(summary({ status: 'failed', error: new ItemsFailedError(1, 2, 'boom'), failed: 1 })), /boom/);
  });

  test('a dashboard reused for a second identical batch on a pipe writes that batch’s lines too', () => {
    const out = sink(false);
    const board = progressBar({ stream: out.stream });
    for (let batch = 0; batch < 2; batch++) {
      board.onStart?.(snap({ expected: 100 }, 0));
      board.onUpdate(snap({ expected: 100, completed: 100 }, 2000, { running: false }));
      board.onFinish?.(snap({ expected: 100, completed: 100 }, 2000, { running: false }), summary());
    }
    const lines = out.text().trimEnd().split('\n');
    assert.equal(lines.filter((l) => l.startsWith('etl: succeeded')).length, 2, lines.join('\n'));
    assert.equal(lines.filter((l) => l.startsWith('etl: 100/100 100%')).length, 2, lines.join('\n'));
  });
});

describe('a real stage run on a pipe', () => {
  test('the full view ends on 2,000 items and writes the summary once', async () => {
    const out = sink(false);
    const pipeline = stages<number>('etl', { dashboard: consoleDashboard('full', { stream: out.stream }), updateInterval: 5 }).stage('double', {
      workers: 4,
      tasks: async (value: number) => {
        await new Promise((resolve) => setImmediate(resolve));
        return value * 2;
      },
    });
    const result = await pipeline.run(Array.from({ length: 2000 }, (_, i) => i));
    assert.equal(result.status, 'succeeded');
    const text = out.text();
    assert.ok(!text.includes(ESC), 'no escape codes on a pipe');
    const lines = text.trimEnd().split('\n');
    const summaries = lines.filter((l) => l.startsWith('etl: succeeded in '));
    assert.equal(summaries.length, 1, text);
    assert.match(lines.at(-1) ?? '', /^etl: succeeded in .* · 2,000 fed · 2,000 completed · 0 failed · 0 skipped · /);
    const progress = lines.filter((l) => /^etl: [\d,]+\/[\d,]+ /.test(l));
    assert.match(progress.at(-1) ?? '', /^etl: 2,000\/2,000 100% /);
    assert.doesNotMatch(text, /NaN|Infinity/);
  });
});
