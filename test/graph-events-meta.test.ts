// The meta protocol (step, run, pipeline scopes), the event stream
// (ordering, fields, tokens, backpressure, early exit, late attach,
// onEvent) and the test helpers (collectRun, withSteps).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { collectRun, DefinitionError, pipeline, type SpanflowEvent, type StepLatency } from '../sdk/index.ts';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

function simple() {
  return pipeline<{ n: number }>('simple', { meta: { version: '2.1', team: 'media' } })
    .step('a', ({ state }) => ++state.n, { to: 'b' })
    .step('b', ({ state }) => ++state.n);
}

async function* letters(count: number, onYield?: () => void) {
  for (let i = 0; i < count; i++) {
    onYield?.();
    yield `t${i}`;
  }
  return 'all done';
}

describe('meta', () => {
  test("step scope (set, get, tag, metric, count) lands on that step's step_end", async () => {
    let read: unknown;
    const p = pipeline('step-meta')
      .step('fetch', ({ meta }) => {
        meta.step.set('url', 'https://cdn.example/x').tag('cdn', 'cold').metric('bytes', 100).metric('bytes', 250);
        meta.step.count('hits');
        meta.step.count('hits', 2);
        read = meta.step.get('url');
      }, { to: 'other' })
      .step('other', () => {});
    const { of } = await collectRun(p.run(undefined));

    assert.equal(read, 'https://cdn.example/x');
    const [fetch, other] = of('step_end');
    assert.deepEqual(fetch?.meta, {
      data: { url: 'https://cdn.example/x' },
      tags: ['cdn', 'cold'],
      metrics: { bytes: [100, 250] },
      counters: { hits: 3 },
    });
    assert.deepEqual(other?.meta, { data: {}, tags: [], metrics: {}, counters: {} });
  });

  test('run scope lands on run_end and result.meta; hooks can write it', async () => {
    const p = pipeline('run-meta')
      .onStartup('pool', ({ meta }) => {
        meta.run.set('gpuPool', 'warm');
      })
      .onShutdown('report', ({ meta }) => {
        meta.run.tag('reported');
      })
      .step('a', ({ meta }) => {
        meta.run.count('frames', 24);
        meta.run.metric('fps', 29.97);
      }, { to: 'b' })
      .step('b', ({ meta }) => {
        meta.run.count('frames', 24);
        meta.run.set('seenPool', meta.run.get('gpuPool'));
      });
    const { result, of } = await collectRun(p.run(undefined));

    const expected = {
      data: { gpuPool: 'warm', seenPool: 'warm' },
      tags: ['reported'],
      metrics: { fps: [29.97] },
      counters: { frames: 48 },
    };
    assert.deepEqual(result.meta, expected);
    assert.deepEqual(of('run_end')[0]?.meta, expected);
  });

  test('pipeline meta comes from the definition and is read-only', async () => {
    let seen: unknown;
    let writeError: unknown;
    const p = pipeline('pipe-meta', { meta: { version: '2.1', team: 'media' } }).step('a', ({ meta }) => {
      seen = { ...meta.pipeline };
      try {
        (meta.pipeline as Record<string, unknown>).version = 'hacked';
      } catch (error) {
        writeError = error;
      }
    });
    const { of } = await collectRun(p.run(undefined));

    assert.deepEqual(seen, { version: '2.1', team: 'media' });
    assert.ok(writeError instanceof TypeError);
    assert.deepEqual(of('run_start')[0]?.pipelineMeta, { version: '2.1', team: 'media' });
  });
});

describe('event stream', () => {
  test('for await yields every event, then handle.result holds the result', async () => {
    const handle = simple().run({ n: 0 });
    const events: SpanflowEvent[] = [];
    for await (const event of handle) events.push(event);
    const result = await handle.result;

    assert.equal(result.status, 'succeeded');
    assert.equal(result.state.n, 2);
    assert.deepEqual(events.map((e) => e.type), [
      'run_queued',
      'run_start',
      'step_queued',
      'step_start',
      'step_end',
      'step_queued',
      'step_start',
      'step_end',
      'run_end',
    ]);
  });

  test('every event carries the run id, pipeline, numeric time and a seq counting from 1', async () => {
    const { events, result } = await collectRun(simple().run({ n: 0 }, { runId: 'run-7' }));
    assert.deepEqual(events.map((e) => e.seq), events.map((_e, i) => i + 1));
    for (const event of events) {
      assert.equal(event.runId, 'run-7');
      assert.equal(event.pipeline, 'simple');
      assert.equal(event.parentRunId, undefined);
      assert.equal(typeof event.time, 'number');
      assert.ok(Number.isFinite(event.time));
      if (event.type === 'step_start' || event.type === 'step_end') {
        assert.ok(['a', 'b'].includes(event.node));
        assert.equal(event.nodeKind, 'step');
        assert.equal(event.attempt, 1);
      }
    }
    assert.equal(result.runId, 'run-7');
  });

  test('run_end carries metrics: per-step latency and tokens', async () => {
    const p = pipeline('metrics').step('talk', () => letters(3), { to: 'after' }).step('after', () => 'x');
    const { result, of } = await collectRun(p.run(undefined));
    const metrics = of('run_end')[0]?.metrics;

    assert.deepEqual(metrics, result.metrics);
    assert.deepEqual(metrics?.tokens, { talk: 3 });
    for (const name of ['talk', 'after']) {
      const step: StepLatency | undefined = metrics?.steps[name];
      assert.equal(step?.attempts, 1);
      assert.equal(step?.succeeded, 1);
      assert.equal(step?.failed, 0);
      assert.ok(typeof step?.totalMs === 'number' && step.totalMs >= 0);
      assert.ok(typeof step?.maxMs === 'number' && step.maxMs >= 0 && step.maxMs <= step.totalMs);
    }
    assert.equal(typeof metrics?.peakQueueDepth, 'number');
  });

  test('a streaming step emits its yields as token events, in order; its return is its output', async () => {
    const p = pipeline('stream').step('preview', async function* () {
      yield 'frame-1';
      yield 'frame-2';
      yield 'frame-3';
      return 'preview.mp4';
    });
    const { result, of } = await collectRun(p.run(undefined));
    const tokens = of('token');

    assert.deepEqual(tokens.map((e) => [e.tokenIndex, e.token]), [[0, 'frame-1'], [1, 'frame-2'], [2, 'frame-3']]);
    for (const token of tokens) assert.deepEqual([token.node, token.nodeKind, token.attempt], ['preview', 'step', 1]);
    assert.equal(result.outputs.preview, 'preview.mp4');
  });

  test('a slow reader holds a streaming step back (eventBuffer)', async () => {
    let yielded = 0;
    let received = 0;
    let maxAhead = 0;
    const p = pipeline('backpressure').step('chat', () => letters(50, () => yielded++));
    const handle = p.run(undefined, { eventBuffer: 2 });
    for await (const event of handle) {
      if (event.type !== 'token') continue;
      received++;
      maxAhead = Math.max(maxAhead, yielded - received);
      await tick();
      await tick();
    }
    assert.equal((await handle).status, 'succeeded');
    assert.equal(received, 50);
    assert.ok(maxAhead <= 3, `the producer ran ${maxAhead} tokens ahead of the reader`);
  });

  test('breaking out of for await early does not hang the run', { timeout: 30_000 }, async () => {
    const p = pipeline('early-exit').step('chat', () => letters(100), { to: 'after' }).step('after', () => 'done');
    const handle = p.run(undefined, { eventBuffer: 2 });
    for await (const event of handle) if (event.type === 'token') break;
    const result = await handle.result;
    assert.equal(result.status, 'succeeded');
    assert.equal(result.outputs.chat, 'all done');
    assert.equal(result.outputs.after, 'done');
  });

  test('attaching an iterator after the run emitted its first event throws a clear error', async () => {
    const handle = simple().run({ n: 0 });
    await tick();
    assert.throws(() => handle[Symbol.asyncIterator](), /already emitted events.*iterate the handle right after run\(\)/);
    assert.equal((await handle).status, 'succeeded');
  });

  test('onEvent receives the same events as the iterator', async () => {
    const heard: SpanflowEvent[] = [];
    const { events } = await collectRun(simple().run({ n: 0 }, { onEvent: (event) => heard.push(event) }));
    assert.equal(events.length, 9);
    assert.deepEqual(heard, events);
  });

  test('onEvent alone (no iterator) still sees every event', async () => {
    const heard: SpanflowEvent[] = [];
    const result = await simple().run({ n: 0 }, { onEvent: (event) => heard.push(event) });
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(heard.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('a throwing onEvent listener does not break the run; it is reported as a warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const { result, events } = await collectRun(
        simple().run({ n: 0 }, {
          // Throws at the run's start, in the middle and at its end (each throw prints one warning).
          onEvent: (event) => {
            if (event.type === 'run_queued' || event.type === 'step_end' || event.type === 'run_end') throw new Error('listener bug');
          },
        }),
      );
      // Warnings are emitted on a later tick: give them a few turns to arrive.
      const ours = () => warnings.filter((w) => w.message === 'an event listener threw: listener bug');
      for (let turn = 0; turn < 50 && ours().length < 4; turn++) await tick();
      assert.equal(result.status, 'succeeded');
      assert.equal(events.length, 9);
      assert.equal(ours().length, 4);
      assert.ok(ours().every((w) => w.name === 'SpanflowListenerWarning'));
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('test helpers', () => {
  test('collectRun gives the result, the events, a step trace and events by type', async () => {
    const collected = await collectRun(simple().run({ n: 0 }));
    assert.equal(collected.result.status, 'succeeded');
    assert.equal(collected.events.at(-1)?.type, 'run_end');
    assert.deepEqual(collected.steps, ['a:succeeded', 'b:succeeded']);
    assert.deepEqual(collected.of('step_start').map((e) => e.node), ['a', 'b']);
    assert.ok(collected.of('step_end').every((e) => e.type === 'step_end'));
  });

  test('withSteps replaces a step function and leaves the original pipeline unchanged', async () => {
    const original = simple();
    const mocked = original.withSteps({ a: () => 'mocked' });

    const fromMock = await mocked.run({ n: 0 });
    assert.equal(fromMock.outputs.a, 'mocked');
    assert.equal(fromMock.outputs.b, 1);
    const fromOriginal = await original.run({ n: 0 });
    assert.equal(fromOriginal.outputs.a, 1);
    assert.equal(fromOriginal.outputs.b, 2);
  });

  test('withSteps with an unknown step name throws a DefinitionError with a suggestion', () => {
    assert.throws(
      () => simple().withSteps({ aa: () => 'x' }),
      (error: unknown) => error instanceof DefinitionError && /no step named 'aa'.*Did you mean 'a'/.test(error.message),
    );
  });
});
