// What a sampler that leaves runs and items out means for spanflow: their
// spans are not made (nor their tasks' and steps'), user spans inside them are
// left out too rather than joining another trace, every count stays complete,
// and the duration histogram holds the kept ones (or all, when asked).
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { type Attributes, context, type Context, type SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import type { CollectionResult, DataPoint, Histogram } from '@opentelemetry/sdk-metrics';
import {
  InMemorySpanExporter,
  type Sampler,
  SamplingDecision,
  type SamplingResult,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { ATTR, configureTelemetry, item, METRICS, pipeline, stages } from '../sdk/index.ts';
import { pullMetrics } from './metrics-support.ts';

/**
 * Keeps a root span when its name is in `keep` or its trace is the n-th root of that
 * name with n even (so half the items of a batch); a child follows its parent.
 */
class EveryOtherRoot implements Sampler {
  readonly keep = new Set<string>();
  readonly #seen = new Map<string, number>();
  shouldSample(parent: Context, _traceId: string, name: string, _kind: SpanKind, _attributes: Attributes): SamplingResult {
    const parentSpan = trace.getSpanContext(parent);
    if (parentSpan) return { decision: parentSpan.traceFlags & 1 ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD };
    const n = this.#seen.get(name) ?? 0;
    this.#seen.set(name, n + 1);
    return { decision: this.keep.has(name) || n % 2 === 0 ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD };
  }
  toString(): string {
    return 'EveryOtherRoot';
  }
}

const sampler = new EveryOtherRoot();
const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ sampler, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(provider);
const reader = pullMetrics();
const user = trace.getTracer('user');

function point(result: CollectionResult, name: string, match: Attributes): DataPoint<unknown> | undefined {
  assert.deepEqual(result.errors, []);
  const found = result.resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).filter((m) => m.descriptor.name === name);
  return found.flatMap((m) => m.dataPoints as DataPoint<unknown>[]).find((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v));
}
const countOf = (result: CollectionResult, name: string, match: Attributes) => point(result, name, match)?.value as number | undefined;
const histogramCount = (result: CollectionResult, match: Attributes) => (point(result, METRICS.stepDuration.name, match)?.value as Histogram | undefined)?.count ?? 0;

/** Two stages; the task of the second makes a span of its own. */
function etl(name: string) {
  return stages<number>(name)
    .stage('parse', { workers: 2, tasks: function read(n: number) {
      return n;
    } })
    .stage('load', {
      workers: 2,
      tasks: async function store(n: number) {
        await user.startActiveSpan('db insert', async (span) => span.end());
        return n;
      },
    });
}

describe('a sampler that leaves stage items out', { timeout: 10_000 }, () => {
  afterEach(async () => {
    configureTelemetry({});
    await provider.forceFlush();
    exporter.reset();
  });

  test('only kept items have spans, their tasks\' spans and their user spans; no user span joins the batch\'s trace', async () => {
    sampler.keep.add('pipeline sampled-etl');
    const result = await etl('sampled-etl').run(Array.from({ length: 10 }, (_, i) => item(i, { id: `i${i}` })));
    assert.equal(result.completed, 10);
    await provider.forceFlush();
    const spans = exporter.getFinishedSpans();
    const batch = spans.filter((s) => s.name === 'pipeline sampled-etl');
    const items = spans.filter((s) => s.name === 'item sampled-etl');
    assert.equal(batch.length, 1);
    assert.deepEqual(items.map((s) => s.attributes[ATTR.ITEM_ID]).sort(), ['i0', 'i2', 'i4', 'i6', 'i8']);
    const kept = new Set(items.map((s) => s.spanContext().traceId));
    const tasks = spans.filter((s) => s.name.startsWith('task '));
    const inserts = spans.filter((s) => s.name === 'db insert');
    assert.equal(tasks.length, 10, 'two tasks for each of the five kept items');
    assert.equal(inserts.length, 5, 'the user span of each kept item only');
    for (const span of [...tasks, ...inserts]) assert.ok(kept.has(span.spanContext().traceId), `${span.name} is in a kept item's trace`);
    const batchTrace = batch[0]?.spanContext().traceId;
    assert.ok(spans.every((s) => s === batch[0] || s.spanContext().traceId !== batchTrace), 'nothing else joins the batch trace');
  });

  test('attempt and item counts are complete; durations are those of kept items, or of all with durations: \'all\'', async () => {
    const items = Array.from({ length: 8 }, (_, i) => i);
    await etl('durations-sampled').run(items);
    configureTelemetry({ durations: 'all' });
    await etl('durations-all').run(items);
    const result = await reader.collect();
    for (const name of ['durations-sampled', 'durations-all']) {
      const task = { [ATTR.PIPELINE_NAME]: name, [ATTR.TASK_NAME]: 'load/store' };
      assert.equal(countOf(result, 'spanflow.step.attempts', { ...task, [ATTR.NODE_KIND]: 'task', [ATTR.TASK_RESULT]: 'success' }), 8, `${name}: every attempt counted`);
      assert.equal(countOf(result, 'spanflow.items', { [ATTR.PIPELINE_NAME]: name, [ATTR.STAGE]: 'load', [ATTR.ITEM_STATUS]: 'completed' }), 8);
    }
    assert.equal(histogramCount(result, { [ATTR.PIPELINE_NAME]: 'durations-sampled', [ATTR.TASK_NAME]: 'load/store' }), 4, 'the kept half');
    assert.equal(histogramCount(result, { [ATTR.PIPELINE_NAME]: 'durations-all', [ATTR.TASK_NAME]: 'load/store' }), 8);
  });
});

describe('a sampler that leaves graph runs out', { timeout: 10_000 }, () => {
  afterEach(() => configureTelemetry({}));

  test('a left-out run makes no step spans and its steps\' user spans are left out; counts stay complete', async () => {
    await provider.forceFlush();
    exporter.reset();
    const p = pipeline('sampled-graph')
      .step('fetch', () => 'page', { to: 'parse' })
      .step('parse', () => user.startActiveSpan('regex', (span) => span.end()));
    for (let i = 0; i < 4; i++) assert.equal((await p.run(undefined)).status, 'succeeded');
    await provider.forceFlush();
    const names = exporter.getFinishedSpans().map((s) => s.name);
    assert.deepEqual(
      names.filter((n) => n === 'pipeline sampled-graph'),
      ['pipeline sampled-graph', 'pipeline sampled-graph'],
    );
    assert.equal(names.filter((n) => n === 'step parse').length, 2);
    assert.equal(names.filter((n) => n === 'regex').length, 2, 'user spans of kept runs only');
    const result = await reader.collect();
    const step = { [ATTR.PIPELINE_NAME]: 'sampled-graph', [ATTR.TASK_NAME]: 'parse' };
    assert.equal(countOf(result, 'spanflow.step.attempts', { ...step, [ATTR.NODE_KIND]: 'step', [ATTR.TASK_RESULT]: 'success' }), 4);
    assert.equal(countOf(result, 'spanflow.runs', { [ATTR.PIPELINE_NAME]: 'sampled-graph', [ATTR.RESULT]: 'success' }), 4);
    assert.equal(histogramCount(result, step), 2, 'durations of the kept runs');
  });

  test('a bad durations option is refused with the values it takes', () => {
    assert.throws(() => configureTelemetry({ durations: 'some' as never }), {
      name: 'TypeError',
      message: 'configureTelemetry: durations is \'sampled\' or \'all\' (got "some")',
    });
  });
});
