// Stage pipelines, running them: run() in input order, stream() in completion order,
// start()/feed()/join(), backpressure, priorities, item ids and metadata, collectResults,
// values that are undefined, and the same pipeline run twice at once.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DefinitionError, item, stages } from '../sdk/index.ts';
import { eventLog, flush, latch, range } from './support.ts';

describe('run()', { timeout: 10_000 }, () => {
  test('returns results in input order though items finish out of order, through several tasks and stages', async () => {
    const lastDone = latch();
    let finished = 0;
    const completion: number[] = [];
    const p = stages<number>('order')
      .stage('add', {
        workers: 4,
        tasks: async (n: number) => {
          if (n === 0) await lastDone.promise; // item 0 finishes after all the others
          return n + 1;
        },
      })
      .stage<string>('show', {
        workers: 2,
        tasks: [(n: number) => n * 2, (n: number) => `#${n}`],
        onSuccess: (_value, info) => {
          completion.push(info.index);
          if (++finished === 7) lastDone.resolve();
        },
      });
    const result = await p.run(range(8));
    assert.deepEqual(result.results, ['#2', '#4', '#6', '#8', '#10', '#12', '#14', '#16']);
    assert.equal(completion.at(-1), 0, 'item 0 really finished last');
    assert.deepEqual(
      result.items.map((o) => [o.status, o.itemId, o.index]),
      range(8).map((i) => ['completed', String(i), i]),
    );
    assert.equal(result.status, 'succeeded');
    assert.deepEqual([result.fed, result.completed, result.failed, result.skipped], [8, 8, 0, 0]);
    assert.deepEqual(result.failures, []);
  });

  test('an item whose task returns undefined is a result, not a disappearance', async () => {
    const p = stages<number>('void')
      .stage('log', { workers: 2, tasks: (_n: number) => undefined })
      .stage('pass', { tasks: (v: undefined) => v });
    const result = await p.run(range(3));
    assert.deepEqual(result.results, [undefined, undefined, undefined]);
    assert.deepEqual(result.items.map((o) => o.status), ['completed', 'completed', 'completed']);
    assert.equal(result.completed, 3);
    const streamed = [];
    for await (const outcome of p.stream(range(3))) streamed.push(outcome);
    assert.equal(streamed.length, 3);
    assert.ok(streamed.every((o) => o.status === 'completed' && o.value === undefined));
  });

  test('custom ids and metadata reach tasks, outcomes, failures and events', async () => {
    const seen: unknown[] = [];
    const log = eventLog();
    const p = stages<number>('ids').stage('check', {
      tasks: (n: number, ctx) => {
        seen.push([ctx.item.id, ctx.item.index, ctx.item.metadata]);
        if (n < 0) throw new RangeError('negative');
        return n;
      },
    });
    const result = await p.run([item(1, { id: 'order-1', metadata: { customer: 'ada' } }), 2, item(-3, { id: 'order-3', metadata: { customer: 'bob' } })], {
      onEvent: log.listen,
    });
    assert.deepEqual(seen, [
      ['order-1', 0, { customer: 'ada' }],
      ['1', 1, undefined],
      ['order-3', 2, { customer: 'bob' }],
    ]);
    assert.deepEqual(result.items.map((o) => o.itemId), ['order-1', '1', 'order-3']);
    assert.equal(result.failures.length, 1);
    assert.deepEqual(result.failures[0]?.metadata, { customer: 'bob' });
    assert.equal(result.failures[0]?.itemId, 'order-3');
    assert.equal(result.failures[0]?.error.type, 'RangeError');
    const ids = new Set(log.events.flatMap((e) => (e.type === 'item_status' ? [e.itemId] : [])));
    assert.deepEqual([...ids].sort(), ['1', 'order-1', 'order-3']);
  });

  test('collectResults: false keeps no outcomes but still counts every item', async () => {
    const p = stages<number>('nocollect').stage('x', { tasks: (n: number) => (n % 2 ? n : undefined), skip: (n) => n === 4 });
    const result = await p.run(range(6), { collectResults: false });
    assert.deepEqual([result.results, result.items], [[], []]);
    assert.deepEqual([result.fed, result.completed, result.skipped], [6, 5, 1]);
    const off = stages<number>('off', { collectResults: false }).stage('x', { tasks: (n: number) => n });
    const r2 = await off.run(range(4));
    assert.deepEqual([r2.results.length, r2.completed], [0, 4]);
  });

  test('running the same pipeline twice, at once and again, never mixes results', async () => {
    const p = stages<string>('twice')
      .stage('tag', {
        workers: 3,
        tasks: async (v: string, ctx) => {
          await sleep(1 + (ctx.item.index % 3));
          return `${v}!`;
        },
      })
      .stage('upper', { workers: 2, tasks: (v: string) => v.toUpperCase() });
    const as = range(5).map((i) => `a${i}`);
    const bs = range(7).map((i) => `b${i}`);
    const logA = eventLog();
    const logB = eventLog();
    const [a, b] = await Promise.all([p.run(as, { onEvent: logA.listen }), p.run(bs, { onEvent: logB.listen })]);
    assert.deepEqual(a.results, as.map((v) => `${v.toUpperCase()}!`));
    assert.deepEqual(b.results, bs.map((v) => `${v.toUpperCase()}!`));
    assert.notEqual(a.runId, b.runId);
    assert.ok(logA.events.every((e) => e.runId === a.runId));
    assert.ok(logB.events.every((e) => e.runId === b.runId));
    const again = await p.run(as);
    assert.deepEqual(again.results, a.results);
    assert.equal(again.fed, 5);
  });
});

describe('stream()', { timeout: 10_000 }, () => {
  test('yields outcomes in completion order, from an array or an async iterable', async () => {
    for (const source of ['array', 'async'] as const) {
      const oneDone = latch();
      const p = stages<number>('stream').stage('work', {
        workers: 2,
        tasks: async (n: number) => {
          if (n === 0) await oneDone.promise;
          return n * 10;
        },
      });
      async function* numbers() {
        yield 0;
        yield 1;
        yield 2;
      }
      const order: number[] = [];
      for await (const outcome of p.stream(source === 'array' ? [0, 1, 2] : numbers())) {
        assert.equal(outcome.status, 'completed');
        if (outcome.status === 'completed') order.push(outcome.value);
        if (outcome.index === 1) oneDone.resolve();
      }
      assert.equal(order[0], 10, source);
      assert.deepEqual([...order].sort((x, y) => x - y), [0, 10, 20], source);
      assert.notEqual(order.at(-1), 10, source);
    }
  });
});

describe('start(), feed(), join()', { timeout: 10_000 }, () => {
  test('feeds arrays, async iterables and a chosen stage, then joins every item in feed order', async () => {
    const ran: string[] = [];
    const p = stages<number>('manual')
      .stage('parse', { tasks: (n: number) => ran.push(`parse ${n}`) && n * 10 })
      .stage('store', { tasks: (n: number) => ran.push(`store ${n}`) && n + 1 });
    const batch = p.start();
    await batch.feed([1, 2]);
    await batch.feed(
      (async function* () {
        yield 3;
      })(),
    );
    await batch.feed([500], { stage: 'store' });
    await assert.rejects(batch.feed([1], { stage: 'stroe' }), (e: unknown) => e instanceof DefinitionError && /'store'/.test(e.message));
    const result = await batch.join();
    assert.deepEqual(result.results, [11, 21, 31, 501]);
    assert.ok(!ran.includes('parse 500'), 'an item fed into a later stage skips the earlier ones');
    assert.equal(await batch.join(), result, 'join() twice gives the same result');
    await assert.rejects(batch.feed([4]), /no longer takes items/);
  });

  test('backpressure: feed() waits while the slow stage is full, and resolves once it drains', async () => {
    const gate = latch();
    const log = eventLog();
    const p = stages<number>('bp').stage('slow', {
      workers: 2,
      capacity: 3,
      tasks: async (n: number) => {
        await gate.promise;
        return n;
      },
    });
    const batch = p.start({ onEvent: log.listen });
    let resolved = false;
    const feeding = batch.feed(range(20)).then(() => {
      resolved = true;
    });
    await log.waitFor((e) => e.type === 'task_start' && e.itemId === '1');
    while (batch.snapshot().stats.fed < 6) await flush();
    // A few more turns in which feed() could push a seventh item, were it not held back.
    for (let turn = 0; turn < 10; turn++) await flush();
    const snap = batch.snapshot();
    assert.equal(resolved, false, 'feed() is still blocked');
    // 2 items with the workers, 3 in the queue (its capacity, never more), 1 waiting to get in: nothing more is fed.
    assert.equal(snap.stats.fed, 6);
    assert.deepEqual([snap.stats.stages[0]?.inProgress, snap.stats.stages[0]?.queued, snap.stats.stages[0]?.pending], [2, 3, 4]);
    assert.equal(log.events.filter((e) => e.type === 'task_start').length, 2);
    gate.resolve();
    await feeding;
    assert.equal(resolved, true);
    const result = await batch.join();
    assert.deepEqual(result.results, range(20));
  });

  test('priorities: lower first, first-in first-out within one priority', async () => {
    const gate = latch();
    const log = eventLog();
    const order: string[] = [];
    const p = stages<string>('prio').stage('one', {
      workers: 1,
      capacity: 20,
      tasks: async (v: string, ctx) => {
        if (v === 'blocker') await gate.promise;
        order.push(`${v}@${ctx.item.priority}`);
        return v;
      },
    });
    const batch = p.start({ onEvent: log.listen });
    await batch.feed(['blocker']);
    await log.waitFor((e) => e.type === 'task_start');
    await batch.feed(['low-1', 'low-2'], { priority: 5 });
    await batch.feed(['high-1'], { priority: 1 });
    await batch.feed(['mid-1', 'mid-2'], { priority: 3 });
    await batch.feed(['low-3', item('urgent', { priority: 0 })], { priority: 5 });
    await batch.feed(['high-2'], { priority: 1 });
    gate.resolve();
    const result = await batch.join();
    assert.deepEqual(order, ['blocker@0', 'urgent@0', 'high-1@1', 'high-2@1', 'mid-1@3', 'mid-2@3', 'low-1@5', 'low-2@5', 'low-3@5']);
    assert.deepEqual(result.results, ['blocker', 'low-1', 'low-2', 'high-1', 'mid-1', 'mid-2', 'low-3', 'urgent', 'high-2'], 'results stay in feed order');
  });
});
