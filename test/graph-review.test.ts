// Review of less-trodden graph paths: run ids, withSteps on every node kind,
// maps with sub-pipeline workers or failing producers, streams under retry,
// sub-pipeline teardown, concurrent runs, thenables, barrier timers.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { collectRun, pipeline, type RunResult, type StepFailedError, StepTimeoutError } from '../sdk/index.ts';
import { latch } from './support.ts';

describe('graph review', () => {
  it('a runId given to run() is the run id of the handle, the result, every event, and the parent of a child run', async () => {
    const child = pipeline('child').step('c', () => 'c');
    const p = pipeline('parent').step('a', ({ runId }) => runId, { to: 'kid' }).sub('kid', child, { state: () => undefined });
    const handle = p.run(undefined, { runId: 'run-42' });
    assert.equal(handle.runId, 'run-42');
    const { result, events } = await collectRun(handle);
    assert.equal(result.status, 'succeeded', result.error?.message);
    assert.equal(result.runId, 'run-42');
    assert.equal(result.outputs.a, 'run-42');
    const childEvents = events.filter((e) => e.pipeline === 'child');
    assert.ok(childEvents.length > 0);
    for (const e of events.filter((e) => e.pipeline === 'parent')) assert.equal(e.runId, 'run-42');
    for (const e of childEvents) {
      assert.equal(e.parentRunId, 'run-42');
      assert.notEqual(e.runId, 'run-42');
    }
  });

  it('withSteps replaces a map producer, a switch decider and a sub-pipeline; the replacement of a sub is its output', async () => {
    const child = pipeline('child').step('c', () => {
      throw new Error('the real child must not run');
    });
    const p = pipeline<{ seen: unknown[] }>('p')
      .map('items', () => [1, 2], { worker: 'double', to: 'pick' })
      .step<number>('double', ({ item }) => item * 2)
      .switch('pick', () => 'real', { routes: { real: 'kid', mock: 'alt' } })
      .sub('kid', child, { state: () => undefined })
      .step('alt', ({ output }) => output('kid'));
    const mocked = p.withSteps({ items: () => [5, 6, 7], pick: () => 'mock' });
    const first = await mocked.run({ seen: [] });
    assert.equal(first.status, 'succeeded', first.error?.message);
    assert.deepEqual(first.outputs.items, [10, 12, 14]);
    assert.equal(first.outputs.pick, 'mock');
    assert.equal('alt' in first.outputs, true);

    const { result, steps } = await collectRun(p.withSteps({ kid: async () => 'mocked child' }).run({ seen: [] }));
    assert.equal(result.status, 'succeeded', result.error?.message);
    assert.equal(result.outputs.kid, 'mocked child');
    assert.ok(steps.includes('kid:succeeded'));
    assert.ok(!steps.includes('c:failed'));
  });

  it('a map whose worker is a sub-pipeline runs one child per item, results in input order', async () => {
    const child = pipeline<{ n: number }>('square').step('sq', ({ state }) => {
      state.n *= state.n;
      return state.n;
    });
    const p = pipeline('p')
      .map('nums', () => [1, 2, 3, 4], { worker: 'each', concurrency: 2 })
      .sub('each', child, { state: ({ item }) => ({ n: Number(item) }) });
    const { result, of } = await collectRun(p.run(undefined));
    assert.equal(result.status, 'succeeded', result.error?.message);
    const outputs = result.outputs.nums as RunResult<{ n: number }>[];
    assert.deepEqual(
      outputs.map((r) => r.state.n),
      [1, 4, 9, 16],
    );
    assert.equal(new Set(of('run_end').filter((e) => e.pipeline === 'square').map((e) => e.runId)).size, 4);
  });

  it('a map whose async producer throws midway fails, and the items in flight are cancelled, not left running', { timeout: 30_000 }, async () => {
    const signals: AbortSignal[] = [];
    const started = latch();
    const p = pipeline('p')
      .map(
        'm',
        async function* () {
          yield 1;
          yield 2;
          await started.promise;
          throw new Error('source broke');
        },
        { worker: 'w', concurrency: 4 },
      )
      .step('w', ({ signal }) => {
        signals.push(signal);
        if (signals.length === 2) started.resolve();
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      });
    const { result, events } = await collectRun(p.run(undefined));
    assert.equal(result.status, 'failed');
    assert.match(String((result.error as StepFailedError).cause), /source broke/);
    assert.equal(signals.length, 2);
    assert.ok(signals.every((s) => s.aborted), 'in-flight workers were never told to stop');
    const last = events.at(-1);
    assert.equal(last?.type, 'run_end');
  });

  it('a switch inside a sub-pipeline routes there, skipping the branch not taken', async () => {
    const child = pipeline<{ q: string }>('child')
      .switch('q', ({ state }) => state.q, { routes: { hi: 'hq', lo: 'lq' } })
      .step('hq', () => 'HQ')
      .step('lq', () => 'LQ');
    const p = pipeline('p').sub('kid', child, { state: () => ({ q: 'lo' }) });
    const { result, steps } = await collectRun(p.run(undefined));
    assert.equal(result.status, 'succeeded', result.error?.message);
    assert.deepEqual((result.outputs.kid as RunResult<unknown>).outputs, { q: 'lo', lq: 'LQ' });
    assert.ok(steps.includes('hq:skipped'));
  });

  it('a streaming step that throws after some tokens fails the attempt; the retry restarts the stream', async () => {
    let attempts = 0;
    const p = pipeline('p').step(
      's',
      async function* ({ attempt }) {
        attempts++;
        yield `a${attempt}`;
        if (attempt === 1) throw new Error('stream broke');
        yield `b${attempt}`;
        return 'done';
      },
      { retry: { attempts: 2, initialDelayMs: 1, jitter: 0 } },
    );
    const { result, of } = await collectRun(p.run(undefined));
    assert.equal(result.status, 'succeeded', result.error?.message);
    assert.equal(result.outputs.s, 'done');
    assert.equal(attempts, 2);
    assert.deepEqual(
      of('token').map((t) => [t.attempt, t.tokenIndex, t.token]),
      [
        [1, 0, 'a1'],
        [2, 0, 'a2'],
        [2, 1, 'b2'],
      ],
    );
    assert.equal(of('step_retry').length, 1);
  });

  it("onError returning 'retry' on a timed-out attempt runs another attempt, which can succeed", async () => {
    const seen: unknown[] = [];
    const p = pipeline('p').step('slow', ({ attempt, signal }) => (attempt === 1 ? new Promise(() => void signal) : 'ok'), {
      timeout: 20,
      onError: (error) => {
        seen.push(error);
        return 'retry';
      },
    });
    const { result, steps } = await collectRun(p.run(undefined));
    assert.equal(result.status, 'succeeded', result.error?.message);
    assert.equal(result.outputs.slow, 'ok');
    assert.ok(seen[0] instanceof StepTimeoutError);
    assert.deepEqual(steps, ['slow:succeeded']);
  });

  it("retryIf returning false on attempt 1 fails at once, and the error handler still gets its say", async () => {
    let calls = 0;
    const p = pipeline('p').step(
      's',
      () => {
        calls++;
        throw new Error('nope');
      },
      { retry: { attempts: 5, initialDelayMs: 1, retryIf: () => false }, onError: () => 'skip' },
    );
    const { result, steps } = await collectRun(p.run(undefined));
    assert.equal(calls, 1);
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(steps, ['s:skipped']);
  });

  it("cancelling a parent mid-child waits for the child's shutdown hooks before the parent result", { timeout: 30_000 }, async () => {
    const order: string[] = [];
    const inChild = latch();
    const child = pipeline('child')
      .onShutdown('release', async () => {
        await sleep(30);
        order.push('child shutdown');
      })
      .step('work', ({ signal }) => {
        inChild.resolve();
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      });
    const p = pipeline('p')
      .onShutdown('parent-release', () => {
        order.push('parent shutdown');
      })
      .sub('kid', child, { state: () => undefined });
    const handle = p.run(undefined);
    await inChild.promise;
    handle.cancel();
    const result = await handle;
    order.push('result');
    assert.equal(result.status, 'cancelled');
    assert.deepEqual(order, ['child shutdown', 'parent shutdown', 'result']);
  });

  it('two runs of one pipeline at once keep their own state and outputs', async () => {
    const gate = latch();
    const p = pipeline<{ name: string }>('p')
      .step('a', async ({ state }) => {
        await gate.promise;
        return `a:${state.name}`;
      }, { to: 'b' })
      .step('b', ({ state, output }) => `${output('a')}/b:${state.name}`);
    const one = p.run({ name: 'one' });
    const two = p.run({ name: 'two' });
    await sleep(5);
    gate.resolve();
    const [r1, r2] = await Promise.all([one, two]);
    assert.deepEqual(r1.outputs, { a: 'a:one', b: 'a:one/b:one' });
    assert.deepEqual(r2.outputs, { a: 'a:two', b: 'a:two/b:two' });
    assert.notEqual(r1.runId, r2.runId);
  });

  it('output() naming an unknown step fails the step with a suggestion', async () => {
    const p = pipeline('p').step('render', () => 1, { to: 'use' }).step('use', ({ output }) => output('rendr'));
    const result = await p.run(undefined);
    assert.equal(result.status, 'failed');
    assert.equal(result.failedNode, 'use');
    assert.match(String((result.error as StepFailedError).cause), /no such step.*Did you mean 'render'/);
  });

  it('a step returning a thenable that is not a Promise is awaited: its value is the output, its rejection fails the step', async () => {
    const thenable = (ok: boolean) => ({
      // biome-ignore lint/suspicious/noThenProperty: testing a non-Promise thenable on purpose.
      then(resolve: (v: unknown) => void, reject: (e: unknown) => void) {
        setTimeout(() => (ok ? resolve('from thenable') : reject(new Error('thenable rejected'))), 1);
      },
    });
    const good = await pipeline('p').step('t', () => thenable(true)).run(undefined);
    assert.equal(good.status, 'succeeded', good.error?.message);
    assert.equal(good.outputs.t, 'from thenable');
    const bad = await pipeline('p').step('t', () => thenable(false)).run(undefined);
    assert.equal(bad.status, 'failed');
    assert.match(String((bad.error as StepFailedError).cause), /thenable rejected/);
  });

  it('a parent failing before a barrier timeout fails the run (not timed_out); the timer never fires later', async () => {
    const events: string[] = [];
    const p = pipeline('p')
      .step('root', () => undefined, { to: ['fast', 'broken'] })
      .step('fast', () => 'f', { to: 'join' })
      .step('broken', async () => {
        await sleep(5);
        throw new Error('broken parent');
      }, { to: 'join' })
      .barrier('join', () => 'joined', { barrierTimeout: 40 });
    const result = await p.run(undefined, { onEvent: (e) => events.push(`${e.type}:${'node' in e ? e.node : ''}:${'status' in e ? e.status : ''}`) });
    assert.equal(result.status, 'failed');
    assert.equal(result.failedNode, 'broken');
    const count = events.length;
    await sleep(80);
    assert.equal(events.length, count, 'an event came after the run ended');
    assert.ok(!events.some((e) => e.startsWith('step_end:join:timed_out')));
  });

  it('maxConcurrency 1 with a map inside: the items do not deadlock against the run limit', { timeout: 30_000 }, async () => {
    const p = pipeline('p', { maxConcurrency: 1 })
      .step('first', () => undefined, { to: 'm' })
      .map('m', () => [1, 2, 3], { worker: 'w', concurrency: 3, to: 'last' })
      .step('w', async ({ item }) => {
        await sleep(1);
        return item;
      })
      .step('last', ({ output }) => output('m'));
    const result = await p.run(undefined);
    assert.equal(result.status, 'succeeded', result.error?.message);
    assert.deepEqual(result.outputs.last, [1, 2, 3]);
  });
});
