// Steps, fan-out and joins; switches choosing a branch; barriers joining
// branches (ALL, ANY, behind a switch, with a timeout).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BarrierTimeoutError, collectRun, pipeline, RouteError, STOP, StepFailedError, type SpanflowEvent } from '../sdk/index.ts';

const noop = () => undefined;
/** A run timeout used only as a hang guard: a run that hangs ends timed_out, and its status assertion fails. */
const HANG_GUARD_MS = 30_000;

describe('steps and fan-out', () => {
  it('runs steps in order along their edges and keeps each output', async () => {
    const p = pipeline<{ log: string[] }>('chain')
      .step('a', ({ state }) => state.log.push('a') && 'A', { to: 'b' })
      .step('b', ({ state, output }) => {
        state.log.push('b');
        return `${output<string>('a')}B`;
      });
    const { result, steps } = await collectRun(p.run({ log: [] }));
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(result.state.log, ['a', 'b']);
    assert.deepEqual(result.outputs, { a: 'A', b: 'AB' });
    assert.deepEqual(steps, ['a:succeeded', 'b:succeeded']);
  });

  it('runs fan-out targets concurrently', async () => {
    // Each branch waits until both have started: only concurrent branches get past it.
    let started = 0;
    const both = Promise.withResolvers<void>();
    const branch = async () => {
      if (++started === 2) both.resolve();
      await both.promise;
    };
    const p = pipeline('fan-out').step('start', noop, { to: ['left', 'right'] }).step('left', branch).step('right', branch);
    const result = await p.run(undefined, { timeout: HANG_GUARD_MS });
    assert.equal(result.status, 'succeeded', result.error?.message);
    assert.equal(started, 2);
  });

  it('runs a plain step with several parents once, after all of them', async () => {
    const log: string[] = [];
    const gate = Promise.withResolvers<void>();
    const p = pipeline('implicit-join')
      .step('start', noop, { to: ['fast', 'slow'] })
      .step('fast', () => {
        log.push('fast');
        gate.resolve();
      }, { to: 'join' })
      .step('slow', async () => {
        await gate.promise;
        await sleep(5);
        log.push('slow');
      }, { to: 'join' })
      .step('join', () => {
        log.push('join');
      });
    const { result, of } = await collectRun(p.run(undefined));
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(log, ['fast', 'slow', 'join']);
    assert.equal(of('step_start').filter((e) => e.node === 'join').length, 1);
  });
});

describe('switch', () => {
  const routed = (decide: () => string | typeof STOP) =>
    pipeline('route')
      .switch('quality', decide, { routes: { high: 'hq', low: 'lq', none: STOP } })
      .step('hq', () => 'hq-done', { to: 'publish' })
      .step('lq', () => 'lq-done')
      .step('publish', () => 'published');

  it('routes by its table: the chosen branch runs, the others are skipped as not reached', async () => {
    const { result, of } = await collectRun(routed(() => 'low').run(undefined));
    assert.equal(result.status, 'succeeded');
    assert.equal(result.outputs.quality, 'low');
    assert.equal(result.outputs.lq, 'lq-done');
    const ends = new Map(of('step_end').map((e) => [e.node, e]));
    assert.equal(ends.get('lq')?.status, 'succeeded');
    assert.equal(ends.get('hq')?.status, 'skipped');
    assert.equal(ends.get('hq')?.skipReason, 'not-reached');
    assert.equal(ends.get('publish')?.status, 'skipped', 'a skipped step skips its successors');
    assert.deepEqual(
      of('route').map((e) => [e.route, e.targets]),
      [['low', ['lq']]],
    );
  });

  it('routes by a function returning the name of one of its targets', async () => {
    const p = pipeline<{ size: number }>('by-name')
      .switch('size', ({ state }) => (state.size > 10 ? 'big' : 'small'), { to: ['big', 'small'] })
      .step('big', () => 'B')
      .step('small', () => 'S');
    const { result, steps } = await collectRun(p.run({ size: 42 }));
    assert.equal(result.status, 'succeeded');
    assert.equal(result.outputs.big, 'B');
    assert.ok(steps.includes('small:skipped'));
  });

  it('takes the default route for a route missing from its table', async () => {
    const p = pipeline('default')
      .switch('quality', () => 'medium', { routes: { high: 'hq' }, default: 'lq' })
      .step('hq', noop)
      .step('lq', () => 'fallback');
    const { result, of } = await collectRun(p.run(undefined));
    assert.equal(result.status, 'succeeded');
    assert.equal(result.outputs.lq, 'fallback');
    assert.deepEqual(of('route').map((e) => [e.route, e.targets]), [['medium', ['lq']]]);
  });

  const stops: [string, () => string | typeof STOP][] = [
    ['a route mapped to STOP', () => 'none'],
    ['returning STOP', () => STOP],
  ];
  for (const [how, decide] of stops) {
    it(`ends the branch on ${how}: successors are not reached and the run succeeds`, async () => {
      const { result, of } = await collectRun(routed(decide).run(undefined));
      assert.equal(result.status, 'succeeded');
      const skipped = of('step_end').filter((e) => e.status === 'skipped');
      assert.deepEqual(skipped.map((e) => e.node).sort(), ['hq', 'lq', 'publish']);
      assert.ok(skipped.every((e) => e.skipReason === 'not-reached'));
      assert.deepEqual(of('route').map((e) => e.targets), [[]]);
    });
  }

  it('fails the run on a route it does not know, suggesting the closest one', async () => {
    const { result, of } = await collectRun(routed(() => 'hihg').run(undefined));
    assert.equal(result.status, 'failed');
    assert.equal(result.failedNode, 'quality');
    assert.ok(result.error instanceof StepFailedError);
    assert.ok(result.error.cause instanceof RouteError);
    assert.match(result.error.message, /returned route 'hihg', which is not one of its routes \(high, low, none\)/);
    assert.match(result.error.message, /Did you mean 'high'\?/);
    assert.equal(of('step_start').filter((e) => e.node !== 'quality').length, 0);
  });

  it('does not retry an unknown route, whatever the retry policy: the same state picks the same route', async () => {
    const p = pipeline('retrying-switch')
      .switch('pick', () => 'nowhere', { routes: { a: 'a' }, retry: { attempts: 5, initialDelayMs: 1 } })
      .step('a', () => undefined);
    const { result, of } = await collectRun(p.run(undefined));
    assert.equal(result.status, 'failed');
    assert.equal(of('step_start').length, 1);
    assert.equal(of('step_retry').length, 0);
  });
});

/** A fan-out into two parents of `join`, whose slow parent waits for `slowGate`. */
function twoParents(mode: 'all' | 'any', slowGate: () => Promise<unknown>, log: string[], barrierTimeout?: number) {
  return pipeline('join')
    .step('start', noop, { to: ['fast', 'slow'] })
    .step('fast', () => void log.push('fast'), { to: 'join' })
    .step('slow', async () => {
      await slowGate();
      log.push('slow');
    }, { to: 'join' })
    .barrier('join', () => void log.push('join'), { mode, barrierTimeout, to: 'after' })
    .step('after', () => void log.push('after'));
}

describe('barrier', () => {
  it('ALL waits for every parent, reporting who arrived and who it waits for', async () => {
    const log: string[] = [];
    const waited = Promise.withResolvers<void>();
    const onEvent = (e: SpanflowEvent) => e.type === 'barrier_wait' && waited.resolve();
    const { result, of } = await collectRun(twoParents('all', () => waited.promise, log).run(undefined, { onEvent }));
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(log, ['fast', 'slow', 'join', 'after']);
    const [wait, ...moreWaits] = of('barrier_wait');
    assert.deepEqual(moreWaits, []);
    assert.deepEqual([wait?.node, wait?.mode, wait?.arrived, wait?.waitingFor], ['join', 'all', ['fast'], ['slow']]);
    const [release] = of('barrier_release');
    assert.deepEqual(release?.arrived, ['fast', 'slow']);
    assert.ok((wait?.seq ?? 0) < (release?.seq ?? 0));
    assert.deepEqual(result.metrics.barriers.join?.arrived, ['fast', 'slow']);
  });

  it('ALL behind a switch waits only for the branch that was taken', async () => {
    const p = pipeline('switch-join')
      .switch('pick', () => 'a', { to: ['a', 'b'] })
      .step('a', () => 'A', { to: 'join' })
      .step('b', () => 'B', { to: 'join' })
      .barrier('join', ({ output }) => `joined ${output('a')}`);
    const { result, of, steps } = await collectRun(p.run(undefined, { timeout: HANG_GUARD_MS }));
    assert.equal(result.status, 'succeeded', result.error?.message);
    assert.equal(result.outputs.join, 'joined A');
    assert.ok(steps.includes('b:skipped'));
    assert.deepEqual(of('barrier_release').map((e) => e.arrived), [['a']]);
  });

  it('ALL after a switch that stopped is skipped, not run', async () => {
    const p = pipeline('switch-stop')
      .switch('pick', () => STOP, { to: ['a', 'b'] })
      .step('a', noop, { to: 'join' })
      .step('b', noop, { to: 'join' })
      .barrier('join', () => assert.fail('nothing arrived'));
    const { result, steps } = await collectRun(p.run(undefined, { timeout: HANG_GUARD_MS }));
    assert.equal(result.status, 'succeeded');
    assert.ok(steps.includes('join:skipped'), steps.join(' '));
  });

  it('ANY runs once, on the first parent, before the slow one finishes; later arrivals are ignored', async () => {
    const log: string[] = [];
    const joined = Promise.withResolvers<void>();
    const onEvent = (e: SpanflowEvent) => e.type === 'step_end' && e.node === 'join' && joined.resolve();
    const { result, of } = await collectRun(twoParents('any', () => joined.promise, log).run(undefined, { onEvent, timeout: HANG_GUARD_MS }));
    assert.equal(result.status, 'succeeded', result.error?.message);
    assert.equal(log.filter((l) => l === 'join').length, 1);
    assert.ok(log.indexOf('join') < log.indexOf('slow'), log.join(' '));
    assert.equal(log.filter((l) => l === 'after').length, 1);
    assert.equal(of('step_start').filter((e) => e.node === 'join').length, 1);
    assert.deepEqual(of('barrier_release').map((e) => [e.mode, e.arrived]), [['any', ['fast']]]);
  });

  it('times out when a parent never arrives: the barrier and the run end timed_out, naming the missing parent', async () => {
    const log: string[] = [];
    let slowSignal: AbortSignal | undefined;
    const p = pipeline('late')
      .step('start', noop, { to: ['fast', 'slow'] })
      .step('fast', () => void log.push('fast'), { to: 'join' })
      .step('slow', async ({ signal }) => {
        slowSignal = signal;
        await sleep(60_000, undefined, { signal });
      }, { to: 'join' })
      .barrier('join', () => assert.fail('the barrier never releases'), { barrierTimeout: 20 });
    const { result, of } = await collectRun(p.run(undefined, { timeout: 10_000 }));
    assert.equal(result.status, 'timed_out');
    assert.equal(result.failedNode, 'join');
    const error = result.error;
    assert.ok(error instanceof BarrierTimeoutError, String(error));
    assert.deepEqual(error.missing, ['slow']);
    assert.deepEqual(error.arrived, ['fast']);
    assert.match(error.message, /barrier 'join' timed out after 20 ms: slow never arrived \(arrived: fast\)/);
    const ends = new Map(of('step_end').map((e) => [e.node, e]));
    assert.equal(ends.get('join')?.status, 'timed_out');
    assert.equal(ends.get('join')?.error?.type, 'BarrierTimeoutError');
    assert.equal(ends.get('slow')?.status, 'cancelled');
    assert.equal(slowSignal?.aborted, true, 'the slow parent is told to stop');
    assert.equal(of('run_end')[0]?.status, 'timed_out');
  });
});

describe('maxConcurrency', () => {
  it('caps the steps of one run in flight; the rest wait as queued and the run metrics show the queue', async () => {
    let inFlight = 0;
    let peak = 0;
    const work = async () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
    };
    const p = pipeline('capped', { maxConcurrency: 2 })
      .step('start', () => undefined, { to: ['a', 'b', 'c', 'd'] })
      .step('a', work)
      .step('b', work)
      .step('c', work)
      .step('d', work);
    const { result, steps } = await collectRun(p.run(undefined));
    assert.equal(result.status, 'succeeded');
    assert.equal(peak, 2);
    assert.equal(result.metrics.peakQueueDepth, 2);
    assert.deepEqual(steps.filter((s) => s.endsWith(':succeeded')).length, 5);
  });

  it('steps still queued when a step fails end cancelled, so every queued step has an end', async () => {
    const p = pipeline('capped-failing', { maxConcurrency: 1 })
      .step('start', () => undefined, { to: ['boom', 'later'] })
      .step('boom', () => {
        throw new Error('boom');
      })
      .step('later', () => undefined);
    const { result, of } = await collectRun(p.run(undefined));
    assert.equal(result.status, 'failed');
    const queued = of('step_queued').map((e) => e.node);
    const ended = of('step_end').map((e) => `${e.node}:${e.status}`);
    assert.deepEqual(queued.sort(), ['boom', 'later', 'start']);
    assert.deepEqual(ended.sort(), ['boom:failed', 'later:cancelled', 'start:succeeded']);
  });
});
