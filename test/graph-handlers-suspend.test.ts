// Error handlers (per step and pipeline-wide: retry, skip, stop, fail, throw)
// and suspend / resume from a named step.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { collectRun, type ErrorArgs, pipeline, StepFailedError } from '../sdk/index.ts';

type Log = { log: string[] };
const quickRetry = { attempts: 1, initialDelayMs: 5, jitter: 0 } as const;

class Upstream extends Error {
  override name = 'Upstream';
}

/** fetch -> enrich -> store, where `fetch` always throws and `handler` decides. */
function failingFetch(onError: (error: unknown, args: ErrorArgs<Log, undefined>) => 'retry' | 'skip' | 'stop' | 'fail') {
  return pipeline<Log>('handled')
    .step('fetch', ({ state }) => {
      state.log.push('fetch');
      throw new Upstream('503');
    }, { onError, retry: quickRetry, to: 'enrich' })
    .step('enrich', ({ state }) => {
      state.log.push('enrich');
    }, { to: 'store' })
    .step('store', ({ state }) => {
      state.log.push('store');
    });
}

describe('error handlers', () => {
  test("'retry' runs another attempt, even past the retry policy", async () => {
    let calls = 0;
    const p = pipeline('handler-retry').step('fetch', ({ attempt }) => {
      calls++;
      if (attempt < 3) throw new Upstream(`attempt ${attempt}`);
      return 'third time lucky';
    }, { retry: quickRetry, onError: () => 'retry' });
    const { result, of } = await collectRun(p.run(undefined));

    assert.equal(calls, 3);
    assert.equal(result.status, 'succeeded');
    assert.equal(result.outputs.fetch, 'third time lucky');
    assert.deepEqual(of('step_start').map((e) => e.attempt), [1, 2, 3]);
    assert.equal(of('step_retry').length, 2);
  });

  test("'skip' ends the step skipped by the handler; its successors still run; the run succeeds", async () => {
    const p = failingFetch(() => 'skip');
    const { result, of, steps } = await collectRun(p.run({ log: [] }));

    assert.equal(result.status, 'succeeded');
    assert.equal(result.error, undefined);
    assert.deepEqual(result.state.log, ['fetch', 'enrich', 'store']);
    assert.deepEqual(steps, ['fetch:skipped', 'enrich:succeeded', 'store:succeeded']);
    const fetch = of('step_end')[0];
    assert.equal(fetch?.skipReason, 'handler');
    assert.equal(fetch?.error?.type, 'Upstream');
    assert.equal(result.outputs.fetch, undefined);
  });

  test("'stop' ends the step skipped and nothing after it runs; the run succeeds", async () => {
    const p = failingFetch(() => 'stop');
    const { result, of } = await collectRun(p.run({ log: [] }));

    assert.equal(result.status, 'succeeded');
    assert.deepEqual(result.state.log, ['fetch']);
    const ends = of('step_end');
    assert.deepEqual(ends.map((e) => [e.node, e.status, e.skipReason]), [
      ['fetch', 'skipped', 'handler'],
      ['enrich', 'skipped', 'not-reached'],
      ['store', 'skipped', 'not-reached'],
    ]);
    assert.equal(of('step_start').filter((e) => e.node !== 'fetch').length, 0);
  });

  test("'fail' fails the step and the run with the step's error as cause", async () => {
    const p = failingFetch(() => 'fail');
    const { result, steps } = await collectRun(p.run({ log: [] }));

    assert.equal(result.status, 'failed');
    assert.deepEqual(steps, ['fetch:failed']);
    assert.deepEqual(result.state.log, ['fetch']);
    assert.ok(result.error instanceof StepFailedError);
    assert.equal(result.error.node, 'fetch');
    assert.ok(result.error.cause instanceof Upstream);
  });

  test('a handler that throws fails the run with what it threw as cause', async () => {
    const translated = new Error('payment provider unavailable');
    const p = failingFetch(() => {
      throw translated;
    });
    const { result, of } = await collectRun(p.run({ log: [] }));

    assert.equal(result.status, 'failed');
    assert.equal(result.failedNode, 'fetch');
    assert.ok(result.error instanceof StepFailedError);
    assert.equal(result.error.cause, translated);
    assert.match(result.error.message, /payment provider unavailable/);
    assert.equal(of('step_end')[0]?.error?.message, 'payment provider unavailable');
  });

  test('the handler runs once retries are exhausted, with node, attempt, state, context and run id', async () => {
    const calls: unknown[] = [];
    const p = pipeline<{ tenant: string }, { region: string }>('handler-args').step('fetch', () => {
      throw new Upstream('down');
    }, {
      retry: { attempts: 2, initialDelayMs: 5, jitter: 0 },
      onError: (error, { node, attempt, index, state, context, runId }) => {
        calls.push({ error: (error as Error).message, node, attempt, index, tenant: state.tenant, region: context.region, runId });
        return 'skip';
      },
    });
    const result = await p.run({ tenant: 'acme' }, { context: { region: 'eu' }, runId: 'r-1' });

    assert.equal(result.status, 'succeeded');
    assert.deepEqual(calls, [{ error: 'down', node: 'fetch', attempt: 2, index: undefined, tenant: 'acme', region: 'eu', runId: 'r-1' }]);
  });

  test("the pipeline's onError handles steps that have none; a step's own handler wins", async () => {
    const handled: string[] = [];
    const p = pipeline<Log>('pipeline-handler', {
      onError: (_error, { node }) => {
        handled.push(`pipeline:${node}`);
        return 'skip';
      },
    })
      .step('a', () => {
        throw new Error('a broke');
      }, { to: 'b' })
      .step('b', () => {
        throw new Error('b broke');
      }, {
        to: 'c',
        onError: (_error, { node }) => {
          handled.push(`own:${node}`);
          return 'skip';
        },
      })
      .step('c', ({ state }) => {
        state.log.push('c');
      });
    const { result, steps } = await collectRun(p.run({ log: [] }));

    assert.equal(result.status, 'succeeded');
    assert.deepEqual(handled, ['pipeline:a', 'own:b']);
    assert.deepEqual(steps, ['a:skipped', 'b:skipped', 'c:succeeded']);
  });

  test('a handler can skip a step that timed out', async () => {
    const p = pipeline('skip-timeout')
      .step('slow', () => new Promise(() => {}), { timeout: 10, onError: () => 'skip', to: 'next' })
      .step('next', () => 'ran');
    const { result, steps } = await collectRun(p.run(undefined));
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(steps, ['slow:skipped', 'next:succeeded']);
  });
});

type Order = { id: string; log: string[]; approved?: boolean };

function orderPipeline() {
  return pipeline<Order>('order')
    .onShutdown('close', ({ state }) => {
      state.log.push('shutdown');
    })
    .step('receive', ({ state }) => {
      state.log.push('receive');
    }, { to: 'check' })
    .step('check', ({ state, suspend }) => {
      state.log.push('check');
      if (!state.approved) return suspend('waiting for approval');
      return 'already approved';
    }, { to: 'approve' })
    .step('approve', ({ state }) => {
      state.log.push('approve');
    }, { to: 'ship' })
    .step('ship', ({ state }) => {
      state.log.push('ship');
      return `shipped ${state.id}`;
    });
}

describe('suspend and resume', () => {
  test('a step returning suspend() ends the run suspended; later steps do not run', async () => {
    const { result, of } = await collectRun(orderPipeline().run({ id: 'o-1', log: [] }));

    assert.equal(result.status, 'suspended');
    assert.equal(result.error, undefined);
    assert.deepEqual(result.suspended, { node: 'check', reason: 'waiting for approval' });
    assert.deepEqual(result.state.log, ['receive', 'check', 'shutdown']);
    assert.equal(of('step_start').filter((e) => e.node === 'approve' || e.node === 'ship').length, 0);
    const end = of('run_end')[0];
    assert.equal(end?.status, 'suspended');
    assert.deepEqual(end?.suspended, { node: 'check', reason: 'waiting for approval' });
  });

  test('resumeFrom with the saved state runs from that step to the end, not the steps before', async () => {
    const p = orderPipeline();
    const first = await p.run({ id: 'o-2', log: [] });
    assert.equal(first.status, 'suspended');

    const saved: Order = { ...first.state, log: [], approved: true };
    const { result, of } = await collectRun(p.run(saved, { resumeFrom: 'approve' }));

    assert.equal(result.status, 'succeeded');
    assert.equal(result.suspended, undefined);
    assert.deepEqual(result.state.log, ['approve', 'ship', 'shutdown']);
    assert.equal(result.outputs.ship, 'shipped o-2');
    assert.equal(of('run_start')[0]?.resumeFrom, 'approve');
    assert.deepEqual(of('step_start').map((e) => e.node), ['approve', 'ship']);
  });

  test('resuming at the suspending step runs it again with the new state', async () => {
    const p = orderPipeline();
    const first = await p.run({ id: 'o-3', log: [] });
    const result = await p.run({ ...first.state, log: [], approved: true }, { resumeFrom: first.suspended?.node ?? '' });
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(result.state.log, ['check', 'approve', 'ship', 'shutdown']);
  });

  test('resuming into a branch whose ALL-join has parents outside the resumed part does not hang', { timeout: 30_000 }, async () => {
    const ran: string[] = [];
    const mark = (name: string) => () => {
      ran.push(name);
    };
    const p = pipeline('joins')
      .step('start', mark('start'), { to: ['left', 'right'] })
      .step('left', mark('left'), { to: 'approve' })
      .step('approve', mark('approve'), { to: ['gather', 'merge'] })
      .step('right', mark('right'), { to: ['gather', 'merge'] })
      .barrier('gather', mark('gather'), { mode: 'all', to: 'done' })
      .step('merge', mark('merge'), { to: 'done' })
      .step('done', mark('done'));
    const { result, steps } = await collectRun(p.run(undefined, { resumeFrom: 'approve' }));

    assert.equal(result.status, 'succeeded');
    assert.deepEqual(ran.slice(0, 1), ['approve']);
    assert.deepEqual([...ran].sort(), ['approve', 'done', 'gather', 'merge']);
    assert.equal(ran.at(-1), 'done');
    assert.ok(!steps.some((s) => s.startsWith('start') || s.startsWith('left') || s.startsWith('right')));
  });

  test('a resumed run reads the outputs of steps before the suspension when given them', async () => {
    const approvals = pipeline<Order>('approvals')
      .step('check', ({ state, suspend }) => (state.approved ? 'approved by ops' : suspend('waiting')), { to: 'label' })
      .step('label', ({ output }) => `label: ${output<string>('check')}`);
    const first = await approvals.run({ id: 'o-4', log: [] });
    assert.equal(first.status, 'suspended');
    const earlier = { check: 'approved earlier by ops' };
    const resumed = await approvals.run({ ...first.state, approved: true }, { resumeFrom: 'label', outputs: earlier });
    assert.equal(resumed.outputs.label, 'label: approved earlier by ops');
  });

  test('resumeFrom naming an unknown step throws with a suggestion', () => {
    assert.throws(() => orderPipeline().run({ id: 'x', log: [] }, { resumeFrom: 'aprove' }), /unknown step 'aprove'.*Did you mean 'approve'/);
  });
});
