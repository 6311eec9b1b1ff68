// Direct unit tests of the core units every run relies on: the executor
// (`execute`, `AbortLink`), the event bus, the ring-buffer FIFO and a stage's queue.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, test } from 'node:test';
import { EventBus } from '../sdk/emitter.ts';
import { CancelledError, StepTimeoutError } from '../sdk/errors.ts';
import type { SpanflowEvent } from '../sdk/events.ts';
import { AbortLink, type AttemptContext, execute, type ExecuteOptions } from '../sdk/executor.ts';
import { Fifo } from '../sdk/fifo.ts';
import { StageQueue } from '../sdk/stages/queue.ts';

const never = new Promise<never>(() => {});
const activeTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
const opts = (extra: Partial<ExecuteOptions> = {}): ExecuteOptions => ({
  name: 'unit',
  signal: new AbortController().signal,
  ...extra,
});

describe('execute', () => {
  test('a timed attempt whose run is cancelled mid-attempt ends cancelled, not timed_out', async () => {
    const parent = new AbortController();
    let seen: AbortSignal | undefined;
    const outcome = execute(
      ({ signal }) => {
        seen = signal;
        setImmediate(() => parent.abort(new CancelledError('run', 'stop')));
        return never;
      },
      opts({ signal: parent.signal, timeoutMs: 60_000, retry: 3 }),
    );
    const result = await outcome;
    assert.equal(result.status, 'cancelled');
    assert.equal(result.attempts, 1);
    assert.ok(result.status === 'cancelled' && result.error instanceof CancelledError);
    assert.equal(seen?.aborted, true, 'the attempt signal fires too');
  });

  test('a function that throws synchronously fails and is retried per policy', async () => {
    for (const timeoutMs of [undefined, 60_000]) {
      let calls = 0;
      const result = await execute(
        () => {
          calls++;
          throw new Error('sync boom');
        },
        opts({ retry: { attempts: 3, initialDelayMs: 0 }, timeoutMs }),
      );
      assert.equal(result.status, 'failed', `timeoutMs=${timeoutMs}`);
      assert.equal(result.attempts, 3);
      assert.equal(calls, 3);
      assert.ok(result.status === 'failed' && (result.error as Error).message === 'sync boom');
    }
  });

  test('an error handler that throws a timeout error ends the step timed_out', async () => {
    const thrown = new StepTimeoutError('unit', 5);
    const ended: string[] = [];
    const result = await execute(
      () => Promise.reject(new Error('plain')),
      opts({
        onError: () => {
          throw thrown;
        },
        observer: { start() {}, retry() {}, end: (_n, status) => ended.push(status) },
      }),
    );
    assert.equal(result.status, 'timed_out');
    assert.ok(result.status === 'timed_out' && result.error === thrown);
    assert.deepEqual(ended, ['timed_out']);
  });

  test('retry { attempts: 3, initialDelayMs: 0 } makes 3 attempts with no delay', async () => {
    const delays: number[] = [];
    const attempts: number[] = [];
    const result = await execute(
      ({ attempt }) => {
        attempts.push(attempt);
        return attempt < 3 ? Promise.reject(new Error(`no ${attempt}`)) : Promise.resolve('ok');
      },
      opts({ retry: { attempts: 3, initialDelayMs: 0 }, observer: { start() {}, retry: (_n, _e, d) => delays.push(d), end() {} } }),
    );
    assert.deepEqual(result, { status: 'succeeded', value: 'ok', attempts: 3 });
    assert.deepEqual(attempts, [1, 2, 3]);
    assert.deepEqual(delays, [0, 0]);
  });

  test('an attempt that never settles ends timed_out and leaves no timer behind', async () => {
    const before = activeTimers();
    let signal: AbortSignal | undefined;
    const result = await execute(
      (context) => {
        signal = context.signal;
        return never;
      },
      opts({ timeoutMs: 20 }),
    );
    assert.equal(result.status, 'timed_out');
    assert.ok(result.status === 'timed_out' && result.error instanceof StepTimeoutError);
    assert.equal(signal?.aborted, true);
    assert.equal(activeTimers(), before, 'no timer keeps the process alive');
  });

  test('a timeout is retried when the policy allows and each attempt gets its own signal', async () => {
    const signals: AbortSignal[] = [];
    const result = await execute(
      ({ signal, attempt }) => {
        signals.push(signal);
        return attempt === 1 ? never : Promise.resolve(attempt);
      },
      opts({ timeoutMs: 20, retry: { attempts: 2, initialDelayMs: 0 } }),
    );
    assert.deepEqual(result, { status: 'succeeded', value: 2, attempts: 2 });
    assert.equal(signals.length, 2);
    assert.equal(signals[0]?.aborted, true);
    assert.equal(signals[1]?.aborted, false);
  });

  test('enter wraps each attempt call exactly once', async () => {
    for (const timeoutMs of [undefined, 60_000]) {
      let entered = 0;
      let inside = false;
      const seenInside: boolean[] = [];
      const result = await execute(
        ({ attempt }: AttemptContext) => {
          seenInside.push(inside);
          return attempt < 3 ? Promise.reject(new Error('again')) : 'done';
        },
        opts({
          timeoutMs,
          retry: { attempts: 3, initialDelayMs: 0 },
          enter: (call) => {
            entered++;
            inside = true;
            try {
              return call();
            } finally {
              inside = false;
            }
          },
        }),
      );
      assert.equal(result.status, 'succeeded');
      assert.equal(entered, 3, `timeoutMs=${timeoutMs}`);
      assert.deepEqual(seenInside, [true, true, true]);
    }
  });
});

describe('AbortLink', () => {
  test('many links on one signal add a single abort listener', () => {
    const controller = new AbortController();
    for (let i = 0; i < 5; i++) new AbortLink(controller.signal);
    assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
  });

  test('an attempt armed on a link settles cancelled when the signal aborts', async () => {
    const controller = new AbortController();
    const link = new AbortLink(controller.signal);
    const outcome = execute(async (_context: AttemptContext) => never, opts({ signal: controller.signal, link }));
    assert.ok(outcome instanceof Promise);
    controller.abort(new CancelledError('run', 'bye'));
    const result = await outcome;
    assert.equal(result.status, 'cancelled');
    assert.ok(result.status === 'cancelled' && result.error instanceof CancelledError);
  });

  test('after an attempt settles the link is disarmed: a later abort does nothing to it', async () => {
    const controller = new AbortController();
    const link = new AbortLink(controller.signal);
    const armed: (() => void)[] = [];
    const spy = {
      add: (d: () => void) => {
        armed.push(d);
        link.add(d);
      },
      delete: (d: () => void) => link.delete(d),
    } as unknown as AbortLink;
    const result = await execute(async () => 'v', opts({ signal: controller.signal, link: spy }));
    assert.deepEqual(result, { status: 'succeeded', value: 'v', attempts: 1 });
    assert.equal(armed.length, 1);
    assert.equal(link.delete(armed[0] as () => void), false, 'already disarmed');
    controller.abort();
    assert.equal(link.delete(armed[0] as () => void), false);
  });

  test('an armed dependent runs once on abort; a disarmed one never runs', () => {
    const controller = new AbortController();
    const link = new AbortLink(controller.signal);
    let disarmedRuns = 0;
    let armedRuns = 0;
    const disarmed = () => disarmedRuns++;
    link.add(disarmed);
    assert.equal(link.delete(disarmed), true);
    const armed = () => armedRuns++;
    link.add(armed);
    controller.abort();
    assert.equal(disarmedRuns, 0);
    assert.equal(armedRuns, 1);
  });
});

describe('EventBus', () => {
  const event = (type: string) => ({ type }) as unknown as SpanflowEvent;

  test('a listener given types receives only those, and wants() reflects them', () => {
    const bus = new EventBus();
    assert.equal(bus.wants('token'), false);
    const got: string[] = [];
    bus.listen((e) => got.push(e.type), new Set(['step_start', 'step_end'] as const));
    assert.equal(bus.wants('step_start'), true);
    assert.equal(bus.wants('step_end'), true);
    assert.equal(bus.wants('token'), false);
    for (const type of ['run_start', 'step_start', 'token', 'step_end']) bus.deliver(event(type));
    assert.deepEqual(got, ['step_start', 'step_end']);
  });

  test('an attached stream makes every type wanted', () => {
    const bus = new EventBus();
    bus.listen(() => {}, new Set(['run_end'] as const));
    bus.stream(4);
    assert.equal(bus.wants('token'), true);
    assert.equal(bus.wants('barrier_wait'), true);
  });

  test('ready() waits while a stream is full and resolves once it is read', async () => {
    const bus = new EventBus();
    const stream = bus.stream(2);
    assert.equal(bus.ready(), undefined);
    bus.deliver(event('a'));
    bus.deliver(event('b'));
    const ready = bus.ready();
    assert.ok(ready instanceof Promise);
    let resolved = false;
    void ready.then(() => {
      resolved = true;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(resolved, false, 'still full');
    assert.equal((await stream.next()).value?.type, 'a');
    await ready;
    assert.equal(bus.ready(), undefined);
  });
});

describe('Fifo', () => {
  test('keeps order across wrap-around and growth', () => {
    const fifo = new Fifo<number>();
    for (let i = 0; i < 10; i++) fifo.push(i);
    for (let i = 0; i < 7; i++) assert.equal(fifo.shift(), i);
    for (let i = 10; i < 40; i++) fifo.push(i);
    assert.equal(fifo.length, 33);
    assert.equal(fifo.peek(), 7);
    const out: number[] = [];
    for (let v = fifo.shift(); v !== undefined; v = fifo.shift()) out.push(v);
    assert.deepEqual(out, Array.from({ length: 33 }, (_, i) => i + 7));
    assert.equal(fifo.length, 0);
  });

  test('clear empties it and it works again afterwards', () => {
    const fifo = new Fifo<string>();
    for (let i = 0; i < 20; i++) fifo.push(`x${i}`);
    fifo.shift();
    fifo.clear();
    assert.equal(fifo.length, 0);
    assert.equal(fifo.shift(), undefined);
    assert.equal(fifo.peek(), undefined);
    fifo.push('a');
    fifo.push('b');
    assert.deepEqual([fifo.shift(), fifo.shift(), fifo.shift()], ['a', 'b', undefined]);
  });
});

describe('StageQueue', () => {
  test('holds exactly its capacity; a blocked putter takes the freed slot', async () => {
    const q = new StageQueue<string>(2);
    assert.equal(q.put('a', 0), undefined);
    assert.equal(q.put('b', 0), undefined);
    let putC = false;
    const blocked = q.put('c', 0);
    assert.ok(blocked instanceof Promise);
    void blocked.then(() => {
      putC = true;
    });
    assert.equal(q.size, 2);
    assert.equal(q.blocked, 1);
    assert.equal(q.take(), 'a');
    await blocked;
    assert.equal(putC, true);
    assert.equal(q.size, 2);
    assert.equal(q.blocked, 0);
    assert.deepEqual([q.take(), q.take()], ['b', 'c']);
  });

  test('force bypasses the capacity', () => {
    const q = new StageQueue<string>(1);
    q.put('a', 0);
    q.force('b', 0);
    assert.deepEqual([q.size, q.blocked], [2, 0]);
  });

  test('lower priority first, first-in first-out within a priority', () => {
    const q = new StageQueue<string>(10);
    q.put('p5-a', 5);
    q.put('p1-a', 1);
    q.put('p5-b', 5);
    q.put('p0', 0);
    q.put('p1-b', 1);
    assert.deepEqual(
      Array.from({ length: 5 }, () => q.take()),
      ['p0', 'p1-a', 'p1-b', 'p5-a', 'p5-b'],
    );
  });

  test('close gives waiting takers undefined only once empty', async () => {
    const q = new StageQueue<string>(4);
    const waiting = q.take();
    assert.ok(waiting instanceof Promise);
    q.close();
    assert.equal(await waiting, undefined);

    const q2 = new StageQueue<string>(4);
    q2.put('x', 0);
    q2.close();
    assert.equal(q2.take(), 'x', 'queued items are still taken after close');
    assert.equal(q2.take(), undefined);
  });

  test('drain returns queued and blocked items and releases blocked putters', async () => {
    const q = new StageQueue<number>(2);
    q.put(0, 0);
    q.put(1, 1);
    const blocked = q.put(2, 0);
    assert.ok(blocked instanceof Promise);
    assert.deepEqual(q.drain(), [0, 1, 2]);
    await blocked;
    assert.equal(q.size, 0);
    assert.equal(q.blocked, 0);
  });
});
