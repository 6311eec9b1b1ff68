// Stage pipelines as OpenTelemetry spans, read back from an in-memory exporter:
// a batch span, each item a root span of its own trace linked to the batch,
// and under each item one span per task attempt (with the user's own spans
// inside it).
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { ATTR, item, stages } from '../sdk/index.ts';
import { finished, idOf, lines, reset, tree } from './otel-support.ts';

class Flaky extends Error {
  override name = 'Flaky';
}
class BadRow extends Error {
  override name = 'BadRow';
}

const user = trace.getTracer('user');

/** fetch (one worker, retries): b fails once; load (one worker, two tasks): c is a bad row. */
const etl = stages<number>('etl')
  .stage('fetch', {
    workers: 1,
    retry: { attempts: 2, initialDelayMs: 1, jitter: 0 },
    tasks: function download(n: number, ctx) {
      if (ctx.item.id === 'b' && ctx.attempt === 1) throw new Flaky('connection reset');
      return user.startActiveSpan('http get', (span) => {
        span.end();
        return n;
      });
    },
  })
  .stage('load', {
    workers: 1,
    tasks: [
      function parse(n: number) {
        return n;
      },
      function store(n: number) {
        if (n === 3) throw new BadRow('bad row 3');
        return n * 10;
      },
    ],
  });

const items = () => [item(1, { id: 'a' }), item(2, { id: 'b' }), item(3, { id: 'c' })];

describe('spans of a stage pipeline', { timeout: 10_000 }, () => {
  beforeEach(reset);

  test('a batch span; each item a span of its own trace with its task attempts (and the user\'s spans) under it', async () => {
    const result = await etl.run(items());
    assert.equal(result.status, 'failed');
    assert.deepEqual(result.results, [10, 20]);
    assert.equal(
      await tree(),
      lines(
        'pipeline etl [result=failure, error.type=ItemsFailedError] ERROR {exception}',
        'item etl [item.id=a, stage=load, item.status=completed] {queued, in_progress, queued, in_progress} -> pipeline etl',
        '  task fetch/download [item.id=a, stage=fetch, attempt=1, task.run.result=success]',
        '    http get',
        '  task load/parse [item.id=a, stage=load, attempt=1, task.run.result=success]',
        '  task load/store [item.id=a, stage=load, attempt=1, task.run.result=success]',
        'item etl [item.id=b, stage=load, item.status=completed] {queued, in_progress, retrying, in_progress, queued, in_progress} -> pipeline etl',
        '  task fetch/download [item.id=b, stage=fetch, attempt=1, task.run.result=failure, error.type=Flaky] ERROR {retrying, exception}',
        '  task fetch/download [item.id=b, stage=fetch, attempt=2, task.run.result=success]',
        '    http get',
        '  task load/parse [item.id=b, stage=load, attempt=1, task.run.result=success]',
        '  task load/store [item.id=b, stage=load, attempt=1, task.run.result=success]',
        'item etl [item.id=c, stage=load, item.status=failed, error.type=BadRow] ERROR {queued, in_progress, queued, in_progress, exception} -> pipeline etl',
        '  task fetch/download [item.id=c, stage=fetch, attempt=1, task.run.result=success]',
        '    http get',
        '  task load/parse [item.id=c, stage=load, attempt=1, task.run.result=success]',
        '  task load/store [item.id=c, stage=load, attempt=1, task.run.result=failure, error.type=BadRow] ERROR {exception}',
      ),
    );

    const spans = await finished();
    const batch = spans.find((s) => s.name === 'pipeline etl') as ReadableSpan;
    assert.deepEqual(batch.attributes, {
      [ATTR.PIPELINE_NAME]: 'etl',
      [ATTR.RUN_ID]: result.runId,
      [ATTR.RESULT]: 'failure',
      'spanflow.items.completed': 2,
      'spanflow.items.failed': 1,
      'spanflow.items.skipped': 0,
      [ATTR.ERROR_TYPE]: 'ItemsFailedError',
    });
    const itemSpans = spans.filter((s) => s.name === 'item etl');
    // Each item is its own trace (none is the batch's), linked to the batch span.
    const traces = new Set([batch, ...itemSpans].map((s) => s.spanContext().traceId));
    assert.equal(traces.size, 4);
    for (const span of itemSpans) {
      assert.equal(span.parentSpanContext, undefined);
      assert.deepEqual(span.links.map((l) => l.context.spanId), [idOf(batch)]);
      assert.equal(span.attributes[ATTR.RUN_ID], result.runId);
    }
    // Task spans share their item's trace.
    for (const task of spans.filter((s) => s.name.startsWith('task '))) {
      const owner = itemSpans.find((s) => s.attributes[ATTR.ITEM_ID] === task.attributes[ATTR.ITEM_ID]) as ReadableSpan;
      assert.equal(task.spanContext().traceId, owner.spanContext().traceId);
      assert.equal(task.attributes[ATTR.NODE_KIND], 'task');
      assert.equal(task.attributes[ATTR.WORKER], 0);
      assert.equal(task.attributes[ATTR.TASK_NAME], task.name.slice('task '.length));
    }
    const failed = itemSpans[2] as ReadableSpan;
    assert.equal(failed.status.message, 'bad row 3');
    assert.deepEqual(
      failed.events.filter((e) => e.name === 'exception').map((e) => [e.attributes?.['exception.type'], e.attributes?.['exception.message']]),
      [['BadRow', 'bad row 3']],
    );
  });

  test('a batch started inside a caller\'s span nests under it; its items still start traces of their own', async () => {
    await user.startActiveSpan('nightly job', async (span) => {
      await etl.run([item(1, { id: 'a' })]);
      span.end();
    });
    assert.equal(
      await tree({ attrs: [ATTR.ITEM_ID, ATTR.RESULT, ATTR.ITEM_STATUS] }),
      lines(
        'nightly job',
        '  pipeline etl [result=success]',
        'item etl [item.id=a, item.status=completed] {queued, in_progress, queued, in_progress} -> pipeline etl',
        '  task fetch/download [item.id=a]',
        '    http get',
        '  task load/parse [item.id=a]',
        '  task load/store [item.id=a]',
      ),
    );
    const spans = await finished();
    const job = spans.find((s) => s.name === 'nightly job') as ReadableSpan;
    const batch = spans.find((s) => s.name === 'pipeline etl') as ReadableSpan;
    assert.equal(batch.spanContext().traceId, job.spanContext().traceId);
    assert.notEqual(spans.find((s) => s.name === 'item etl')?.spanContext().traceId, job.spanContext().traceId);
  });

  test('shutdown mid-task: the task span ends with result cancellation, every item failed, the batch cancelled', async () => {
    const entered = Promise.withResolvers<void>();
    const p = stages<number>('stuck').stage('wait', {
      workers: 1,
      tasks: function hold(_n: number, ctx) {
        entered.resolve();
        return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      },
    });
    const batch = p.start();
    await batch.feed([item(1, { id: 'x' }), item(2, { id: 'y' })]);
    await entered.promise;
    await batch.shutdown(new Error('deploy'));
    assert.equal((await batch.join()).status, 'cancelled');
    assert.equal(
      await tree(),
      lines(
        'pipeline stuck [result=cancellation, error.type=CancelledError] ERROR {exception}',
        'item stuck [item.id=x, stage=wait, item.status=failed, error.type=CancelledError] ERROR {queued, in_progress, exception} -> pipeline stuck',
        '  task wait/hold [item.id=x, stage=wait, attempt=1, task.run.result=cancellation, error.type=CancelledError] ERROR {exception}',
        'item stuck [item.id=y, stage=wait, item.status=failed, error.type=CancelledError] ERROR {queued, exception} -> pipeline stuck',
      ),
    );
  });

  test('a task timeout, a skipped item, and per-stage retry', async () => {
    const p = stages<number>('checks').stage('check', {
      workers: 1,
      timeout: 20,
      skip: (n) => n === 0,
      retry: { mode: 'stage', attempts: 2, initialDelayMs: 1, jitter: 0 },
      tasks: function probe(n: number, ctx) {
        return n === 2 && ctx.stageAttempt === 1 ? new Promise(() => {}) : n;
      },
    });
    const result = await p.run([item(0, { id: 'skip-me' }), item(2, { id: 'slow-once' })]);
    assert.deepEqual([result.skipped, result.completed], [1, 1]);
    assert.equal(
      await tree(),
      lines(
        'pipeline checks [result=success]',
        'item checks [item.id=skip-me, stage=check, item.status=skipped] {queued, in_progress} -> pipeline checks',
        'item checks [item.id=slow-once, stage=check, item.status=completed] {queued, in_progress, retrying, queued, in_progress} -> pipeline checks',
        '  task check/probe [item.id=slow-once, stage=check, attempt=1, task.run.result=timeout, error.type=StepTimeoutError] ERROR {exception}',
        '  task check/probe [item.id=slow-once, stage=check, attempt=1, task.run.result=success]',
      ),
    );
  });
});
