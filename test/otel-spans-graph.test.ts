// Graph pipelines as OpenTelemetry spans, read back from an in-memory exporter:
// the exact span tree (names, nesting, key attributes, status, events, links)
// of the showcase and of each case a user reads a trace for — retries,
// timeouts, cancellation, sub-pipelines, barriers, a caller's span, the
// user's own spans, and streamed tokens.
import assert from 'node:assert/strict';
import { before, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Attributes, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { runScenarios, type ScenarioRun } from '../examples/video-render/pipeline.ts';
import { ATTR, configureTelemetry, NODE_KINDS, pipeline } from '../sdk/index.ts';
import { finished, idOf, KEY_ATTRS, lines, reset, spansNamed, tree } from './otel-support.ts';
import { HANG_GUARD } from './support.ts';

class Flaky extends Error {
  override name = 'Flaky';
}

const one = (spans: ReadableSpan[], name: string): ReadableSpan => {
  const found = spans.filter((s) => s.name === name);
  assert.equal(found.length, 1, `one span named ${name}`);
  return found[0] as ReadableSpan;
};
const eventsOf = (span: ReadableSpan, name: string): Attributes[] => span.events.filter((e) => e.name === name).map((e) => e.attributes ?? {});

describe('the video-render showcase as spans', () => {
  let runs: ScenarioRun[] = [];
  let spans: ReadableSpan[] = [];
  let roots: ReadableSpan[] = [];
  const attrs = [ATTR.NODE_KIND, ...KEY_ATTRS];
  const scenario = (i: number) => ({ spans, attrs, from: (s: ReadableSpan) => s === roots[i] });

  before(async () => {
    await reset();
    runs = await runScenarios();
    spans = await finished();
    roots = spans.filter((s) => s.name === 'pipeline video-render');
  }, HANG_GUARD);

  test('each scenario is one trace: its run span the root, every span of the trace in its tree', HANG_GUARD, async () => {
    assert.deepEqual(roots.map((s) => [s.attributes[ATTR.RUN_ID], s.parentSpanContext]), runs.map((r) => [r.result.runId, undefined]));
    for (const [i, root] of roots.entries()) {
      const inTrace = spans.filter((s) => s.spanContext().traceId === root.spanContext().traceId);
      assert.equal((await tree(scenario(i))).split('\n').length, inTrace.length);
    }
  });

  test('the quick promo: the full tree, every node kind, the branches not taken as events', HANG_GUARD, async () => {
    // The ANY barrier takes whichever fetch arrived first: the CDN's, unless a loaded machine held it back.
    const first = runs[0]?.result.metrics.barriers.normalize?.arrived[0];
    assert.ok(first === 'fetch-cdn' || first === 'fetch-origin', String(first));
    assert.equal(
      await tree(scenario(0)),
      lines(
        'pipeline video-render [result=success] {queued×4, barrier.release, queued×3, barrier.wait, barrier.release, queued×2, step.skipped, queued, step.skipped, barrier.release, queued×3}',
        // The startup hook starts a render thread: the hook's code runs with its span current.
        '  hook warm-gpu-pool [hook.phase=startup]',
        '    worker renderFrames',
        '      encode frames',
        '  step accept [node.kind=step, attempt=1, task.run.result=success]',
        '  step validate [node.kind=step, attempt=1, task.run.result=success]',
        '  step fetch-cdn [node.kind=step, attempt=1, task.run.result=success]',
        '  step fetch-origin [node.kind=step, attempt=1, task.run.result=success]',
        `  step normalize [node.kind=barrier, attempt=1, task.run.result=success] -> step ${first}`,
        '  step extract [node.kind=map, attempt=1, task.run.result=success] {map_start, map_end}',
        '    step analyze [node.kind=step, map.index=0, attempt=1, task.run.result=success]',
        '    step analyze [node.kind=step, map.index=1, attempt=1, task.run.result=success]',
        '    step analyze [node.kind=step, map.index=2, attempt=1, task.run.result=success]',
        '    step analyze [node.kind=step, map.index=3, attempt=1, task.run.result=success]',
        '  step mix-audio [node.kind=step, attempt=1, task.run.result=success]',
        '  step merge [node.kind=barrier, attempt=1, task.run.result=success] -> step extract, step mix-audio',
        '  step quality [node.kind=switch, attempt=1, task.run.result=success] {route}',
        '  step render-farm-fast [node.kind=sub, attempt=1, task.run.result=success]',
        '    pipeline render-farm [result=success] {queued×3}',
        '      step allocate-gpu [node.kind=step, attempt=1, task.run.result=success]',
        '      step render-frames [node.kind=step, attempt=1, task.run.result=success]',
        // The frames are rendered on a worker thread: its task span, and the span its code made there.
        '        worker renderFrames',
        '          encode frames',
        '      step release-gpu [node.kind=step, attempt=1, task.run.result=success]',
        '  step composite [node.kind=barrier, attempt=1, task.run.result=success] -> step render-farm-fast',
        '  step preview [node.kind=step, attempt=1, task.run.result=success] {token×8}',
        '  step deliver [node.kind=step, attempt=1, task.run.result=success]',
        '  hook release-gpu-pool [hook.phase=shutdown]',
      ),
    );
    const promo = spans.filter((s) => s.spanContext().traceId === roots[0]?.spanContext().traceId);
    assert.deepEqual(new Set(promo.map((s) => s.attributes[ATTR.NODE_KIND]).filter(Boolean)), new Set(NODE_KINDS));
    const runId = runs[0]?.result.runId;
    const analyze = promo.filter((s) => s.name === 'step analyze')[2] as ReadableSpan;
    assert.deepEqual(analyze.attributes, {
      [ATTR.PIPELINE_NAME]: 'video-render',
      [ATTR.RUN_ID]: runId,
      [ATTR.TASK_NAME]: 'analyze',
      [ATTR.TASK_RUN_ID]: `${runId}/analyze[2]/1`,
      [ATTR.NODE_KIND]: 'step',
      [ATTR.ATTEMPT]: 1,
      [ATTR.MAP_INDEX]: 2,
      [ATTR.TASK_RESULT]: 'success',
    });
    assert.deepEqual(eventsOf(one(promo, 'step quality'), 'spanflow.route'), [{ [ATTR.ROUTE]: 'low', 'spanflow.route.targets': ['render-farm-fast'] }]);
    assert.deepEqual(eventsOf(roots[0] as ReadableSpan, 'spanflow.step.skipped'), [
      { [ATTR.TASK_NAME]: 'render-farm-hq' },
      { [ATTR.TASK_NAME]: 'render-farm-rush' },
    ]);
    const child = one(promo, 'pipeline render-farm');
    assert.equal(child.attributes[ATTR.PARENT_RUN_ID], runId);
    assert.notEqual(child.attributes[ATTR.RUN_ID], runId);
  });

  test('the feature film: the flaky scene has a failed attempt span, then a second one', HANG_GUARD, async () => {
    const [extract, ...analyses] = (
      await tree({ ...scenario(1), from: (s) => s.name === 'step extract' && s.spanContext().traceId === roots[1]?.spanContext().traceId })
    ).split('\n');
    assert.equal(extract, 'step extract [node.kind=map, attempt=1, task.run.result=success] {map_start, map_end}');
    // Where the retry lands among the other scenes depends on the machine; that it comes after the failure does not.
    const retried = (attempt: number) => analyses.findIndex((l) => l.includes('map.index=5') && l.includes(`attempt=${attempt},`));
    assert.ok(retried(1) >= 0 && retried(2) > retried(1), analyses.join('\n'));
    assert.deepEqual(
      analyses.toSorted(),
      lines(
        '  step analyze [node.kind=step, map.index=0, attempt=1, task.run.result=success]',
        '  step analyze [node.kind=step, map.index=1, attempt=1, task.run.result=success]',
        '  step analyze [node.kind=step, map.index=2, attempt=1, task.run.result=success]',
        '  step analyze [node.kind=step, map.index=3, attempt=1, task.run.result=success]',
        '  step analyze [node.kind=step, map.index=4, attempt=1, task.run.result=success]',
        '  step analyze [node.kind=step, map.index=5, attempt=1, task.run.result=failure, error.type=TransientError] ERROR {retrying, exception}',
        '  step analyze [node.kind=step, map.index=6, attempt=1, task.run.result=success]',
        '  step analyze [node.kind=step, map.index=7, attempt=1, task.run.result=success]',
        '  step analyze [node.kind=step, map.index=5, attempt=2, task.run.result=success]',
      )
        .split('\n')
        .toSorted(),
    );
    // The high-quality render, on the regular farm.
    const tree1 = await tree(scenario(1));
    assert.ok(tree1.startsWith('pipeline video-render [result=success'));
    assert.match(tree1, /\n {2}step render-farm-hq \[node.kind=sub, attempt=1, task.run.result=success.*\n {4}pipeline render-farm \[result=success/);
    assert.doesNotMatch(tree1, /step render-farm-(fast|rush)/);
    assert.deepEqual(eventsOf(roots[1] as ReadableSpan, 'spanflow.step.skipped'), [
      { [ATTR.TASK_NAME]: 'render-farm-fast' },
      { [ATTR.TASK_NAME]: 'render-farm-rush' },
    ]);
  });

  test('the deadline crunch: render-frames times out on the rush farm, and so do its sub step and both runs', HANG_GUARD, async () => {
    const crunch = (await tree(scenario(2))).split('\n');
    assert.equal(
      crunch[0],
      'pipeline video-render [result=timeout, error.type=StepTimeoutError] ERROR {queued×4, barrier.release, queued×3, barrier.wait, barrier.release, queued×2, step.skipped×2, queued, exception}',
    );
    assert.deepEqual(crunch.slice(-6), [
      '  step render-farm-rush [node.kind=sub, attempt=1, task.run.result=timeout, error.type=StepTimeoutError] ERROR {exception}',
      '    pipeline rush-farm [result=timeout, error.type=StepTimeoutError] ERROR {queued×2, exception}',
      '      step allocate-gpu [node.kind=step, attempt=1, task.run.result=success]',
      '      step render-frames [node.kind=step, attempt=1, task.run.result=timeout, error.type=StepTimeoutError] ERROR {exception}',
      // The timeout stopped the render on its thread: the task span ends with it; the worker's own span died with the thread.
      '        worker renderFrames [error.type=StepTimeoutError] ERROR {exception}',
      '  hook release-gpu-pool [hook.phase=shutdown]',
    ]);
    const frames = spans.filter((s) => s.name === 'step render-frames').at(-1) as ReadableSpan;
    assert.equal(frames.status.message, "step 'render-frames' timed out after 400 ms");
    assert.deepEqual(eventsOf(frames, 'exception').map((a) => a['exception.type']), ['StepTimeoutError']);
  });
});

describe('spans of one run', { timeout: 10_000 }, () => {
  beforeEach(reset);

  test('with an SDK registered, a step that returns nothing still runs once per attempt', async () => {
    const calls: string[] = [];
    const p = pipeline('once')
      .step('a', () => void calls.push('a'), { to: 'm' })
      .map('m', () => [0, 1], { worker: 'w' })
      .step('w', ({ item }) => void calls.push(`w${item}`));
    assert.equal((await p.run(undefined)).status, 'succeeded');
    assert.deepEqual(calls, ['a', 'w0', 'w1']);
    assert.equal((await spansNamed('step w')).length, 2);
  });

  /** Fails its first two attempts: succeeds on the third, if it has one. */
  const fetcher = (name: string, attempts: number) =>
    pipeline(name).step(
      'fetch',
      ({ attempt }) => {
        if (attempt < 3) throw new Flaky(`try ${attempt}`);
      },
      { retry: { attempts, initialDelayMs: 1, jitter: 0 } },
    );

  test('retries: one span per attempt; the failed ones ERROR with a retrying and an exception event', async () => {
    assert.equal((await fetcher('retries', 3).run(undefined)).status, 'succeeded');
    assert.equal(
      await tree(),
      lines(
        'pipeline retries [result=success] {queued}',
        '  step fetch [attempt=1, task.run.result=failure, error.type=Flaky] ERROR {retrying, exception}',
        '  step fetch [attempt=2, task.run.result=failure, error.type=Flaky] ERROR {retrying, exception}',
        '  step fetch [attempt=3, task.run.result=success]',
      ),
    );
    const first = (await spansNamed('step fetch'))[0] as ReadableSpan;
    assert.deepEqual(eventsOf(first, 'spanflow.retrying'), [{ [ATTR.ATTEMPT]: 1, [ATTR.ERROR_TYPE]: 'Flaky', 'spanflow.retry.delay_ms': 1 }]);
    assert.deepEqual(eventsOf(first, 'exception').map((a) => [a['exception.type'], a['exception.message']]), [['Flaky', 'try 1']]);
  });

  test('exhausted retries: every attempt ERROR, the run failed with StepFailedError', async () => {
    assert.equal((await fetcher('exhausted', 2).run(undefined)).status, 'failed');
    assert.equal(
      await tree(),
      lines(
        'pipeline exhausted [result=failure, error.type=StepFailedError] ERROR {queued, exception}',
        '  step fetch [attempt=1, task.run.result=failure, error.type=Flaky] ERROR {retrying, exception}',
        '  step fetch [attempt=2, task.run.result=failure, error.type=Flaky] ERROR {exception}',
      ),
    );
  });

  test('a failed startup hook: its span and the run span ERROR with error.type, no step started', async () => {
    const p = pipeline('hooked')
      .onStartup('warm', () => {
        throw new Error('no gpu');
      })
      .step('a', () => {});
    assert.equal((await p.run(undefined)).status, 'failed');
    assert.equal(
      await tree(),
      lines('pipeline hooked [result=failure, error.type=HookError] ERROR {exception}', '  hook warm [hook.phase=startup, error.type=HookError] ERROR {exception}'),
    );
  });

  test('a step timeout: the attempt span and the run span are ERROR with result timeout', async () => {
    const slow = pipeline('slow')
      .step('a', () => {}, { to: 'b' })
      .step('b', () => new Promise(() => {}), { timeout: 20 });
    assert.equal((await slow.run(undefined)).status, 'timed_out');
    assert.equal(
      await tree(),
      lines(
        'pipeline slow [result=timeout, error.type=StepTimeoutError] ERROR {queued×2, exception}',
        '  step a [attempt=1, task.run.result=success]',
        '  step b [attempt=1, task.run.result=timeout, error.type=StepTimeoutError] ERROR {exception}',
      ),
    );
  });

  test('cancellation mid-step: the step span and the run span end with result cancellation', async () => {
    const controller = new AbortController();
    const entered = Promise.withResolvers<void>();
    const handle = pipeline('cancel')
      .step('a', () => {}, { to: 'b' })
      .step('b', ({ signal }) => {
        entered.resolve();
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      }, { to: 'c' })
      .step('c', () => {})
      .run(undefined, { signal: controller.signal });
    await entered.promise;
    controller.abort(new Error('user gave up'));
    assert.equal((await handle).status, 'cancelled');
    assert.equal(
      await tree(),
      lines(
        'pipeline cancel [result=cancellation, error.type=CancelledError] ERROR {queued×2, exception}',
        '  step a [attempt=1, task.run.result=success]',
        '  step b [attempt=1, task.run.result=cancellation, error.type=CancelledError] ERROR {exception}',
      ),
    );
  });

  test('a sub-pipeline: its run span under the sub step span, its steps under it, the parent run id on it', async () => {
    const child = pipeline<{ n: number }>('child')
      .step('x', ({ state }) => void state.n++, { to: 'y' })
      .step('y', () => {});
    const result = await pipeline('parent').sub('call', child, { state: () => ({ n: 0 }), to: 'after' }).step('after', () => {}).run(undefined);
    assert.equal(
      await tree(),
      lines(
        'pipeline parent [result=success] {queued×2}',
        '  step call [attempt=1, task.run.result=success]',
        '    pipeline child [result=success] {queued×2}',
        '      step x [attempt=1, task.run.result=success]',
        '      step y [attempt=1, task.run.result=success]',
        '  step after [attempt=1, task.run.result=success]',
      ),
    );
    const spans = await finished();
    assert.equal(one(spans, 'pipeline child').attributes[ATTR.PARENT_RUN_ID], result.runId);
    assert.equal(one(spans, 'pipeline parent').attributes[ATTR.PARENT_RUN_ID], undefined);
    assert.equal(new Set(spans.map((s) => s.spanContext().traceId)).size, 1);
  });

  test('an ALL barrier links to both parents\' attempt spans; an ANY barrier only to the first arrival', async () => {
    // In the ANY case, left finishes only once the barrier has run: right is the first arrival.
    const fork = (mode: 'all' | 'any') => {
      const joined = Promise.withResolvers<void>();
      return pipeline(mode)
        .step('start', () => {}, { to: ['left', 'right'] })
        .step('left', () => (mode === 'any' ? joined.promise : undefined), { to: 'join' })
        .step('right', () => {}, { to: 'join' })
        .barrier('join', () => joined.resolve(), { mode });
    };
    await fork('all').run(undefined);
    let spans = await finished();
    const all = one(spans, 'step join');
    assert.deepEqual(all.links.map((l) => l.context.spanId).toSorted(), [idOf(one(spans, 'step left')), idOf(one(spans, 'step right'))].toSorted());
    assert.deepEqual(all.links.map((l) => l.attributes?.[ATTR.TASK_NAME]).toSorted(), ['left', 'right']);

    await reset();
    await fork('any').run(undefined);
    spans = await finished();
    assert.deepEqual(one(spans, 'step join').links.map((l) => [l.context.spanId, l.attributes?.[ATTR.TASK_NAME]]), [[idOf(one(spans, 'step right')), 'right']]);
    assert.equal(
      await tree(),
      lines(
        'pipeline any [result=success] {queued×3, barrier.release, queued}',
        '  step start [attempt=1, task.run.result=success]',
        '  step left [attempt=1, task.run.result=success]',
        '  step right [attempt=1, task.run.result=success]',
        '  step join [attempt=1, task.run.result=success] -> step right',
      ),
    );
  });

  test('a run inside a caller\'s span nests under it; user spans nest under the step and map worker attempts', async () => {
    const user = trace.getTracer('user');
    const p = pipeline('in-request')
      .step('a', () => user.startActiveSpan('db query', async (span) => {
        await sleep(1);
        span.end();
      }), { to: 'm' })
      .map('m', () => [1, 2], { worker: 'w' })
      .step('w', ({ item }) => user.startActiveSpan(`fetch ${item}`, (span) => span.end()));
    await user.startActiveSpan('http request', async (span) => {
      await p.run(undefined);
      span.end();
    });
    assert.equal(
      await tree(),
      lines(
        'http request',
        '  pipeline in-request [result=success] {queued×2}',
        '    step a [attempt=1, task.run.result=success]',
        '      db query',
        '    step m [attempt=1, task.run.result=success] {map_start, map_end}',
        '      step w [map.index=0, attempt=1, task.run.result=success]',
        '        fetch 1',
        '      step w [map.index=1, attempt=1, task.run.result=success]',
        '        fetch 2',
      ),
    );
    const spans = await finished();
    assert.equal(one(spans, 'pipeline in-request').parentSpanContext?.spanId, idOf(one(spans, 'http request')));
    assert.equal(new Set(spans.map((s) => s.spanContext().traceId)).size, 1);
  });
});

describe('streamed tokens on the step span', { timeout: 10_000 }, () => {
  beforeEach(reset);
  const streaming = pipeline('stream').step('p', async function* () {
    yield 'secret-1';
    yield { secret: 2 };
    return 'done';
  });

  test('one spanflow.token event per token, with its count and no content by default', async () => {
    await streaming.run(undefined);
    assert.equal(await tree(), lines('pipeline stream [result=success] {queued}', '  step p [attempt=1, task.run.result=success] {token×2}'));
    assert.deepEqual(eventsOf(one(await finished(), 'step p'), 'spanflow.token'), [{ [ATTR.TOKEN_COUNT]: 1 }, { [ATTR.TOKEN_COUNT]: 2 }]);
  });

  test('with payloads on, the content goes through redact first', async () => {
    configureTelemetry({ payloads: true, redact: (value) => JSON.stringify(value).replaceAll('secret', '***') });
    try {
      await streaming.run(undefined);
    } finally {
      configureTelemetry({});
    }
    assert.deepEqual(eventsOf(one(await finished(), 'step p'), 'spanflow.token'), [
      { [ATTR.TOKEN_COUNT]: 1, [ATTR.TOKEN]: '"***-1"' },
      { [ATTR.TOKEN_COUNT]: 2, [ATTR.TOKEN]: '{"***":2}' },
    ]);
  });
});
