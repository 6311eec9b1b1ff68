// The pool as a user meets it: a worker task as a graph step, a map worker and
// a stage task; buffers moved rather than copied; closing that drains; the
// shared default pool; and the pool's metrics, from the catalogue.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Attributes } from '@opentelemetry/api';
import { DataPointType, type MetricData } from '@opentelemetry/sdk-metrics';
import { ATTR, METRICS, pipeline, stages } from '../sdk/index.ts';
import { defaultPool, transfer, WorkerDefinitionError, WorkerPool, WorkerPoolError, workerTask } from '../worker-threads/index.ts';
import type * as tasks from './fixtures/worker-tasks.ts';
import type * as moving from './fixtures/worker-transfer.ts';
import { pullMetrics } from './metrics-support.ts';
import { HANG_GUARD } from './support.ts';

const reader = pullMetrics();

const fixtures = new URL('./fixtures/worker-tasks.ts', import.meta.url);
const pool = new WorkerPool({ name: 'pool-test', minThreads: 1, maxThreads: 2 });
const double = workerTask<typeof tasks.double>(fixtures, 'double', { pool });
const spin = workerTask<typeof tasks.spin>(fixtures, 'spin', { pool });

const collected = async (): Promise<MetricData[]> => {
  const { resourceMetrics, errors } = await reader.collect();
  assert.deepEqual(errors, []);
  return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
};

describe('worker pools', () => {
  after(() => pool.close(), HANG_GUARD);

  test('as a graph step the task gets the run’s state (a map worker: its item), and its output is the step’s', HANG_GUARD, async () => {
    const result = await pipeline<{ n: number }>('doubles')
      .step('whole', double, { to: 'each' })
      .map('each', () => [{ n: 1 }, { n: 2 }, { n: 3 }], { worker: 'one' })
      .step('one', double)
      .run({ n: 21 });
    assert.equal(result.status, 'succeeded');
    assert.equal((result.outputs.whole as { n: number }).n, 42);
    assert.deepEqual(
      (result.outputs.each as { n: number }[]).map((o) => o.n),
      [2, 4, 6],
    );
  });

  test('as a stage task it takes the item’s value and is named by its export, alone, in a list or in a spec', HANG_GUARD, async () => {
    const ended: string[] = [];
    const toInput = (n: number) => ({ n });
    const result = await stages<number>('doubling', { onEvent: (e) => e.type === 'task_end' && ended.push(`${e.task}:${e.status}`) })
      .stage('double', { workers: 2, tasks: [toInput, double] })
      .stage('again', { tasks: { name: 'double-again', run: double, retry: 2 } })
      .run([1, 2, 3]);
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(
      result.results.map((o) => o.n),
      [4, 8, 12],
    );
    assert.deepEqual([...new Set(ended)].sort(), ['double-again:succeeded', 'double:succeeded', 'toInput:succeeded']);
  });

  test('a buffer moved with transfer() crosses to the worker and back without a copy', HANG_GUARD, async () => {
    const mirror = workerTask<typeof moving.mirror>(new URL('./fixtures/worker-transfer.ts', import.meta.url), 'mirror', { pool });
    const pixels = Uint8Array.from([1, 2, 3, 4, 5]);
    const image = await mirror.run(transfer({ width: 5, pixels }, [pixels.buffer]));
    assert.equal(pixels.byteLength, 0, 'the sender’s buffer was moved (detached), not copied');
    assert.deepEqual([...image.pixels], [5, 4, 3, 2, 1]);
    assert.equal(image.moved, true);
    // A typed array alone needs no list; Piscina.move() in the worker moves it back too.
    const moveBack = workerTask<typeof moving.moveBack>(new URL('./fixtures/worker-transfer.ts', import.meta.url), 'moveBack', { pool });
    const bytes = new Uint8Array(1024).fill(7);
    const back = (await moveBack.run(transfer(bytes))) as unknown as Uint8Array;
    assert.equal(bytes.byteLength, 0);
    assert.equal(back.byteLength, 1024);
    assert.equal(back[1023], 7);
  });

  test('pool metrics: threads, idle threads, queue size and utilization as gauges, wait and run time in seconds', HANG_GUARD, async () => {
    await Promise.all(Array.from({ length: 6 }, () => spin.run({ ms: 2 })));
    const emitted = (await collected()).filter((m) => m.descriptor.name.startsWith('spanflow.pool.'));
    const defs = [METRICS.poolThreads, METRICS.poolIdleThreads, METRICS.poolQueueSize, METRICS.poolUtilization, METRICS.poolWaitTime, METRICS.poolRunTime];
    for (const def of defs) {
      const metric = emitted.find((m) => m.descriptor.name === def.name);
      assert.ok(metric, `${def.name} is emitted`);
      assert.equal(metric.descriptor.unit, def.unit, `${def.name} unit`);
      assert.equal(metric.dataPointType, def.instrument === 'histogram' ? DataPointType.HISTOGRAM : DataPointType.GAUGE, `${def.name} instrument`);
      const point = metric.dataPoints.find((p) => p.attributes[ATTR.POOL_NAME] === 'pool-test');
      assert.ok(point, `${def.name} has a point for the pool`);
      assert.deepEqual(Object.keys(point.attributes), [ATTR.POOL_NAME]);
      if (def.instrument === 'histogram') {
        const value = point.value as { count: number; sum: number; buckets: { boundaries: number[] } };
        assert.ok(value.count >= 6, `${def.name} counted the tasks`);
        assert.deepEqual(value.buckets.boundaries, [...(def.buckets ?? [])]);
        if (def === METRICS.poolRunTime) assert.ok(value.sum >= 6 * 0.002 * 0.9, 'run time is in seconds');
      }
    }
    const gauge = (name: string) => emitted.find((m) => m.descriptor.name === name)?.dataPoints.find((p) => p.attributes[ATTR.POOL_NAME] === 'pool-test')?.value as number;
    assert.ok(gauge(METRICS.poolThreads.name) >= 1 && gauge(METRICS.poolThreads.name) <= 2);
    assert.ok(gauge(METRICS.poolIdleThreads.name) <= gauge(METRICS.poolThreads.name));
    assert.equal(gauge(METRICS.poolQueueSize.name), 0);
    const utilization = gauge(METRICS.poolUtilization.name);
    assert.ok(utilization > 0 && utilization <= 1, `utilization ${utilization}`);
  });

  test('utilization is busy thread-time over what the threads could give, per collection interval: within 10 points of constructed busy fractions', HANG_GUARD, async () => {
    const measured = new WorkerPool({ name: 'measured', minThreads: 2, maxThreads: 2 });
    const busy = workerTask<typeof tasks.busyFor>(fixtures, 'busyFor', { pool: measured });
    const now = () => Number(process.hrtime.bigint()) / 1e6; // the clock the pool and busyFor measure with
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    // The pool stamps a task's start and end on its thread and the interval's end at the collection; the test
    // cannot take those very stamps, but it takes one before and one after each (a bracket). A thread or the
    // main thread preempted between two stamps widens a bracket; the pool's stamp stays inside it.
    type Bracket = { readonly lo: number; readonly hi: number };
    type Timed = { readonly start: Bracket; readonly end: Bracket };
    /** Runs busyFor: its start lies between the submission and busyFor's first stamp, its end between busyFor's last and the reply. */
    const timed = async (ms: number): Promise<Timed> => {
      const submitted = now();
      const own = await busy.run({ ms });
      return { start: { lo: submitted, hi: own.start }, end: { lo: own.end, hi: now() } };
    };
    /** Collects: the pool's utilization over the interval since the previous collection, and when the pool took it. */
    const collect = async () => {
      const before = now();
      const metric = (await collected()).find((m) => m.descriptor.name === METRICS.poolUtilization.name);
      const point = metric?.dataPoints.find((p) => p.attributes[ATTR.POOL_NAME] === 'measured');
      assert.ok(point, 'the pool has a utilization point');
      return { value: point.value as number, at: { lo: before, hi: now() } };
    };
    /** The least and the most share of two threads' time from `from` to `to` that the tasks can have been busy, given the brackets. */
    const share = (tasks: readonly Timed[], from: Bracket, to: Bracket): Bracket => {
      const overlap = (start: number, end: number, a: number, b: number) => Math.max(0, Math.min(end, b) - Math.max(start, a));
      const least = tasks.reduce((sum, t) => sum + overlap(t.start.hi, t.end.lo, from.hi, to.lo), 0);
      const most = tasks.reduce((sum, t) => sum + overlap(t.start.lo, t.end.hi, from.lo, to.hi), 0);
      return { lo: least / (2 * (to.hi - from.lo)), hi: Math.min(1, most / (2 * (to.lo - from.hi))) };
    };
    const near = (reported: number, constructed: Bracket, what: string) =>
      assert.ok(
        reported >= constructed.lo - 0.1 && reported <= constructed.hi + 0.1,
        `${what}: reported ${reported.toFixed(3)}, constructed ${constructed.lo.toFixed(3)}..${constructed.hi.toFixed(3)}`,
      );
    try {
      // Both threads up and the module loaded before the first interval.
      await Promise.all([busy.run({ ms: 1 }), busy.run({ ms: 1 })]);
      let last = (await collect()).at;

      // One of the two threads busy part of the time.
      const tasks: Timed[] = [];
      for (let i = 0; i < 6; i++) {
        tasks.push(await timed(40));
        await sleep(20);
      }
      const partly = await collect();
      near(partly.value, share(tasks, last, partly.at), 'one thread busy part of the time');
      last = partly.at;

      // An interval that ends while a task runs: its part so far counts there, the rest in the next.
      const running = timed(120);
      await sleep(40);
      const during = await collect();
      const task = await running;
      const after = await collect();
      near(during.value, share([task], last, during.at), 'the interval a task was running at its end');
      near(after.value, share([task], during.at, after.at), 'the interval the task ended in');

      // All idle: the busy intervals before do not count (no lifetime average).
      await sleep(50);
      near((await collect()).value, { lo: 0, hi: 0 }, 'an idle interval');
    } finally {
      await measured.close();
    }
  });

  test('close() lets queued tasks finish, then the pool takes no more; its gauges read 0', HANG_GUARD, async () => {
    const closing = new WorkerPool({ name: 'closing', minThreads: 1, maxThreads: 1 });
    const slow = workerTask<typeof tasks.spin>(fixtures, 'spin', { pool: closing });
    const running = [slow.run({ ms: 20 }), slow.run({ ms: 20 }), slow.run({ ms: 20 })];
    const gauges = async () =>
      Object.fromEntries(
        (await collected())
          .filter((m) => [METRICS.poolThreads, METRICS.poolIdleThreads, METRICS.poolQueueSize, METRICS.poolUtilization].some((def) => def.name === m.descriptor.name))
          .map((m) => [m.descriptor.name, (m.dataPoints as { attributes: Attributes; value: unknown }[]).find((p) => p.attributes[ATTR.POOL_NAME] === 'closing')?.value]),
      );
    assert.equal((await gauges())[METRICS.poolThreads.name], 1, 'while open, the pool reports its thread');
    await closing.close();
    const turns = await Promise.all(running);
    assert.ok(turns.every((t) => t > 0), 'every queued task ran to its end');
    await assert.rejects(slow.run({ ms: 1 }), (error: unknown) => error instanceof WorkerPoolError && /worker pool 'closing' is closed/.test(error.message));
    // The SDK would go on exporting a closed pool's last values: it reads 0 instead.
    assert.deepEqual(await gauges(), {
      [METRICS.poolThreads.name]: 0,
      [METRICS.poolIdleThreads.name]: 0,
      [METRICS.poolQueueSize.name]: 0,
      [METRICS.poolUtilization.name]: 0,
    });
  });

  test('`await using` closes a pool at the end of its block', HANG_GUARD, async () => {
    let scoped: WorkerPool | undefined;
    {
      await using block = new WorkerPool({ name: 'scoped', minThreads: 1, maxThreads: 1 });
      scoped = block;
      assert.equal((await workerTask<typeof tasks.double>(fixtures, 'double', { pool: block }).run({ n: 1 })).n, 2);
      assert.equal(block.closed, false);
    }
    assert.equal(scoped.closed, true);
    assert.equal(scoped.threads, 0);
  });

  test('tasks without a pool share the default pool; its options come before its first use; closed, a new one opens', HANG_GUARD, async () => {
    const shared = workerTask<typeof tasks.double>(fixtures, 'double');
    assert.equal(shared.pool, undefined);
    assert.equal((await shared.run({ n: 4 })).n, 8);
    const first = defaultPool();
    assert.equal(first.name, 'default');
    assert.equal(defaultPool(), first, 'one per process');
    assert.throws(() => defaultPool({ maxThreads: 1 }), (error: unknown) => error instanceof WorkerDefinitionError && /before its first task runs/.test(error.message));
    await first.close();
    const second = defaultPool({ maxThreads: 1 });
    assert.notEqual(second, first);
    assert.equal(second.maxThreads, 1);
    assert.equal((await shared.run({ n: 5 })).n, 10, 'the task runs on the new default pool');
    await second.close();
  });
});
