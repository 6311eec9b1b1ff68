// Direct unit tests of the core units every run relies on: the executor
// (`execute`, `AbortLink`), what a thrown value and a throwing error handler
// leave in events and results, the event bus, the ring-buffer FIFO and a stage's queue.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, test } from 'node:test';
import { EventBus } from '../sdk/emitter.ts';
import { CancelledError, ErrorHandlerError, StepFailedError, StepTimeoutError, toErrorInfo } from '../sdk/errors.ts';
import type { SpanflowEvent } from '../sdk/events.ts';
import { AbortLink, type AttemptContext, execute, type ExecuteOptions } from '../sdk/executor.ts';
import { Fifo } from '../sdk/fifo.ts';
import { collectRun, pipeline, stages } from '../sdk/index.ts';
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

describe('what a thrown value that is not an Error says', () => {
  const cycle: Record<string, unknown> = { name: 'loop' };
  cycle.self = cycle;
  const cases: [string, unknown, string, string][] = [
    ['an object', { code: 1 }, 'object', '{"code":1}'],
    ['a string', 'x', 'string', 'x'],
    ['null', null, 'null', 'null'],
    ['a number', 42, 'number', '42'],
    ['undefined', undefined, 'undefined', 'undefined'],
    ['an object with a cycle and a bigint', { cycle, size: 10n }, 'object', '{"cycle":{"name":"loop","self":"[Circular]"},"size":"10"}'],
  ];

  for (const [what, thrown, type, message] of cases) {
    test(`${what}: its JSON (or text) in step_end, run_end, the run result and a stage item's failure`, async () => {
      const { result, of } = await collectRun(
        pipeline('throws').step('s', () => {
          throw thrown;
        }).run(undefined),
      );
      assert.equal(result.status, 'failed');
      assert.deepEqual(of('step_end').map((e) => [e.error?.type, e.error?.message]), [[type, message]]);
      assert.equal(result.error?.message, `step 's' failed after 1 attempt: ${message}`);
      assert.equal(result.error?.cause, thrown, 'the value itself is kept');
      const runEnd = of('run_end')[0]?.error;
      assert.equal(runEnd?.message, `step 's' failed after 1 attempt: ${message}`);
      assert.deepEqual([runEnd?.cause?.type, runEnd?.cause?.message], [type, message], 'run_end names what the step threw');

      const batch = await stages<number>('throws').stage('s', { tasks: () => {
        throw thrown;
      } }).run([1]);
      assert.deepEqual(batch.failures.map((f) => [f.error.type, f.error.message]), [[type, message]]);
      for (const text of [result.error?.message, runEnd?.message, batch.failures[0]?.error.message]) assert.doesNotMatch(text ?? '', /\[object Object\]/);
    });
  }

  test('a huge object is cut, saying how long it was; a toJSON that throws is named', () => {
    const info = toErrorInfo({ blob: 'x'.repeat(10_000) });
    assert.match(info.message, /^\{"blob":"x+… \(10011 characters in all\)$/);
    assert.ok(info.message.length < 2_100);
    assert.equal(toErrorInfo({ toJSON: () => { throw new Error('no'); } }).message, '{"unserializable":"Error: no"}');
  });

  test('an Error without a message (a refused connection’s AggregateError) says what it holds; an error-like object its message', () => {
    const refused = new AggregateError([Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })]);
    assert.equal(toErrorInfo(refused).message, 'connect ECONNREFUSED 127.0.0.1:1');
    assert.equal(toErrorInfo(Object.assign(new Error(), { code: 'EPIPE' })).message, 'Error EPIPE');
    assert.equal(toErrorInfo(new TypeError()).message, 'TypeError');
    assert.equal(toErrorInfo({ message: 'quota exceeded', status: 429 }).message, 'quota exceeded');
  });

  test('a cancellation whose reason is an object names it', () => {
    assert.equal(new CancelledError('run r', { why: 'deploy' }).message, 'run r was cancelled: {"why":"deploy"}');
  });
});

describe('an onError handler that throws', () => {
  class Upstream extends Error {
    override name = 'Upstream';
  }
  const failing = (onError: () => never) =>
    pipeline('handled').step('fetch', () => {
      throw new Upstream('upstream down');
    }, { onError });
  const chain = (info: { type: string; message: string; cause?: unknown } | undefined): [string, string][] => {
    const out: [string, string][] = [];
    for (let at = info as { type: string; message: string; cause?: unknown } | undefined; at; at = at.cause as typeof at) out.push([at.type, at.message]);
    return out;
  };

  test('an Error without a cause: the step fails with it, the original as its cause, and events show both', async () => {
    const translated = new Error('payment provider unavailable');
    const { result, of } = await collectRun(failing(() => {
      throw translated;
    }).run(undefined));
    assert.equal(result.status, 'failed');
    assert.ok(result.error instanceof StepFailedError);
    assert.equal(result.error.cause, translated);
    assert.ok(translated.cause instanceof Upstream, 'the original is the cause of what the handler threw');
    assert.deepEqual(chain(of('step_end')[0]?.error), [
      ['Error', 'payment provider unavailable'],
      ['Upstream', 'upstream down'],
    ]);
    assert.deepEqual(chain(of('run_end')[0]?.error), [
      ['StepFailedError', "step 'fetch' failed after 1 attempt: payment provider unavailable"],
      ['Error', 'payment provider unavailable'],
      ['Upstream', 'upstream down'],
    ]);
    assert.equal(Object.keys(translated).includes('cause'), false, 'the cause is set as `new Error(m, { cause })` sets it: not enumerable');
  });

  test('a non-Error, or an Error with a cause of its own, is wrapped in an ErrorHandlerError that names both', async () => {
    const own = new Error('translated', { cause: 'its own cause' });
    for (const [thrown, said] of [[{ code: 7 }, '{"code":7}'], [own, 'translated'], ['text', 'text']] as const) {
      const { result, of } = await collectRun(failing(() => {
        throw thrown;
      }).run(undefined));
      assert.equal(result.status, 'failed');
      const wrapped = result.error?.cause;
      assert.ok(wrapped instanceof ErrorHandlerError);
      assert.equal(wrapped.message, `onError handler of step 'fetch' threw ${said} while handling: upstream down`);
      assert.equal(wrapped.thrown, thrown);
      assert.ok(wrapped.cause instanceof Upstream);
      assert.deepEqual(chain(of('step_end')[0]?.error), [
        ['ErrorHandlerError', wrapped.message],
        ['Upstream', 'upstream down'],
      ]);
    }
    assert.equal(own.cause, 'its own cause', 'an error that has a cause keeps it');
  });

  test('a handler that rethrows the original, or an error caused by it, fails the step with exactly that', async () => {
    let original: unknown;
    const rethrown = await execute(
      () => {
        throw new Upstream('down');
      },
      opts({
        onError: (error) => {
          original = error;
          throw error;
        },
      }),
    );
    assert.ok(rethrown.status === 'failed' && rethrown.error === original && rethrown.error instanceof Upstream);
    assert.equal((original as Error).cause, undefined, 'no cause pointing at itself');
    const outer = await execute(
      () => {
        throw new Upstream('down');
      },
      opts({
        onError: (error) => {
          throw new Error('outer', { cause: new Error('middle', { cause: error }) });
        },
      }),
    );
    assert.ok(outer.status === 'failed' && outer.error instanceof Error && outer.error.message === 'outer');
    assert.deepEqual(chain(toErrorInfo(outer.error)), [
      ['Error', 'outer'],
      ['Error', 'middle'],
      ['Upstream', 'down'],
    ]);
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
