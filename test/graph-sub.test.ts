// Sub-pipelines: a child pipeline run as one step of its parent, its events
// in the parent's stream, its result and its failures carried back up.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { collectRun, pipeline, type RunResult, StepFailedError, StepTimeoutError } from '../sdk/index.ts';

type Frame = { n: number; rendered: string[] };
type Parent = { frames: number; rendered: string[] };

function renderFarm(render: (state: Frame, signal: AbortSignal) => Promise<void> | void, timeout?: number) {
  return pipeline<Frame>('render-farm')
    .step('allocate', ({ state }) => {
      state.n++;
    }, { to: 'render' })
    .step('render', async ({ state, signal }) => {
      await render(state, signal);
      return `rendered ${state.n}`;
    }, { timeout });
}

function video(child: ReturnType<typeof renderFarm>, after: () => void = () => undefined) {
  return pipeline<Parent>('video')
    .step('accept', ({ state }) => {
      state.frames = 2;
    }, { to: 'farm' })
    .sub('farm', child, {
      state: ({ state }) => ({ n: state.frames, rendered: [] }),
      onResult: (child, { state }) => {
        state.rendered.push(...child.state.rendered, `n=${child.state.n}`);
      },
      to: 'composite',
    })
    .step('composite', after);
}

describe('sub-pipeline', () => {
  it('returns the child result to the parent: it is the step output, and onResult merges it into the parent state', async () => {
    const child = renderFarm((state) => {
      state.rendered.push('frame-1');
    });
    const seenByComposite: unknown[] = [];
    const p = pipeline<Parent>('video')
      .step('accept', ({ state }) => {
        state.frames = 2;
      }, { to: 'farm' })
      .sub('farm', child, {
        state: ({ state }) => ({ n: state.frames, rendered: [] }),
        onResult: (result, { state }) => {
          state.rendered.push(...result.state.rendered, `n=${result.state.n}`);
        },
        to: 'composite',
      })
      .step('composite', ({ output }) => {
        seenByComposite.push(output<RunResult<Frame>>('farm')?.outputs.render);
      });
    const result = await p.run({ frames: 0, rendered: [] });
    assert.equal(result.status, 'succeeded', result.error?.message);
    assert.deepEqual(result.state.rendered, ['frame-1', 'n=3']);
    const farm = result.outputs.farm as RunResult<Frame>;
    assert.equal(farm.pipeline, 'render-farm');
    assert.equal(farm.status, 'succeeded');
    assert.deepEqual(farm.state, { n: 3, rendered: ['frame-1'] });
    assert.equal(farm.outputs.render, 'rendered 3');
    assert.notEqual(farm.runId, result.runId);
    assert.deepEqual(seenByComposite, ['rendered 3']);
  });

  it("puts the child's events in the parent's stream, tagged with the parent's run id", async () => {
    const p = video(renderFarm(() => undefined));
    const { result, events, steps } = await collectRun(p.run({ frames: 0, rendered: [] }));
    assert.equal(result.status, 'succeeded');
    const childEvents = events.filter((e) => e.pipeline === 'render-farm');
    const parentEvents = events.filter((e) => e.pipeline === 'video');
    assert.ok(childEvents.length > 0);
    assert.equal(childEvents.length + parentEvents.length, events.length);
    for (const e of childEvents) assert.equal(e.parentRunId, result.runId, `${e.type} of the child`);
    for (const e of parentEvents) assert.equal(e.parentRunId, undefined, `${e.type} of the parent`);
    assert.equal(new Set(childEvents.map((e) => e.runId)).size, 1);
    assert.equal(childEvents[0]?.runId, (result.outputs.farm as RunResult<Frame>).runId);
    assert.deepEqual(steps, ['accept:succeeded', 'allocate:succeeded', 'render:succeeded', 'farm:succeeded', 'composite:succeeded']);
  });

  it('ends the stream with exactly one run_end of the parent; the child ends inside it, under the sub step', async () => {
    const p = video(renderFarm(() => undefined));
    const { result, events, of } = await collectRun(p.run({ frames: 0, rendered: [] }));
    const ends = of('run_end');
    assert.equal(ends.length, 2);
    const top = ends.filter((e) => e.parentRunId === undefined);
    assert.equal(top.length, 1);
    assert.equal(top[0]?.runId, result.runId);
    assert.equal(events.at(-1), top[0], 'the parent run_end is the last event');
    const childEnd = ends.find((e) => e.pipeline === 'render-farm');
    assert.equal(childEnd?.parentRunId, result.runId);
    assert.equal(childEnd?.status, 'succeeded');
    const farmStart = events.findIndex((e) => e.type === 'step_start' && e.node === 'farm');
    const farmEnd = events.findIndex((e) => e.type === 'step_end' && e.node === 'farm');
    const childStart = events.findIndex((e) => e.type === 'run_start' && e.pipeline === 'render-farm');
    const childEndAt = events.indexOf(childEnd as (typeof events)[number]);
    assert.ok(farmStart < childStart && childEndAt < farmEnd, 'the child run happens within its sub step');
  });

  it('times out the sub step and the parent run when a child step times out', async () => {
    let composite = false;
    const child = renderFarm((_, signal) => sleep(60_000, undefined, { signal }), 20);
    const p = video(child, () => {
      composite = true;
    });
    const { result, of } = await collectRun(p.run({ frames: 0, rendered: [] }, { timeout: 10_000 }));
    assert.equal(result.status, 'timed_out');
    assert.equal(result.failedNode, 'farm');
    assert.ok(result.error instanceof StepTimeoutError, String(result.error));
    assert.match(result.error.message, /step 'render' timed out after 20 ms/);
    const ends = of('step_end');
    assert.equal(ends.find((e) => e.node === 'render')?.status, 'timed_out');
    assert.equal(ends.find((e) => e.node === 'farm')?.status, 'timed_out');
    assert.equal(of('run_end').find((e) => e.pipeline === 'render-farm')?.status, 'timed_out');
    assert.equal(of('run_end').find((e) => e.parentRunId === undefined)?.status, 'timed_out');
    assert.equal(composite, false);
    assert.deepEqual(result.state.rendered, [], 'onResult is not called for a child that did not succeed');
  });

  it('fails the parent when the child fails, keeping the child failure as the cause', async () => {
    const child = renderFarm(() => {
      throw new Error('GPU on fire');
    });
    const { result, of } = await collectRun(video(child).run({ frames: 0, rendered: [] }));
    assert.equal(result.status, 'failed');
    assert.equal(result.failedNode, 'farm');
    assert.ok(result.error instanceof StepFailedError, String(result.error));
    assert.equal(result.error.node, 'farm');
    const cause = result.error.cause;
    assert.ok(cause instanceof StepFailedError, String(cause));
    assert.equal(cause.node, 'render');
    assert.match(result.error.message, /step 'farm' failed after 1 attempt: step 'render' failed after 1 attempt: GPU on fire/);
    assert.equal(of('run_end').find((e) => e.pipeline === 'render-farm')?.status, 'failed');
    assert.deepEqual(of('step_end').find((e) => e.node === 'composite')?.status, undefined);
  });

  it('cancels the child when the parent is cancelled', async () => {
    const started = Promise.withResolvers<void>();
    let childSignal: AbortSignal | undefined;
    const child = pipeline('waiter').step('wait', async ({ signal }) => {
      childSignal = signal;
      started.resolve();
      await sleep(60_000, undefined, { signal });
    });
    const p = pipeline('parent').sub('nested', child, { state: () => undefined });
    const handle = p.run(undefined);
    await started.promise;
    handle.cancel('user pressed stop');
    const result = await handle;
    assert.equal(result.status, 'cancelled');
    assert.equal(childSignal?.aborted, true);
    assert.match(result.error?.message ?? '', /cancelled: user pressed stop/);
  });

  it('gives the child its own context when asked, the parent context otherwise', async () => {
    const seen: unknown[] = [];
    const child = pipeline<undefined, { gpu: string }>('ctx-child').step('look', ({ context }) => {
      seen.push(context.gpu);
    });
    const p = pipeline<undefined, { gpu: string }>('ctx-parent')
      .sub('inherit', child, { state: () => undefined, to: 'override' })
      .sub('override', child, { state: () => undefined, context: () => ({ gpu: 'child-gpu' }) });
    const result = await p.run(undefined, { context: { gpu: 'parent-gpu' } });
    assert.equal(result.status, 'succeeded', result.error?.message);
    assert.deepEqual(seen, ['parent-gpu', 'child-gpu']);
  });
});
