// Item ids are strings everywhere: `item(v, { id: 42 })` from plain JavaScript is kept as '42'
// (tasks, outcomes, failures, events, dashboards), an object id is refused with the fix, and no
// dashboard throws on odd ids or odd text.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { consoleDashboard, progressBar, renderCompact, renderDetailed, renderFull, renderProgress } from '../exporters/index.ts';
import { type Dashboard, item, type PipelineSnapshot, stages } from '../sdk/index.ts';
import { captureWarnings, definitionError, eventLog, latch, sink } from './support.ts';

describe('item ids', () => {
  test('a number or bigint id is kept as its decimal text, everywhere the item is named', async () => {
    const log = eventLog();
    const seen: unknown[] = [];
    const p = stages<number>('ids').stage('check', {
      tasks: (n: number, ctx) => {
        seen.push(ctx.item.id);
        if (n === 2) throw new Error('bad row');
        return n;
      },
    });
    const result = await p.run([item(1, { id: 42 }), item(2, { id: 7n }), item(3, { id: null }), 4], { onEvent: log.listen });
    assert.deepEqual(seen, ['42', '7', '2', '3']);
    assert.deepEqual(
      result.items.map((o) => o.itemId),
      ['42', '7', '2', '3'],
    );
    assert.equal(result.failures[0]?.itemId, '7');
    const ids = new Set(log.of('item_status').map((e) => e.itemId));
    assert.deepEqual([...ids].sort(), ['2', '3', '42', '7']);
  });

  test('an object, array or boolean id is refused when the item is made, with the fix', () => {
    for (const id of [{ order: 7 }, ['a', 1], true]) {
      assert.throws(
        () => item(1, { id: id as never }),
        (e: unknown) => e instanceof TypeError && /id must be a string, a number or a bigint/.test(e.message) && /JSON\.stringify/.test(e.message),
      );
    }
    assert.throws(() => item(1, { id: { order: 7 } as never }), /got object/);
    assert.throws(() => item(1, { id: ['a'] as never }), /got an array/);
  });

  test('from a generator, a bad id ends the batch failed with a FeedError; the items before it finish', async () => {
    function* rows() {
      yield item(1, { id: 'a' });
      yield item(2, { id: { order: 2 } as never });
    }
    const result = await stages<number>('bad-id').stage('s', { tasks: (n: number) => n }).run(rows());
    assert.deepEqual([result.status, result.fed, result.completed], ['failed', 1, 1]);
    assert.equal(result.error?.name, 'FeedError');
    assert.ok(result.error?.cause instanceof TypeError);
  });
});

describe('names from plain JavaScript', () => {
  test('a pipeline, stage or task name that is not a string is refused with the fix', () => {
    definitionError(() => stages<number>(42 as never), /a stage pipeline needs a name, a non-empty string \(got 42\)/);
    definitionError(() => stages<number>('p').stage(7 as never, { tasks: (n: number) => n }), /a stage needs a name, a non-empty string \(got 7\)/);
    definitionError(() => stages<number>('p').stage('s', { tasks: { name: 3 as never, run: (n: number) => n } }), /task 1 needs a name, a non-empty string \(got 3\): \{ name: 'parse'/);
  });
});

describe('dashboards with odd ids and odd text', { timeout: 10_000 }, () => {
  const views = {
    progress: (stream: NodeJS.WritableStream) => progressBar({ stream: stream as never }),
    compact: (stream: NodeJS.WritableStream) => consoleDashboard('compact', { stream: stream as never }),
    detailed: (stream: NodeJS.WritableStream) => consoleDashboard('detailed', { stream: stream as never }),
    full: (stream: NodeJS.WritableStream) => consoleDashboard('full', { stream: stream as never }),
  };
  for (const [view, make] of Object.entries(views)) {
    for (const tty of [true, false]) {
      test(`${view} on ${tty ? 'a terminal' : 'a plain stream'}: item id 42 and a numeric task status, no dashboard error`, async () => {
        const out = sink(tty);
        const inner = make(out.stream);
        // Hold item 42 in its task until the dashboard has drawn it there.
        const drawn = latch();
        const dashboard: Dashboard = {
          onStart: (s) => inner.onStart?.(s),
          onUpdate: (s) => {
            inner.onUpdate(s);
            if (s.workers.some((w) => String(w.itemId) === '42' && String(w.taskStatus) === '7')) drawn.resolve();
          },
          onFinish: (s, summary) => inner.onFinish?.(s, summary),
        };
        const warnings = captureWarnings('SpanflowCallbackWarning');
        const p = stages<number>('odd', { dashboard, updateInterval: 1 }).stage('load', {
          tasks: async (n: number, ctx) => {
            ctx.setTaskStatus(7 as never); // plain JavaScript
            await drawn.promise;
            if (n === 1) throw new Error('row 42 is bad');
            return n;
          },
        });
        const result = await p.run([item(1, { id: 42 }), item(2, { id: 43 })]);
        await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
        warnings.stop();
        assert.deepEqual(warnings.messages, []);
        assert.deepEqual([result.status, result.failed, result.failures[0]?.itemId], ['failed', 1, '42']);
        const text = out.text();
        assert.match(text, /odd: failed in/);
        // On a terminal the tables show the item in its worker's row, then in the recent errors; a plain stream gets counts only.
        if (tty && (view === 'detailed' || view === 'full')) {
          assert.match(text, /│ busy +│ 42 +│ load +│ 7 +│/);
          assert.match(text, /item 42 · load\/load · 1 attempt · Error: row 42 is bad/);
        }
      });
    }
  }

  test('the views take numbers (and worse) where text belongs, as plain JavaScript may hand them', () => {
    const odd = (value: unknown) => value as never;
    const snapshot: PipelineSnapshot = {
      pipeline: odd(12),
      runId: odd(34),
      timestamp: Date.now(),
      elapsedMs: 1000,
      running: true,
      workers: [
        {
          stage: odd(5),
          worker: 0,
          state: 'busy',
          itemId: odd(42),
          task: odd(3),
          taskStatus: odd(Object.create(null)),
          processed: 1,
          failed: 1,
          avgMs: 2,
        },
      ],
      stats: {
        expected: 10,
        fed: 4,
        completed: 1,
        failed: 1,
        skipped: 0,
        inFlight: 2,
        queueSizes: {},
        stages: [{ name: odd(5), workers: 1, capacity: 4, pending: 1, queued: 1, inProgress: 1, completed: 1, failed: 1, skipped: 0 }],
      },
      errors: {
        total: 1,
        byType: { Error: 1 },
        byStage: { 5: 1 },
        recent: [{ itemId: odd(42), index: 0, stage: odd(5), task: odd(3), error: { type: 'Error', message: odd(9), stack: undefined }, attempts: 1, metadata: undefined }],
      },
    };
    for (const render of [renderProgress, renderCompact, renderDetailed, renderFull]) {
      const text = render(snapshot, { width: 100 });
      assert.match(text, /12/, render.name);
    }
    assert.match(renderFull(snapshot), /item 42 · 5\/3 · 1 attempt · Error: 9/);
  });
});
