// StatusTracker fed with synthetic stage-pipeline events: status and
// byStatus, stats, bounded history, callbacks, failures and error summary.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EventBus, now, RunEmitter } from '../sdk/emitter.ts';
import type { ErrorInfo, EventOf, ItemStatus, SpanflowEvent } from '../sdk/index.ts';
import { StatusTracker, type TrackedEvent } from '../sdk/index.ts';
import { type FedItem, statusFeed } from '../sdk/stages/tracker.ts';

type Fields<T extends SpanflowEvent['type']> = Omit<EventOf<T>, 'type' | 'runId' | 'parentRunId' | 'pipeline' | 'seq' | 'time'>;

let seq = 0;
function event<T extends SpanflowEvent['type']>(type: T, fields: Fields<T>, runId = 'run-1'): EventOf<T> {
  seq++;
  return { type, runId, parentRunId: undefined, pipeline: 'etl', seq, time: 1_700_000_000_000 + seq, ...fields } as EventOf<T>;
}

const boom: ErrorInfo = { type: 'TypeError', message: 'boom' };

function itemStatus(itemId: string, status: ItemStatus, stage = 'fetch', extra: { error?: ErrorInfo; attempt?: number } = {}) {
  return event('item_status', { itemId, index: Number(itemId), stage, status, attempt: extra.attempt ?? 1, error: extra.error });
}
function task(itemId: string, stage = 'fetch', name = 'download', attempt = 1) {
  return { itemId, index: Number(itemId), stage, task: name, attempt, worker: 0 };
}
const taskStart = (itemId: string, stage?: string, name?: string, attempt?: number) =>
  event('task_start', task(itemId, stage, name, attempt));
const taskEnd = (itemId: string, status: EventOf<'task_end'>['status'], stage?: string, name?: string, attempt?: number) =>
  event('task_end', { ...task(itemId, stage, name, attempt), status, durationMs: 5, error: status === 'succeeded' ? undefined : boom });
const taskRetry = (itemId: string, stage?: string, name?: string, attempt?: number) =>
  event('task_retry', { ...task(itemId, stage, name, attempt), error: boom, delayMs: 10, durationMs: 5 });
const taskStatus = (itemId: string, text: string) => event('task_status', { ...task(itemId), text });

function feed(tracker: StatusTracker, events: SpanflowEvent[]): void {
  for (const e of events) tracker.observe(e);
}

describe('status and byStatus', () => {
  test("status follows an item's latest item_status event; unknown items are undefined", () => {
    const tracker = new StatusTracker();
    const { observe } = tracker; // unbound, as a pipeline's onEvent would hold it
    observe(itemStatus('0', 'queued'));
    assert.equal(tracker.status('0'), 'queued');
    observe(itemStatus('0', 'in_progress'));
    observe(itemStatus('0', 'retrying'));
    observe(itemStatus('0', 'in_progress'));
    observe(itemStatus('0', 'completed', 'parse'));
    assert.equal(tracker.status('0'), 'completed');
    assert.equal(tracker.status('nope'), undefined);
  });

  test('byStatus lists items in the order they reached the status, and drops items that moved on', () => {
    const tracker = new StatusTracker();
    feed(tracker, [itemStatus('2', 'queued'), itemStatus('0', 'queued'), itemStatus('1', 'queued')]);
    assert.deepEqual(tracker.byStatus('queued'), ['2', '0', '1']);

    feed(tracker, [itemStatus('0', 'in_progress'), itemStatus('2', 'in_progress')]);
    assert.deepEqual(tracker.byStatus('queued'), ['1']);
    assert.deepEqual(tracker.byStatus('in_progress'), ['0', '2']);

    // queued again in the next stage: it reached queued anew, so it goes last
    feed(tracker, [itemStatus('0', 'queued', 'parse')]);
    assert.deepEqual(tracker.byStatus('queued'), ['1', '0']);
    // a repeated status keeps the item's place
    feed(tracker, [itemStatus('1', 'queued', 'parse')]);
    assert.deepEqual(tracker.byStatus('queued'), ['1', '0']);
    assert.deepEqual(tracker.byStatus('completed'), []);
  });

  test('stats has every item status, with zeros, and counts current statuses', () => {
    const tracker = new StatusTracker();
    assert.deepEqual(tracker.stats(), { queued: 0, in_progress: 0, retrying: 0, completed: 0, failed: 0, skipped: 0 });
    feed(tracker, [
      itemStatus('0', 'queued'),
      itemStatus('1', 'queued'),
      itemStatus('2', 'queued'),
      itemStatus('0', 'in_progress'),
      itemStatus('0', 'completed'),
      itemStatus('1', 'skipped'),
    ]);
    assert.deepEqual(tracker.stats(), { queued: 1, in_progress: 0, retrying: 0, completed: 1, failed: 0, skipped: 1 });
  });

  test('items are tracked across batches by id; non item/task events are ignored', () => {
    const tracker = new StatusTracker();
    feed(tracker, [
      event('run_queued', {}),
      event('worker_state', { stage: 'fetch', worker: 0, state: 'busy', itemId: 'a', task: 'download' }),
      event('item_status', { itemId: 'a', index: 0, stage: 'fetch', status: 'completed', attempt: 1, error: undefined }, 'run-1'),
      event('item_status', { itemId: 'b', index: 0, stage: 'fetch', status: 'queued', attempt: 1, error: undefined }, 'run-2'),
    ]);
    assert.equal(tracker.status('a'), 'completed');
    assert.equal(tracker.status('b'), 'queued');
    assert.deepEqual(tracker.history('a').map((e) => e.type), ['item_status']);
  });
});

describe('history', () => {
  test("keeps an item's item_status and task events, oldest first", () => {
    const tracker = new StatusTracker();
    const events = [
      itemStatus('0', 'queued'),
      itemStatus('0', 'in_progress'),
      taskStart('0'),
      taskStatus('0', 'downloading 40%'),
      taskRetry('0'),
      taskStart('0', 'fetch', 'download', 2),
      taskEnd('0', 'succeeded', 'fetch', 'download', 2),
      itemStatus('0', 'completed'),
    ];
    feed(tracker, [...events, itemStatus('1', 'queued')]);
    assert.deepEqual(tracker.history('0'), events);
    assert.deepEqual(tracker.history('1').map((e) => e.type), ['item_status']);
    assert.deepEqual(tracker.history('never-seen'), []);
  });

  test('history: 2 keeps only the last two events of each item', () => {
    const tracker = new StatusTracker({ history: 2 });
    const events = [itemStatus('0', 'queued'), itemStatus('0', 'in_progress'), taskStart('0'), taskEnd('0', 'succeeded'), itemStatus('0', 'completed')];
    feed(tracker, events.slice(0, 3));
    assert.deepEqual(tracker.history('0'), events.slice(1, 3));
    feed(tracker, events.slice(3));
    assert.deepEqual(tracker.history('0'), events.slice(3));
    assert.equal(tracker.status('0'), 'completed');
  });

  test('history: false keeps no events but still tracks status', () => {
    const tracker = new StatusTracker({ history: false });
    feed(tracker, [itemStatus('0', 'queued'), taskStart('0'), itemStatus('0', 'in_progress')]);
    assert.deepEqual(tracker.history('0'), []);
    assert.equal(tracker.status('0'), 'in_progress');
  });

  test('a returned history is a copy', () => {
    const tracker = new StatusTracker();
    tracker.observe(itemStatus('0', 'queued'));
    (tracker.history('0') as TrackedEvent[]).length = 0;
    assert.equal(tracker.history('0').length, 1);
  });

  test('a negative history is refused', () => {
    assert.throws(() => new StatusTracker({ history: -1 }), RangeError);
  });
});

describe('callbacks', () => {
  test('each kind of event reaches its callback, with the event', () => {
    const seen: [string, SpanflowEvent][] = [];
    const tracker = new StatusTracker({
      onItemStatus: (e) => seen.push(['item', e]),
      onTaskStart: (e) => seen.push(['start', e]),
      onTaskComplete: (e) => seen.push(['complete', e]),
      onTaskRetry: (e) => seen.push(['retry', e]),
      onTaskFail: (e) => seen.push(['fail', e]),
    });
    const events = {
      queued: itemStatus('0', 'queued'),
      start: taskStart('0'),
      retry: taskRetry('0'),
      done: taskEnd('0', 'succeeded'),
      timedOut: taskEnd('1', 'timed_out'),
      failed: taskEnd('2', 'failed'),
      status: taskStatus('0', 'working'),
    };
    feed(tracker, Object.values(events));
    assert.deepEqual(seen, [
      ['item', events.queued],
      ['start', events.start],
      ['retry', events.retry],
      ['complete', events.done],
      ['fail', events.timedOut],
      ['fail', events.failed],
    ]);
  });

  test("a throwing callback propagates, but the tracker's state is already updated", () => {
    const tracker = new StatusTracker({
      onItemStatus: () => {
        throw new Error('listener bug');
      },
      onTaskFail: () => {
        throw new Error('listener bug');
      },
    });
    assert.throws(() => tracker.observe(itemStatus('0', 'queued')), /listener bug/);
    assert.throws(() => tracker.observe(taskEnd('0', 'failed')), /listener bug/);
    assert.throws(() => tracker.observe(itemStatus('0', 'failed', 'fetch', { error: boom })), /listener bug/);
    assert.equal(tracker.status('0'), 'failed');
    assert.deepEqual(tracker.byStatus('failed'), ['0']);
    assert.equal(tracker.history('0').length, 3);
    assert.equal(tracker.failed()[0]?.task, 'download');
  });
});

describe('failures', () => {
  const timeout: ErrorInfo = { type: 'TaskTimeoutError', message: 'took too long' };

  function failingRun(): StatusTracker {
    const tracker = new StatusTracker();
    feed(tracker, [
      itemStatus('0', 'in_progress'),
      taskStart('0'),
      taskRetry('0'),
      taskEnd('0', 'failed', 'fetch', 'download', 3),
      itemStatus('0', 'failed', 'fetch', { error: boom }),
      itemStatus('1', 'in_progress', 'parse'),
      itemStatus('1', 'failed', 'parse', { error: timeout, attempt: 2 }),
      itemStatus('2', 'completed', 'parse'),
      itemStatus('3', 'failed', 'parse', { error: boom }),
    ]);
    return tracker;
  }

  test('failed() lists failed items in order, with the failing task and its attempts', () => {
    assert.deepEqual(failingRun().failed(), [
      { itemId: '0', index: 0, stage: 'fetch', task: 'download', error: boom, attempts: 3, metadata: undefined },
      { itemId: '1', index: 1, stage: 'parse', task: undefined, error: timeout, attempts: 2, metadata: undefined },
      { itemId: '3', index: 3, stage: 'parse', task: undefined, error: boom, attempts: 1, metadata: undefined },
    ]);
  });

  test("a failure without an error on item_status takes the failed task's error; other stages' tasks do not count", () => {
    const tracker = new StatusTracker();
    feed(tracker, [taskEnd('0', 'timed_out', 'fetch', 'download', 2), itemStatus('0', 'failed')]);
    feed(tracker, [taskEnd('1', 'failed', 'fetch'), itemStatus('1', 'failed', 'parse', { error: timeout })]);
    feed(tracker, [taskEnd('2', 'failed'), taskEnd('2', 'succeeded', 'fetch', 'download', 2), itemStatus('2', 'failed', 'fetch', { error: timeout })]);
    const [first, second, third] = tracker.failed();
    assert.deepEqual([first?.task, first?.error, first?.attempts], ['download', boom, 2]);
    assert.deepEqual([second?.stage, second?.task], ['parse', undefined]);
    assert.deepEqual([third?.task, third?.attempts], [undefined, 1]);
  });

  test('errorSummary counts failed items by error type and by stage', () => {
    const tracker = failingRun();
    const summary = tracker.errorSummary();
    assert.equal(summary.total, 3);
    assert.deepEqual(summary.byType, { TypeError: 2, TaskTimeoutError: 1 });
    assert.deepEqual(summary.byStage, { fetch: 1, parse: 2 });
    assert.deepEqual(summary.recent, tracker.failed());
    assert.equal(summary.total, tracker.stats().failed);
  });

  test('no failures: an empty summary', () => {
    const tracker = new StatusTracker();
    tracker.observe(itemStatus('0', 'completed'));
    assert.deepEqual(tracker.errorSummary(), { total: 0, byType: {}, byStage: {}, recent: [] });
    assert.deepEqual(tracker.failed(), []);
  });
});

test('clear() forgets every item but keeps options and callbacks', () => {
  let calls = 0;
  const tracker = new StatusTracker({ history: 1, onItemStatus: () => calls++ });
  feed(tracker, [itemStatus('0', 'queued'), taskEnd('0', 'failed'), itemStatus('0', 'failed', 'fetch', { error: boom })]);
  tracker.clear();
  assert.equal(tracker.status('0'), undefined);
  assert.deepEqual(tracker.history('0'), []);
  assert.deepEqual(tracker.byStatus('failed'), []);
  assert.deepEqual(tracker.failed(), []);
  assert.equal(tracker.errorSummary().total, 0);
  assert.deepEqual(Object.values(tracker.stats()), [0, 0, 0, 0, 0, 0]);

  feed(tracker, [itemStatus('0', 'queued'), itemStatus('0', 'in_progress')]);
  assert.equal(calls, 4);
  assert.equal(tracker.history('0').length, 1);
  assert.deepEqual(tracker.byStatus('queued'), []);
});

describe('a tracker fed by its batch (fields, not events)', () => {
  // What a batch hands its tracker's feed: the feed numbers each event with the run's emitter and
  // stamps its time; history() gives back the events the batch would have emitted.
  const stagesFed = [
    { name: 'fetch', tasks: [{ name: 'download' }, { name: 'unpack' }] },
    { name: 'parse', tasks: [{ name: 'read' }] },
  ];
  function fed(tracker: StatusTracker, runId = 'run-1') {
    const emitter = new RunEmitter(new EventBus(), runId, undefined, 'etl');
    const make = statusFeed(tracker);
    assert.ok(make, 'a tracker without callbacks can be fed');
    const feed = make(emitter, stagesFed);
    assert.ok(feed.tasks, 'a tracker with a history is fed task events too');
    return { feed, tasks: feed.tasks };
  }
  const entry = (id: string, index: number, stage = 0): FedItem => ({ id, key: id, index, stage, trackerSlot: -1 });
  const base = (seq: number, runId = 'run-1') => ({ runId, parentRunId: undefined, pipeline: 'etl', seq });
  /** The events with their time checked (stamped while feeding, in order) and set aside. */
  function untimed(events: readonly TrackedEvent[], from: number, to: number): object[] {
    let last = from;
    return events.map((e) => {
      assert.ok(e.time >= last && e.time <= to, `${e.type} ${e.seq}: time ${e.time} within the feeding, in order`);
      last = e.time;
      return { ...e, time: 0 };
    });
  }

  test('history() gives the events, field for field: packed ones, and errors, retries, text and failures kept whole', () => {
    const tracker = new StatusTracker();
    const { feed, tasks } = fed(tracker);
    const a = entry('a', 0);
    const b = { id: '1', key: 1, index: 1, stage: 0, trackerSlot: -1 };
    const from = now();
    feed.status(a, 'fetch', 'queued', 1, undefined, undefined, -1);
    feed.status(b, 'fetch', 'queued', 1, undefined, undefined, -1);
    feed.status(a, 'fetch', 'in_progress', 1, undefined, undefined, performance.now()); // (a reading the batch took)
    tasks.start(a, 0, 1, 3, -1);
    tasks.status(a, 0, 1, 3, 'downloading 40%');
    tasks.retry(a, 0, 1, 3, boom, 10, 5, -1);
    feed.status(a, 'fetch', 'retrying', 1, new TypeError('boom'), undefined, -1);
    tasks.start(a, 0, 2, 3, -1);
    tasks.end(a, 0, 2, 3, 'succeeded', 7.5, undefined, performance.now()); // (a reading the batch took: the event's time)
    tasks.start(a, 1, 1, 3, -1);
    tasks.end(a, 1, 1, 3, 'failed', 2.25, boom, -1);
    feed.status(a, 'fetch', 'failed', 1, new TypeError('boom'), { task: 'unpack', attempts: 1, error: boom }, -1);
    const to = now();
    const item = (seq: number, status: ItemStatus, error?: ErrorInfo) =>
      ({ type: 'item_status', itemId: 'a', index: 0, stage: 'fetch', status, attempt: 1, error, ...base(seq), time: 0 });
    const fields = (seq: number, task: string, attempt: number) => ({ itemId: 'a', index: 0, stage: 'fetch', task, worker: 3, attempt, ...base(seq), time: 0 });
    const retrying = tracker.history('a')[5] as EventOf<'item_status'>;
    assert.deepEqual([retrying.error?.type, retrying.error?.message], ['TypeError', 'boom']);
    assert.deepEqual(untimed(tracker.history('a'), from, to), [
      item(1, 'queued'),
      item(3, 'in_progress'),
      { type: 'task_start', ...fields(4, 'download', 1) },
      { type: 'task_status', ...fields(5, 'download', 1), text: 'downloading 40%' },
      { type: 'task_retry', ...fields(6, 'download', 1), error: boom, delayMs: 10, durationMs: 5 },
      item(7, 'retrying', retrying.error),
      { type: 'task_start', ...fields(8, 'download', 2) },
      { type: 'task_end', ...fields(9, 'download', 2), status: 'succeeded', durationMs: 7.5, error: undefined },
      { type: 'task_start', ...fields(10, 'unpack', 1) },
      { type: 'task_end', ...fields(11, 'unpack', 1), status: 'failed', durationMs: 2.25, error: boom },
      { ...item(12, 'failed', boom), task: 'unpack', attempts: 1 },
    ]);
    // An item whose id is its feed position is kept by the number, and named by its string.
    assert.deepEqual(untimed(tracker.history('1'), from, to), [{ type: 'item_status', itemId: '1', index: 1, stage: 'fetch', status: 'queued', attempt: 1, error: undefined, ...base(2), time: 0 }]);
    assert.deepEqual(tracker.failed(), [{ itemId: 'a', index: 0, stage: 'fetch', task: 'unpack', error: boom, attempts: 1, metadata: undefined }]);
    assert.deepEqual(tracker.stats(), { queued: 1, in_progress: 0, retrying: 0, completed: 0, failed: 1, skipped: 0 });
  });

  test('a fed history keeps the newest `history` events, across regions grown and rings wrapped, as an event-fed one does', () => {
    for (const limit of [1, 3, 8, 9, 20, 100, Infinity]) {
      const tracker = new StatusTracker({ history: limit });
      const { feed, tasks } = fed(tracker);
      // What each item was fed, in order: [type, seq, attempt, text or error or duration].
      const sent = new Map<string, unknown[][]>();
      let seq = 0;
      const log = (it: FedItem, ...what: unknown[]) => {
        const [type, ...rest] = what;
        sent.set(it.id, [...(sent.get(it.id) ?? []), [type, ++seq, ...rest]]);
      };
      const items = Array.from({ length: 5 }, (_, i) => entry(`item-${i}`, i, i % 2));
      for (let round = 0; round < 12; round++) {
        for (const [i, it] of items.entries()) {
          if (i > round) continue; // items start at different times, so their regions interleave
          feed.status(it, stagesFed[it.stage]?.name ?? '', 'in_progress', round + 1, undefined, undefined, -1);
          log(it, 'item_status', round + 1, undefined);
          tasks.start(it, 0, round + 1, i, -1);
          log(it, 'task_start', round + 1, undefined);
          if (round % 3 === 1) {
            tasks.retry(it, 0, round + 1, i, boom, round, 1, -1);
            log(it, 'task_retry', round + 1, boom);
          } else {
            tasks.end(it, 0, round + 1, i, 'succeeded', round / 4, undefined, -1);
            log(it, 'task_end', round + 1, round / 4);
          }
          if (round % 4 === 2) {
            tasks.status(it, 0, round + 1, i, `round ${round}`);
            log(it, 'task_status', round + 1, `round ${round}`);
          }
        }
      }
      const listened = new StatusTracker({ history: limit });
      for (const it of items) {
        const events = tracker.history(it.id);
        const described = events.map((e) => [
          e.type,
          e.seq,
          e.attempt,
          e.type === 'task_status' ? e.text : e.type === 'task_retry' ? e.error : e.type === 'task_end' ? e.durationMs : undefined,
        ]);
        assert.deepEqual(described, (sent.get(it.id) ?? []).slice(-limit), `history ${limit}, ${it.id}`);
        for (const e of events) {
          assert.deepEqual([e.itemId, e.index, e.stage, e.runId], [it.id, it.index, stagesFed[it.stage]?.name, 'run-1']);
          if (e.type !== 'item_status') assert.deepEqual([e.task, e.worker], [stagesFed[it.stage]?.tasks[0]?.name, it.index]);
        }
        // Fed as events, a tracker keeps the same.
        for (const e of events) listened.observe(e);
        assert.deepEqual(listened.history(it.id), events);
      }
    }
  });

  test('many items, fed in turns: each keeps its own events, as regions are reused and their first size adapts', () => {
    for (const limit of [5, 100]) {
      const tracker = new StatusTracker({ history: limit });
      const { feed, tasks } = fed(tracker);
      const items = Array.from({ length: 1500 }, (_, i) => entry(`n${i}`, i));
      const sent = new Map<string, number[]>();
      let seq = 0;
      // Groups of 30 items in flight, each given 13 events (17 for every 7th: it outgrows a region of 16).
      for (let group = 0; group < items.length; group += 30) {
        const flight = items.slice(group, group + 30);
        for (let k = 0; k < 17; k++) {
          for (const it of flight) {
            if (k >= 13 && Number(it.index) % 7 !== 0) continue;
            if (k % 2 === 0) feed.status(it, 'fetch', 'in_progress', k + 1, undefined, undefined, -1);
            else tasks.start(it, 1, k + 1, 0, -1);
            sent.set(it.id, [...(sent.get(it.id) ?? []), ++seq]);
          }
        }
      }
      for (const it of items) {
        const events = tracker.history(it.id);
        assert.deepEqual(events.map((e) => e.seq), (sent.get(it.id) ?? []).slice(-limit), `${it.id}, history ${limit}`);
        assert.ok(events.every((e) => e.itemId === it.id && e.index === it.index));
        assert.deepEqual(events.map((e) => e.type), events.map((e) => (e.attempt % 2 === 1 ? 'item_status' : 'task_start')));
      }
    }
  });

  test('clear() while a batch feeds: the tracker starts over, and the feed goes on into it', () => {
    const tracker = new StatusTracker({ history: 2 });
    const { feed, tasks } = fed(tracker);
    const a = entry('a', 0, 1);
    feed.status(a, 'parse', 'in_progress', 1, undefined, undefined, -1);
    tasks.start(a, 0, 1, 0, -1);
    tasks.retry(a, 0, 1, 0, boom, 5, 1, -1);
    tracker.clear();
    assert.deepEqual(tracker.history('a'), []);
    tasks.start(a, 0, 2, 0, -1);
    tasks.end(a, 0, 2, 0, 'succeeded', 1, undefined, -1);
    feed.status(a, 'parse', 'completed', 1, undefined, undefined, -1);
    assert.deepEqual(tracker.history('a').map((e) => [e.type, e.seq, e.stage, 'task' in e ? e.task : undefined]), [
      ['task_end', 5, 'parse', 'read'],
      ['item_status', 6, 'parse', undefined],
    ]);
    assert.deepEqual(tracker.byStatus('completed'), ['a']);
    assert.equal(tracker.stats().completed, 1);
  });

  test('fields too large to pack (attempts, workers, seqs) are kept whole, as they are', () => {
    const tracker = new StatusTracker();
    const emitter = new RunEmitter(new EventBus(), 'run-big', undefined, 'etl', 2 ** 32 - 2);
    const feed = statusFeed(tracker)?.(emitter, stagesFed);
    const tasks = feed?.tasks;
    assert.ok(feed && tasks);
    const a = entry('a', 2 ** 32 + 5);
    tasks.start(a, 0, 9000, 1, -1);
    tasks.end(a, 0, 9000, 20_000, 'succeeded', 1, undefined, -1);
    feed.status(a, 'fetch', 'completed', 1, undefined, undefined, -1);
    assert.deepEqual(tracker.history('a').map((e) => [e.type, e.seq, e.index, e.attempt, 'worker' in e ? e.worker : undefined]), [
      ['task_start', 2 ** 32 - 1, 2 ** 32 + 5, 9000, 1],
      ['task_end', 2 ** 32, 2 ** 32 + 5, 9000, 20_000],
      ['item_status', 2 ** 32 + 1, 2 ** 32 + 5, 1, undefined],
    ]);
  });

  test('a tracker with a callback is not fed: its callbacks take events', () => {
    assert.equal(statusFeed(new StatusTracker({ onTaskFail: () => {} })), undefined);
    assert.equal(statusFeed(new StatusTracker({ onItemStatus: () => {} })), undefined);
    assert.equal(statusFeed({ observe: () => {} }), undefined);
    assert.equal(fed(new StatusTracker({ history: 1 })).tasks !== undefined, true);
    const emitter = new RunEmitter(new EventBus(), 'r', undefined, 'etl');
    assert.equal(statusFeed(new StatusTracker({ history: false }))?.(emitter, stagesFed).tasks, undefined);
  });
});
