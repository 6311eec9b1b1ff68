// Retries (every attempt visible, exhaustion fails the run, retryIf) and
// timeouts (per step attempt, per run, combined with retries).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { collectRun, pipeline, RunTimeoutError, StepFailedError, StepTimeoutError } from '../sdk/index.ts';

const fast = { initialDelayMs: 5, factor: 2, jitter: 0 } as const;

class Flaky extends Error {
  override name = 'Flaky';
}
class Fatal extends Error {
  override name = 'Fatal';
}

describe('retries', () => {
  test('every attempt is visible: a step_start per attempt, a step_retry between, one step_end', async () => {
    const p = pipeline('flaky')
      .step('call', async () => {
        throw new Flaky('upstream 503');
      }, { retry: { ...fast, attempts: 3 }, to: 'after' })
      .step('after', () => 'never');
    const { result, of } = await collectRun(p.run(undefined));

    assert.deepEqual(
      of('step_start').map((e) => [e.node, e.attempt]),
      [['call', 1], ['call', 2], ['call', 3]],
    );
    const retries = of('step_retry');
    assert.deepEqual(retries.map((e) => e.attempt), [1, 2]);
    assert.deepEqual(retries.map((e) => e.delayMs), [5, 10]);
    for (const retry of retries) {
      assert.equal(retry.node, 'call');
      assert.equal(retry.error.type, 'Flaky');
      assert.equal(retry.error.message, 'upstream 503');
    }
    const ends = of('step_end');
    assert.equal(ends.length, 1);
    assert.equal(ends[0]?.status, 'failed');
    assert.equal(ends[0]?.attempt, 3);
    assert.equal(result.outputs.after, undefined);
  });

  test('exhausting retries fails the step and the run with StepFailedError', async () => {
    let calls = 0;
    const p = pipeline('exhaust').step('call', () => {
      calls++;
      throw new Flaky(`try ${calls}`);
    }, { retry: { ...fast, attempts: 3 } });
    const { result, of } = await collectRun(p.run(undefined));

    assert.equal(calls, 3);
    assert.equal(result.status, 'failed');
    assert.equal(result.failedNode, 'call');
    assert.ok(result.error instanceof StepFailedError);
    assert.equal(result.error.attempts, 3);
    assert.equal(result.error.node, 'call');
    assert.ok(result.error.cause instanceof Flaky);
    assert.equal(result.error.cause.message, 'try 3');
    const end = of('run_end')[0];
    assert.equal(end?.status, 'failed');
    assert.equal(end?.error?.type, 'StepFailedError');
    assert.equal(end?.failedNode, 'call');
    assert.equal(result.metrics.steps.call?.attempts, 3);
    assert.equal(result.metrics.steps.call?.failed, 3);
  });

  test('a step that succeeds on its second attempt makes the run succeed', async () => {
    const p = pipeline('second-time')
      .step('call', ({ attempt }) => {
        if (attempt === 1) throw new Flaky('cold cache');
        return `ok on ${attempt}`;
      }, { retry: { ...fast, attempts: 3 }, to: 'after' })
      .step('after', ({ output }) => `${output<string>('call')} then after`);
    const { result, steps, of } = await collectRun(p.run(undefined));

    assert.equal(result.status, 'succeeded');
    assert.equal(result.error, undefined);
    assert.equal(result.outputs.call, 'ok on 2');
    assert.equal(result.outputs.after, 'ok on 2 then after');
    assert.deepEqual(steps, ['call:succeeded', 'after:succeeded']);
    assert.equal(of('step_retry').length, 1);
    assert.equal(of('step_end')[0]?.attempt, 2);
  });

  test('retryIf stops retrying on an error it does not match', async () => {
    const seen: string[] = [];
    const p = pipeline('selective').step('call', ({ attempt }) => {
      const error = attempt === 1 ? new Flaky('blip') : new Fatal('bad request');
      seen.push(error.name);
      throw error;
    }, { retry: { ...fast, attempts: 5, retryIf: (error) => error instanceof Flaky } });
    const { result, of } = await collectRun(p.run(undefined));

    assert.deepEqual(seen, ['Flaky', 'Fatal']);
    assert.equal(of('step_retry').length, 1);
    assert.equal(result.status, 'failed');
    assert.ok(result.error instanceof StepFailedError);
    assert.equal(result.error.attempts, 2);
    assert.ok(result.error.cause instanceof Fatal);
  });

  test('retryIf is told which attempt failed', async () => {
    const asked: number[] = [];
    const p = pipeline('asked').step('call', () => {
      throw new Flaky('x');
    }, {
      retry: {
        ...fast,
        attempts: 4,
        retryIf: (_error, attempt) => {
          asked.push(attempt);
          return attempt < 2;
        },
      },
    });
    const result = await p.run(undefined);
    assert.deepEqual(asked, [1, 2]);
    assert.equal(result.status, 'failed');
  });

  test('retry: n is shorthand for n attempts', async () => {
    let calls = 0;
    const p = pipeline('shorthand').step('call', () => {
      calls++;
      if (calls < 2) throw new Flaky('once');
      return 'ok';
    }, { retry: 2 });
    const result = await p.run(undefined);
    assert.equal(result.status, 'succeeded');
    assert.equal(calls, 2);
  });
});

describe('timeouts', () => {
  test('a step timeout fires the step signal and ends the step and the run timed_out', async () => {
    let sawAbort: ((value: { aborted: boolean; reason: unknown }) => void) | undefined;
    const observed = new Promise<{ aborted: boolean; reason: unknown }>((resolve) => (sawAbort = resolve));
    const p = pipeline('slow')
      .step('render', ({ signal }) => new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          sawAbort?.({ aborted: signal.aborted, reason: signal.reason });
          reject(signal.reason);
        });
      }), { timeout: 20, to: 'after' })
      .step('after', () => 'never');
    const { result, of } = await collectRun(p.run(undefined));

    const inside = await observed;
    assert.equal(inside.aborted, true);
    assert.ok(inside.reason instanceof StepTimeoutError);
    const end = of('step_end').find((e) => e.node === 'render');
    assert.equal(end?.status, 'timed_out');
    assert.equal(end?.error?.type, 'StepTimeoutError');
    assert.equal(result.status, 'timed_out');
    assert.equal(result.failedNode, 'render');
    assert.ok(result.error instanceof StepTimeoutError);
    assert.equal(result.error.name, 'StepTimeoutError');
    assert.equal(result.error.node, 'render');
    assert.equal(result.error.timeoutMs, 20);
    assert.match(result.error.message, /render.*timed out after 20 ms/);
    assert.equal(of('run_end')[0]?.status, 'timed_out');
    assert.equal(of('step_start').filter((e) => e.node === 'after').length, 0);
  });

  test('a step that ignores its signal still ends on time', async () => {
    const p = pipeline('stubborn').step('hang', () => new Promise(() => {}), { timeout: 15 });
    const result = await p.run(undefined);
    assert.equal(result.status, 'timed_out');
    assert.ok(result.error instanceof StepTimeoutError);
  });

  test('a step throwing a platform TimeoutError ends timed_out, not failed', async () => {
    const p = pipeline('fetchy').step('fetch', async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      throw new DOMException('The operation timed out', 'TimeoutError');
    });
    const { result, of } = await collectRun(p.run(undefined));
    assert.equal(of('step_end')[0]?.status, 'timed_out');
    assert.equal(result.status, 'timed_out');
  });

  test('a run timeout ends the run timed_out and cancels the step in flight', async () => {
    let stepSignal: AbortSignal | undefined;
    const p = pipeline('long-run')
      .step('first', () => 'quick', { to: 'slow' })
      .step('slow', ({ signal }) => {
        stepSignal = signal;
        return new Promise(() => {});
      }, { to: 'after' })
      .step('after', () => 'never');
    const { result, of } = await collectRun(p.run(undefined, { timeout: 25 }));

    assert.equal(result.status, 'timed_out');
    assert.ok(result.error instanceof RunTimeoutError);
    assert.match(result.error.message, /long-run.*timed out after 25 ms/);
    assert.equal(stepSignal?.aborted, true);
    assert.deepEqual(
      of('step_end').map((e) => [e.node, e.status]),
      [['first', 'succeeded'], ['slow', 'cancelled']],
    );
    const end = of('run_end')[0];
    assert.equal(end?.status, 'timed_out');
    assert.equal(end?.error?.type, 'RunTimeoutError');
  });

  test('a timeout with retries: every attempt times out, then the run is timed_out', async () => {
    let calls = 0;
    const p = pipeline('slow-retry').step('call', ({ signal }) => {
      calls++;
      return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    }, { timeout: 10, retry: { ...fast, attempts: 3 } });
    const { result, of } = await collectRun(p.run(undefined));

    assert.equal(calls, 3);
    assert.deepEqual(of('step_start').map((e) => e.attempt), [1, 2, 3]);
    const retries = of('step_retry');
    assert.equal(retries.length, 2);
    for (const retry of retries) assert.equal(retry.error.type, 'StepTimeoutError');
    const ends = of('step_end');
    assert.equal(ends.length, 1);
    assert.equal(ends[0]?.status, 'timed_out');
    assert.equal(result.status, 'timed_out');
    assert.ok(result.error instanceof StepTimeoutError);
  });

  test('a timed-out attempt followed by a quick one succeeds', async () => {
    const p = pipeline('recover').step('call', ({ attempt }) => (attempt === 1 ? new Promise(() => {}) : 'fast'), {
      timeout: 10,
      retry: { ...fast, attempts: 2 },
    });
    const result = await p.run(undefined);
    assert.equal(result.status, 'succeeded');
    assert.equal(result.outputs.call, 'fast');
  });
});
