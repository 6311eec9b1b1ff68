// Cancellation (a run's AbortSignal, handle.cancel()) and startup / shutdown hooks.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CancelledError, collectRun, HookError, pipeline, RunTimeoutError, StepFailedError } from '../sdk/index.ts';

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A step that tells the test it started, then waits for its signal. */
function blockingStep(started: { resolve: () => void }, seen: { signal?: AbortSignal }) {
  return ({ signal }: { signal: AbortSignal }) =>
    new Promise((_resolve, reject) => {
      seen.signal = signal;
      signal.addEventListener('abort', () => reject(signal.reason));
      started.resolve();
    });
}

describe('cancellation', () => {
  test("aborting the run's signal mid-step cancels the step and the run; shutdown still runs", async () => {
    const started = deferred();
    const seen: { signal?: AbortSignal } = {};
    const log: string[] = [];
    const p = pipeline('cancellable')
      .onShutdown('cleanup', () => {
        log.push('cleanup');
      })
      .step('work', blockingStep(started, seen), { to: 'after' })
      .step('after', () => log.push('after'));
    const controller = new AbortController();
    const run = collectRun(p.run(undefined, { signal: controller.signal }));
    await started.promise;
    controller.abort('user pressed stop');
    const { result, of } = await run;

    assert.equal(seen.signal?.aborted, true);
    assert.deepEqual(of('step_end').map((e) => [e.node, e.status]), [['work', 'cancelled']]);
    assert.equal(result.status, 'cancelled');
    assert.ok(result.error instanceof CancelledError);
    assert.match(result.error.message, /user pressed stop/);
    assert.equal(result.error.cause, 'user pressed stop');
    assert.equal(result.failedNode, undefined);
    assert.deepEqual(log, ['cleanup']);
    assert.equal(of('run_end')[0]?.status, 'cancelled');
    assert.equal(of('run_end')[0]?.error?.type, 'CancelledError');
  });

  test('handle.cancel() cancels the run like its signal would', async () => {
    const started = deferred();
    const seen: { signal?: AbortSignal } = {};
    let shutdown = false;
    const p = pipeline('cancel-handle')
      .onShutdown('cleanup', () => {
        shutdown = true;
      })
      .step('work', blockingStep(started, seen));
    const handle = p.run(undefined);
    const run = collectRun(handle);
    await started.promise;
    handle.cancel(new Error('deploy rolled back'));
    const { result, steps } = await run;

    assert.equal(seen.signal?.aborted, true);
    assert.deepEqual(steps, ['work:cancelled']);
    assert.equal(result.status, 'cancelled');
    assert.ok(result.error instanceof CancelledError);
    assert.match(result.error.message, /deploy rolled back/);
    assert.equal(shutdown, true);
  });

  test('a signal aborted before run(): cancelled, no step ran, shutdown hooks ran', async () => {
    const log: string[] = [];
    const p = pipeline('too-late')
      .onStartup('warm', async () => {
        log.push('startup');
      })
      .onShutdown('cleanup', async () => {
        log.push('shutdown');
      })
      .step('work', () => log.push('work'));
    const { result, of } = await collectRun(p.run(undefined, { signal: AbortSignal.abort('never mind') }));

    assert.equal(result.status, 'cancelled');
    assert.ok(result.error instanceof CancelledError);
    assert.deepEqual(log, ['shutdown']);
    assert.equal(of('step_start').length, 0);
    assert.equal(of('run_start').length, 0);
  });

  test('cancelling during a startup hook ends the run cancelled, not failed', async () => {
    const inHook = deferred();
    const log: string[] = [];
    const p = pipeline('cancel-in-hook')
      .onStartup('slow-warmup', ({ signal }) => {
        inHook.resolve();
        return new Promise<void>((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      })
      .onShutdown('cleanup', () => {
        log.push('shutdown');
      })
      .step('work', () => log.push('work'));
    const handle = p.run(undefined);
    await inHook.promise;
    handle.cancel();
    const result = await handle;

    assert.equal(result.status, 'cancelled');
    assert.ok(result.error instanceof CancelledError);
    assert.deepEqual(log, ['shutdown']);
  });

  test('the run timeout interrupts a stuck startup hook: timed_out, not failed', async () => {
    const log: string[] = [];
    const p = pipeline('stuck-startup')
      .onStartup('stuck', () => new Promise<void>(() => {}))
      .onShutdown('cleanup', () => {
        log.push('shutdown');
      })
      .step('work', () => log.push('work'));
    const result = await p.run(undefined, { timeout: 15 });
    assert.equal(result.status, 'timed_out');
    assert.ok(result.error instanceof RunTimeoutError);
    assert.deepEqual(log, ['shutdown']);
  });

  test('cancelling during a retry backoff ends the run without waiting for the delay', { timeout: 30_000 }, async () => {
    const retrying = deferred();
    let calls = 0;
    const p = pipeline('backoff').step('call', () => {
      calls++;
      throw new Error('flaky');
    }, { retry: { attempts: 3, initialDelayMs: 60_000, jitter: 0 } });
    const handle = p.run(undefined, {
      onEvent: (event) => {
        if (event.type === 'step_retry') retrying.resolve();
      },
    });
    const run = collectRun(handle);
    await retrying.promise;
    handle.cancel();
    const { result, of } = await run;

    assert.equal(calls, 1);
    assert.equal(result.status, 'cancelled');
    const end = of('step_end')[0];
    assert.equal(end?.status, 'cancelled');
    // The step's last attempt is the one that ran: no attempt 2 ever started.
    assert.equal(end?.attempt, 1);
  });
});

describe('hooks', () => {
  test('startup hooks run in order added, then steps, then shutdown hooks in reverse', async () => {
    const log: string[] = [];
    const p = pipeline('ordered')
      .onStartup('open-db', () => {
        log.push('startup:open-db');
      })
      .onStartup('warm-cache', async () => {
        log.push('startup:warm-cache');
      })
      .onShutdown('close-db', () => {
        log.push('shutdown:close-db');
      })
      .onShutdown('flush-cache', async () => {
        log.push('shutdown:flush-cache');
      })
      .step('a', () => log.push('step:a'), { to: 'b' })
      .step('b', () => log.push('step:b'));
    const { result, of } = await collectRun(p.run(undefined));

    assert.equal(result.status, 'succeeded');
    assert.deepEqual(log, ['startup:open-db', 'startup:warm-cache', 'step:a', 'step:b', 'shutdown:flush-cache', 'shutdown:close-db']);
    assert.deepEqual(
      of('hook_start').map((e) => `${e.phase}:${e.hook}`),
      ['startup:open-db', 'startup:warm-cache', 'shutdown:flush-cache', 'shutdown:close-db'],
    );
    const ends = of('hook_end');
    assert.equal(ends.length, 4);
    for (const end of ends) {
      assert.equal(end.status, 'succeeded');
      assert.equal(end.error, undefined);
      assert.equal(typeof end.durationMs, 'number');
    }
  });

  test('hook events sit before run_start and before run_end', async () => {
    const p = pipeline('placed')
      .onStartup('up', () => {})
      .onShutdown('down', () => {})
      .step('a', () => 1);
    const { events } = await collectRun(p.run(undefined));
    const types = events.map((e) => e.type);
    assert.deepEqual(types.slice(0, 4), ['run_queued', 'hook_start', 'hook_end', 'run_start']);
    assert.deepEqual(types.slice(-3), ['hook_start', 'hook_end', 'run_end']);
  });

  test('shutdown hooks run when a step fails', async () => {
    const log: string[] = [];
    const p = pipeline('fails')
      .onShutdown('cleanup', () => {
        log.push('cleanup');
      })
      .step('boom', () => {
        throw new Error('disk full');
      });
    const result = await p.run(undefined);
    assert.equal(result.status, 'failed');
    assert.ok(result.error instanceof StepFailedError);
    assert.deepEqual(log, ['cleanup']);
  });

  test('shutdown hooks run when a step times out', async () => {
    const log: string[] = [];
    const p = pipeline('times-out')
      .onShutdown('cleanup', () => {
        log.push('cleanup');
      })
      .step('hang', () => new Promise(() => {}), { timeout: 10 });
    const result = await p.run(undefined);
    assert.equal(result.status, 'timed_out');
    assert.deepEqual(log, ['cleanup']);
  });

  test('a failing startup hook fails the run with a HookError naming it; no step runs; shutdown runs', async () => {
    const log: string[] = [];
    const p = pipeline('bad-startup')
      .onStartup('connect', () => {
        throw new Error('ECONNREFUSED');
      })
      .onStartup('after-connect', () => {
        log.push('after-connect');
      })
      .onShutdown('cleanup', () => {
        log.push('cleanup');
      })
      .step('work', () => log.push('work'));
    const { result, of } = await collectRun(p.run(undefined));

    assert.equal(result.status, 'failed');
    assert.ok(result.error instanceof HookError);
    assert.equal(result.error.hook, 'connect');
    assert.equal(result.error.phase, 'startup');
    assert.equal(result.error.message, "startup hook 'connect' failed: ECONNREFUSED");
    assert.ok(result.error.cause instanceof Error);
    assert.deepEqual(log, ['cleanup']);
    assert.equal(of('run_start').length, 0);
    assert.equal(of('step_start').length, 0);
    const failed = of('hook_end').find((e) => e.hook === 'connect');
    assert.equal(failed?.status, 'failed');
    assert.equal(failed?.error?.type, 'HookError');
    assert.equal(of('run_end')[0]?.error?.type, 'HookError');
  });

  test('a failing shutdown hook fails an otherwise successful run and names the hook', async () => {
    const log: string[] = [];
    const p = pipeline('bad-shutdown')
      .onShutdown('first-added', () => {
        log.push('first-added');
      })
      .onShutdown('flush', async () => {
        throw new Error('bucket gone');
      })
      .step('work', () => 'done');
    const { result, of } = await collectRun(p.run(undefined));

    assert.equal(result.status, 'failed');
    assert.equal(result.outputs.work, 'done');
    assert.ok(result.error instanceof HookError);
    assert.equal(result.error.hook, 'flush');
    assert.equal(result.error.phase, 'shutdown');
    assert.match(result.error.message, /shutdown hook 'flush' failed: bucket gone/);
    // The other shutdown hooks still ran.
    assert.deepEqual(log, ['first-added']);
    assert.equal(of('run_end')[0]?.status, 'failed');
  });

  test('a failing shutdown hook does not hide a cancellation: the run stays cancelled', async () => {
    const controller = new AbortController();
    const p = pipeline('cancel-then-bad-shutdown')
      .onShutdown('flush', () => {
        throw new Error('bucket gone');
      })
      .step('wait', ({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))));
    const handle = p.run(undefined, { signal: controller.signal });
    setTimeout(() => controller.abort('user left'), 5);
    const { result, of } = await collectRun(handle);
    assert.equal(result.status, 'cancelled');
    assert.equal(of('hook_end')[0]?.status, 'failed');
  });

  test('hooks see the state, the context and the run id', async () => {
    const seen: unknown[] = [];
    const p = pipeline<{ n: number }, { db: string }>('hook-args')
      .onStartup('up', ({ state, context, runId }) => {
        seen.push(state.n, context.db, runId);
        state.n++;
      })
      .step('a', ({ state }) => state.n);
    const result = await p.run({ n: 1 }, { context: { db: 'pg' }, runId: 'run-42' });
    assert.deepEqual(seen, [1, 'pg', 'run-42']);
    assert.equal(result.outputs.a, 2);
  });
});
