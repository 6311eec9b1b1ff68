// Trace context across the thread boundary: a task on a worker thread is a span
// under the step attempt (or stage task) that ran it, and the spans the worker's
// code makes through @opentelemetry/api come back as its children, in the same
// trace, exported by this (the main) thread's SDK.
import assert from 'node:assert/strict';
import { after, beforeEach, describe, test } from 'node:test';
import { context, ROOT_CONTEXT, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { ATTR, METRICS, pipeline, stages } from '../sdk/index.ts';
import { WORKER_ATTR, WorkerPool, workerTask } from '../worker-threads/index.ts';
import type * as tasks from './fixtures/worker-tasks.ts';
import { pullMetrics } from './metrics-support.ts';
import { finished, lines, reset, tree } from './otel-support.ts';
import { HANG_GUARD } from './support.ts';

// The application's own SDK (otel-support's tracer provider and this meter provider): spanflow/otel starts nothing.
const reader = pullMetrics();

const fixtures = new URL('./fixtures/worker-tasks.ts', import.meta.url);
const pool = new WorkerPool({ name: 'trace-test', minThreads: 1, maxThreads: 1 });
const traced = workerTask<typeof tasks.traced>(fixtures, 'traced', { pool });
const fail = workerTask<typeof tasks.fail>(fixtures, 'fail', { pool });
const manySpans = workerTask<typeof tasks.manySpans>(fixtures, 'manySpans', { pool });

const hrMs = (time: readonly [number, number]) => time[0] * 1000 + time[1] / 1e6;
const named = (spans: readonly ReadableSpan[], name: string): ReadableSpan => {
  const span = spans.find((s) => s.name === name);
  assert.ok(span, `a span named ${name}`);
  return span;
};

describe('trace context across the worker thread boundary', () => {
  beforeEach(reset);
  after(() => pool.close(), HANG_GUARD);

  test('a graph step on the pool: the task span under the step, the worker code’s spans under the task span', HANG_GUARD, async () => {
    const result = await pipeline<{ frames: number }>('render').step('encode', traced).run({ frames: 2 });
    assert.equal(result.status, 'succeeded');
    assert.equal(result.outputs.encode, 1);
    assert.equal(
      await tree(),
      lines(
        'pipeline render [result=success] {queued}',
        '  step encode [attempt=1, task.run.result=success]',
        '    worker traced',
        '      render',
        '        frame 0 {encoded}',
        '        frame 1 {encoded}',
        '        upload ERROR',
      ),
    );
  });

  test('the worker’s spans keep their trace, scope, attributes, events, status and times', HANG_GUARD, async () => {
    await pipeline<{ frames: number }>('render').step('encode', traced).run({ frames: 3 });
    const spans = await finished();
    const step = named(spans, 'step encode');
    const task = named(spans, 'worker traced');
    const render = named(spans, 'render');
    const upload = named(spans, 'upload');
    for (const span of spans) assert.equal(span.spanContext().traceId, step.spanContext().traceId, `${span.name} is in the run's trace`);
    assert.equal(task.parentSpanContext?.spanId, step.spanContext().spanId);
    assert.equal(render.parentSpanContext?.spanId, task.spanContext().spanId);
    assert.equal(upload.parentSpanContext?.spanId, render.spanContext().spanId);
    assert.equal(render.instrumentationScope.name, 'render-lib');
    assert.equal(render.instrumentationScope.version, '1.2.0');
    assert.equal(render.attributes.frames, 3);
    assert.deepEqual(
      named(spans, 'frame 2').events.map((e) => [e.name, e.attributes?.bytes]),
      [['encoded', 300]],
    );
    assert.equal(upload.status.code, SpanStatusCode.ERROR);
    assert.equal(upload.status.message, 'slow');
    // Times are the worker's own, exactly inside the task span; the task span sits in the step's as the
    // SDK's spans sit in theirs (each reads the wall clock, in whole ms, where it starts).
    const within = (inner: ReadableSpan, outer: ReadableSpan, slackMs: number) =>
      hrMs(inner.startTime) >= hrMs(outer.startTime) - slackMs && hrMs(inner.endTime) <= hrMs(outer.endTime) + slackMs;
    assert.ok(within(task, step, 1), 'the task span in the step span');
    for (const span of [render, upload, named(spans, 'frame 0')]) assert.ok(within(span, task, 0), `${span.name} in the task span`);
    assert.ok(within(upload, render, 0), 'upload in render');
    // It slept 5 ms (a timer may fire up to 1 ms early, by the event loop's cached clock).
    assert.ok(hrMs(upload.endTime) - hrMs(upload.startTime) >= 3.5, 'the upload span lasts the time it slept in the worker');
    // The task span carries the pool, the export, the thread, its queue wait and run time.
    assert.equal(task.attributes[ATTR.POOL_NAME], 'trace-test');
    assert.equal(task.attributes[WORKER_ATTR.EXPORT], 'traced');
    assert.equal(task.attributes[WORKER_ATTR.MODULE], 'test/fixtures/worker-tasks.ts');
    assert.equal(typeof task.attributes[WORKER_ATTR.THREAD_ID], 'number');
    for (const key of [WORKER_ATTR.WAIT_MS, WORKER_ATTR.RUN_MS]) {
      const value = task.attributes[key];
      assert.ok(typeof value === 'number' && value >= 0, `${key} = ${String(value)}`);
    }
  });

  test('a stage task on the pool: the task span under the item’s task attempt span', HANG_GUARD, async () => {
    const result = await stages<{ frames: number }>('batch').stage('encode', { tasks: traced }).run([{ frames: 1 }]);
    assert.deepEqual(result.results, [0]);
    assert.equal(
      await tree(),
      lines(
        'pipeline batch [result=success]',
        'item batch [item.id=0, stage=encode, item.status=completed] {queued, in_progress} -> pipeline batch',
        '  task encode/traced [item.id=0, stage=encode, attempt=1, task.run.result=success]',
        '    worker traced',
        '      render',
        '        frame 0 {encoded}',
        '        upload ERROR',
      ),
    );
  });

  test('a task that throws: its span is an error naming WorkerTaskError, the step’s attempt fails with it', HANG_GUARD, async () => {
    const result = await pipeline('failing')
      .step('check', ({ signal }) => fail.run({ message: 'frame 7 is corrupt' }, { signal }))
      .run(undefined);
    assert.equal(result.status, 'failed');
    assert.equal(
      await tree(),
      lines(
        'pipeline failing [result=failure, error.type=StepFailedError] ERROR {queued, exception}',
        '  step check [attempt=1, task.run.result=failure, error.type=WorkerTaskError] ERROR {exception}',
        '    worker fail [error.type=WorkerTaskError] ERROR {exception}',
      ),
    );
    const task = named(await finished(), 'worker fail');
    assert.match(String(task.events[0]?.attributes?.['exception.message']), /worker task fail \(worker-tasks\.ts\) threw RangeError: frame 7 is corrupt/);
  });

  test('spans past the per-task limit are counted as dropped (worker_span_limit), with the application’s own SDK', HANG_GUARD, async () => {
    const dropped = async () => {
      const { resourceMetrics } = await reader.collect();
      const metric = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === METRICS.telemetryDropped.name);
      return (metric?.dataPoints ?? []).filter((p) => p.attributes[ATTR.DROP_REASON] === 'worker_span_limit').reduce((sum, p) => sum + Number(p.value), 0);
    };
    const before = await dropped();
    await pipeline('tiles').step('render', ({ signal }) => manySpans.run({ count: 1003 }, { signal })).run(undefined);
    const spans = await finished();
    assert.equal(spans.filter((s) => s.name.startsWith('tile ')).length, 1000, 'a thousand came back');
    assert.equal(named(spans, 'worker manySpans').attributes[WORKER_ATTR.SPANS_DROPPED], 3, 'the task span says three were not sent');
    assert.equal((await dropped()) - before, 3, 'and the drop counter counted them');
  });

  test('a task under a parent the sampler left out records nothing, on either thread', HANG_GUARD, async () => {
    const unsampled = trace.setSpanContext(ROOT_CONTEXT, { traceId: '1'.repeat(32), spanId: '2'.repeat(16), traceFlags: TraceFlags.NONE });
    const output = await context.with(unsampled, () => traced.run({ frames: 2 }));
    assert.equal(output, 1);
    assert.deepEqual(await finished(), []);
  });
});
