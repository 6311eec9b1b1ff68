// Telemetry paths the other otel tests leave out: suspended and resumed runs,
// a sub-pipeline inside a map worker, a barrier after a retried parent,
// concurrent runs of one pipeline, a redact hook that throws, and the metrics
// that must come back to rest (active runs, attempts, stage gauges).
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import type { Attributes } from '@opentelemetry/api';
import type { CollectionResult, DataPoint } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { ATTR, configureTelemetry, pipeline, stages } from '../sdk/index.ts';
import { finished, idOf, lines, reset, spansNamed, tree } from './otel-support.ts';
import { pullMetrics } from './metrics-support.ts';

const reader = pullMetrics();

class Flaky extends Error {
  override name = 'Flaky';
}

const eventsOf = (span: ReadableSpan, name: string): Attributes[] => span.events.filter((e) => e.name === name).map((e) => e.attributes ?? {});

/** The data points of one metric in one collection. */
function points(result: CollectionResult, name: string): DataPoint<unknown>[] {
  assert.deepEqual(result.errors, []);
  const found = result.resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).filter((m) => m.descriptor.name === name);
  return found.flatMap((m) => m.dataPoints as DataPoint<unknown>[]);
}
const pointValue = (result: CollectionResult, name: string, match: Attributes): number | undefined =>
  points(result, name).find((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v))?.value as number | undefined;

describe('spans of paths the other tests leave out', { timeout: 10_000 }, () => {
  beforeEach(reset);

  test('a suspended run: its span has result skip and a suspended event naming the step', async () => {
    const p = pipeline<{ ok: boolean }>('approval')
      .step('check', ({ state, suspend }) => (state.ok ? undefined : suspend('waiting')), { to: 'ship' })
      .step('ship', () => {});
    const result = await p.run({ ok: false });
    assert.equal(result.status, 'suspended');
    const [run] = await spansNamed('pipeline approval');
    assert.ok(run);
    assert.equal(run.attributes[ATTR.RESULT], 'skip');
    assert.notEqual(run.status.code, 2, 'a suspension is not an error');
    assert.deepEqual(eventsOf(run, 'spanflow.suspended'), [{ [ATTR.TASK_NAME]: 'check' }]);
    assert.equal((await spansNamed('step ship')).length, 0);
  });

  test('a resumed run: a resumed event naming the step, and spans only for the steps it ran', async () => {
    const p = pipeline<{ ok: boolean }>('approval2')
      .step('check', () => {}, { to: 'ship' })
      .step('ship', () => {});
    assert.equal((await p.run({ ok: true }, { resumeFrom: 'ship' })).status, 'succeeded');
    assert.equal(await tree({ events: false }), lines('pipeline approval2 [result=success]', '  step ship [attempt=1, task.run.result=success]'));
    const [run] = await spansNamed('pipeline approval2');
    assert.ok(run);
    assert.deepEqual(eventsOf(run, 'spanflow.resumed'), [{ [ATTR.TASK_NAME]: 'ship' }]);
  });

  test('a sub-pipeline run inside a map worker nests under that worker\'s attempt span', async () => {
    const child = pipeline<{ n: number }>('leaf').step('x', () => {});
    const p = pipeline('fan')
      .map('m', () => [0, 1], { worker: 'w' })
      .sub('w', child, { state: () => ({ n: 0 }) });
    assert.equal((await p.run(undefined)).status, 'succeeded');
    const spans = await finished();
    const workers = spans.filter((s) => s.name === 'step w');
    const leaves = spans.filter((s) => s.name === 'pipeline leaf');
    assert.equal(workers.length, 2);
    assert.equal(leaves.length, 2);
    for (const leaf of leaves) {
      const parent = workers.find((w) => idOf(w) === leaf.parentSpanContext?.spanId);
      assert.ok(parent, 'a leaf run is the child of a worker attempt');
    }
    assert.notEqual(leaves[0]?.parentSpanContext?.spanId, leaves[1]?.parentSpanContext?.spanId);
    const [map] = spans.filter((s) => s.name === 'step m');
    for (const w of workers) assert.equal(w.parentSpanContext?.spanId, map && idOf(map));
  });

  test('a barrier after a retried parent links to that parent\'s last attempt span', async () => {
    const p = pipeline('join')
      .step('start', () => {}, { to: ['a', 'b'] })
      .step(
        'a',
        ({ attempt }) => {
          if (attempt < 2) throw new Flaky('once');
        },
        { retry: { attempts: 2, initialDelayMs: 1, jitter: 0 }, to: 'j' },
      )
      .step('b', () => {}, { to: 'j' })
      .barrier('j', () => {});
    assert.equal((await p.run(undefined)).status, 'succeeded');
    const attempts = await spansNamed('step a');
    assert.equal(attempts.length, 2);
    const [barrier] = await spansNamed('step j');
    assert.ok(barrier);
    const linked = barrier.links.map((l) => l.context.spanId);
    assert.ok(linked.includes(idOf(attempts[1] as ReadableSpan)), 'links the last attempt');
    assert.ok(!linked.includes(idOf(attempts[0] as ReadableSpan)), 'not the failed one');
    assert.equal(linked.length, 2);
  });

  test('two concurrent runs of one pipeline: each step span is in its own run\'s trace, under its own run span', async () => {
    const p = pipeline<{ id: string }>('twin')
      .step('a', async () => void (await new Promise((r) => setTimeout(r, 5))), { to: 'b' })
      .step('b', async () => void (await new Promise((r) => setTimeout(r, 5))));
    const results = await Promise.all([p.run({ id: '1' }), p.run({ id: '2' })]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['succeeded', 'succeeded'],
    );
    const spans = await finished();
    const runs = spans.filter((s) => s.name === 'pipeline twin');
    assert.equal(runs.length, 2);
    assert.notEqual(runs[0]?.spanContext().traceId, runs[1]?.spanContext().traceId);
    const steps = spans.filter((s) => s.name.startsWith('step '));
    assert.equal(steps.length, 4);
    for (const step of steps) {
      const run = runs.find((r) => r.attributes[ATTR.RUN_ID] === step.attributes[ATTR.RUN_ID]);
      assert.ok(run);
      assert.equal(step.spanContext().traceId, run.spanContext().traceId);
      assert.equal(step.parentSpanContext?.spanId, idOf(run));
    }
  });

  test('a redact hook that throws does not fail the streaming step: its token events go out without content', async () => {
    configureTelemetry({
      payloads: true,
      redact: () => {
        throw new Error('redactor broke');
      },
    });
    try {
      const p = pipeline('talk').step('say', async function* () {
        yield 'secret';
        yield 'more';
        return 'done';
      });
      const result = await p.run(undefined);
      assert.equal(result.status, 'succeeded', result.error?.message);
      const [say] = await spansNamed('step say');
      assert.equal(say?.attributes[ATTR.TASK_RESULT], 'success');
      assert.deepEqual(eventsOf(say as ReadableSpan, 'spanflow.token'), [{ [ATTR.TOKEN_COUNT]: 1 }, { [ATTR.TOKEN_COUNT]: 2 }]);
    } finally {
      configureTelemetry({});
    }
  });

  test('with payloads on, a token JSON cannot serialize (a cycle) still gets its event, without content', async () => {
    configureTelemetry({ payloads: true });
    try {
      const cyclic: { self?: unknown } = {};
      cyclic.self = cyclic;
      const p = pipeline('cyclic').step('say', async function* () {
        yield cyclic;
        yield 'plain';
      });
      assert.equal((await p.run(undefined)).status, 'succeeded');
      const [say] = await spansNamed('step say');
      assert.deepEqual(eventsOf(say as ReadableSpan, 'spanflow.token'), [{ [ATTR.TOKEN_COUNT]: 1 }, { [ATTR.TOKEN_COUNT]: 2, [ATTR.TOKEN]: 'plain' }]);
    } finally {
      configureTelemetry({});
    }
  });

  for (const how of ['run timeout', 'cancellation'] as const) {
    test(`a ${how} while map workers and a sub-pipeline hang: every attempt that started ends as a span`, async () => {
      const controller = new AbortController();
      let started = 0;
      let workers = 0;
      const hang = ({ signal }: { signal: AbortSignal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      const child = pipeline('stuck-child').step('deep', hang);
      const p = pipeline(`hang-${how}`)
        .step('start', () => {}, { to: ['m', 'call'] })
        .map('m', () => [0, 1, 2], { worker: 'w', concurrency: 2 })
        .step('w', (args) => {
          if (++workers === 2) setTimeout(() => controller.abort(new Error('stop')), 5);
          return hang(args);
        })
        .sub('call', child, { state: () => undefined });
      const result = await p.run(undefined, {
        ...(how === 'run timeout' ? { timeout: 40 } : { signal: controller.signal }),
        onEvent: (e) => {
          if (e.type === 'step_start') started++;
        },
      });
      assert.equal(result.status, how === 'run timeout' ? 'timed_out' : 'cancelled');
      const steps = (await finished()).filter((s) => s.name.startsWith('step '));
      assert.equal(steps.length, started, 'one ended span per started attempt');
      assert.equal((await spansNamed('pipeline stuck-child')).length, 1);
      for (const s of steps.filter((x) => x.name !== 'step start')) assert.equal(s.status.code, 2, `${s.name} ERROR`);
    });
  }
});

describe('metrics come back to rest', { timeout: 10_000 }, () => {
  test('spanflow.runs.active returns to 0 after runs that succeed, fail, are cancelled before start, or fail at startup', async () => {
    const name = 'active-runs';
    const p = pipeline<{ mode: string }>(name)
      .onStartup('maybe', ({ state }) => {
        if (state.mode === 'hook') throw new Error('hook');
      })
      .step('a', ({ state }) => {
        if (state.mode === 'fail') throw new Error('step');
      });
    const running = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    const slow = pipeline(name).step('a', async () => {
      running.resolve();
      await release.promise;
    });
    const live = slow.run(undefined);
    await running.promise;
    assert.equal(pointValue(await reader.collect(), 'spanflow.runs.active', { [ATTR.PIPELINE_NAME]: name }), 1, 'counted while it runs');
    release.resolve();
    assert.equal((await live).status, 'succeeded');
    assert.equal((await p.run({ mode: 'ok' })).status, 'succeeded');
    assert.equal((await p.run({ mode: 'fail' })).status, 'failed');
    assert.equal((await p.run({ mode: 'hook' })).status, 'failed');
    assert.equal((await p.run({ mode: 'ok' }, { signal: AbortSignal.abort() })).status, 'cancelled');
    const result = await reader.collect();
    assert.equal(pointValue(result, 'spanflow.runs.active', { [ATTR.PIPELINE_NAME]: name }), 0);
    for (const point of points(result, 'spanflow.runs.active')) assert.ok((point.value as number) >= 0, 'never negative');
    assert.equal(pointValue(result, 'spanflow.runs', { [ATTR.PIPELINE_NAME]: name, [ATTR.RESULT]: 'failure' }), 2);
    assert.equal(pointValue(result, 'spanflow.runs', { [ATTR.PIPELINE_NAME]: name, [ATTR.RESULT]: 'cancellation' }), 1);
  });

  test('spanflow.step.attempts counts every attempt, failed retries included, by result', async () => {
    const name = 'attempt-count';
    const p = pipeline(name).step(
      'fetch',
      ({ attempt }) => {
        if (attempt < 3) throw new Flaky('again');
      },
      { retry: { attempts: 3, initialDelayMs: 1, jitter: 0 } },
    );
    assert.equal((await p.run(undefined)).status, 'succeeded');
    const result = await reader.collect();
    const base = { [ATTR.PIPELINE_NAME]: name, [ATTR.TASK_NAME]: 'fetch', [ATTR.NODE_KIND]: 'step' };
    assert.equal(pointValue(result, 'spanflow.step.attempts', { ...base, [ATTR.TASK_RESULT]: 'failure' }), 2);
    assert.equal(pointValue(result, 'spanflow.step.attempts', { ...base, [ATTR.TASK_RESULT]: 'success' }), 1);
    assert.equal(pointValue(result, 'spanflow.step.retries', { ...base, [ATTR.ERROR_TYPE]: 'Flaky' }), 2);
  });

  test('step attempts and durations go to their own pipeline and step across runs, a withSteps copy sharing the steps included', async () => {
    // Metering keeps what it counts per step by the step's definition, which every run and copy of a pipeline shares.
    const make = (name: string) =>
      pipeline(name)
        .step('a', async () => {}, { to: 'b' })
        .step('b', async () => {});
    const one = make('per-def-one');
    const two = make('per-def-two');
    const copy = one.withSteps({ b: async () => {} });
    for (let i = 0; i < 3; i++) {
      assert.equal((await one.run(undefined)).status, 'succeeded');
      assert.equal((await two.run(undefined)).status, 'succeeded');
      assert.equal((await copy.run(undefined)).status, 'succeeded');
    }
    const result = await reader.collect();
    for (const [name, runs] of [
      ['per-def-one', 6],
      ['per-def-two', 3],
    ] as const) {
      for (const step of ['a', 'b']) {
        const attributes = { [ATTR.PIPELINE_NAME]: name, [ATTR.TASK_NAME]: step };
        assert.equal(pointValue(result, 'spanflow.step.attempts', { ...attributes, [ATTR.NODE_KIND]: 'step', [ATTR.TASK_RESULT]: 'success' }), runs, `${name} ${step}`);
        const duration = points(result, 'spanflow.step.duration_seconds').find((p) => p.attributes[ATTR.PIPELINE_NAME] === name && p.attributes[ATTR.TASK_NAME] === step);
        assert.equal((duration?.value as { count: number } | undefined)?.count, runs, `${name} ${step} durations`);
      }
    }
  });

  test('stage gauges report nothing for a batch once it has finished', async () => {
    const name = 'gauge-batch';
    const p = stages<number>(name).stage('double', { workers: 2, tasks: (n: number) => n * 2 });
    const result = await p.run([1, 2, 3]);
    assert.equal(result.status, 'succeeded');
    const collected = await reader.collect();
    for (const metric of ['spanflow.stage.queue.size', 'spanflow.stage.workers', 'spanflow.stage.in_flight']) {
      const mine = points(collected, metric).filter((p) => p.attributes[ATTR.PIPELINE_NAME] === name);
      assert.deepEqual(mine, [], `${metric} has no point for a finished batch`);
    }
  });

  test('two concurrent batches of one pipeline: the stage gauges add up both', async () => {
    const name = 'gauge-twins';
    const gate = Promise.withResolvers<void>();
    let running = 0;
    const both = Promise.withResolvers<void>();
    const p = stages<number>(name).stage('w', {
      workers: 1,
      tasks: async (n: number) => {
        if (++running === 2) both.resolve();
        await gate.promise;
        return n;
      },
    });
    const first = p.start();
    const second = p.start();
    await first.feed([1, 2, 3]);
    await second.feed([4, 5]);
    await both.promise;
    const collected = await reader.collect();
    const at = { [ATTR.PIPELINE_NAME]: name, [ATTR.STAGE]: 'w' };
    assert.equal(pointValue(collected, 'spanflow.stage.queue.size', at), 3);
    assert.equal(pointValue(collected, 'spanflow.stage.items.in_flight', at), 2);
    assert.equal(pointValue(collected, 'spanflow.stage.workers', { ...at, [ATTR.WORKER_STATE]: 'busy' }), 2);
    assert.equal(pointValue(collected, 'spanflow.stage.workers', { ...at, [ATTR.WORKER_STATE]: 'idle' }), 0);
    gate.resolve();
    assert.equal((await first.join()).status, 'succeeded');
    assert.equal((await second.join()).status, 'succeeded');
  });

  test('a cancelled batch stops reporting gauges too', async () => {
    const name = 'gauge-cancel';
    const p = stages<number>(name).stage('wait', { workers: 1, tasks: async (n: number, { signal }) => {
      await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      return n;
    } });
    const batch = p.start();
    await batch.feed([1, 2]);
    await batch.shutdown();
    const collected = await reader.collect();
    const mine = points(collected, 'spanflow.stage.workers').filter((p) => p.attributes[ATTR.PIPELINE_NAME] === name);
    assert.deepEqual(mine, []);
    assert.equal(pointValue(collected, 'spanflow.runs.active', { [ATTR.PIPELINE_NAME]: name }), 0);
  });
});
