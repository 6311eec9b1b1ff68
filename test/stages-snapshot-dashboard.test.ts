// Stage pipelines, watching them: snapshots taken mid-run (exact numbers while tasks wait on
// latches), item / task / worker events, a StatusTracker on the `tracker` option, and
// dashboards: a custom one, the console views on a fake terminal and a plain stream.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { consoleDashboard } from '../exporters/index.ts';
import { type BatchSummary, type Dashboard, type ErrorInfo, type FailedItem, item, StatusTracker, stages, type TrackedEvent } from '../sdk/index.ts';
import { eventLog, latch, range, status } from './support.ts';

const ESC = '\u001B';

describe('snapshot()', { timeout: 10_000 }, () => {
  test('mid-run: worker states and metrics, stats per stage, error summary — exact numbers', async () => {
    const fetchGate = latch();
    const parseGate = latch();
    const log = eventLog();
    const p = stages<number>('snap')
      .stage('fetch', {
        workers: 2,
        capacity: 3,
        tasks: async function download(n: number, ctx) {
          if (n === 1) throw new TypeError('bad url');
          if (n >= 2) {
            ctx.setTaskStatus(`downloading ${n}`);
            await fetchGate.promise;
          }
          return n;
        },
      })
      .stage('parse', { workers: 1, capacity: 4, tasks: async (n: number) => (n === 100 ? parseGate.promise.then(() => n) : n) });
    const batch = p.start({ onEvent: log.listen });
    await batch.feed([item(100, { id: 'direct' })], { stage: 'parse' });
    // Ids are feed positions unless given: name these after their values. 0 passes fetch, 1 fails,
    // 2 and 3 block fetch's workers, 4-6 fill its queue, 7 waits to get in.
    const feeding = batch.feed(range(8).map((n) => item(n, { id: String(n) })));
    await Promise.all([
      log.waitFor((e) => e.type === 'task_start' && e.itemId === 'direct'),
      log.waitFor(status('0', 'queued', 'parse')),
      log.waitFor(status('1', 'failed')),
      log.waitFor((e) => e.type === 'task_status' && e.itemId === '3'),
      log.waitFor((e) => e.type === 'task_status' && e.itemId === '2'),
      log.waitFor(status('7', 'queued', 'fetch')),
    ]);
    const before = Date.now();
    const snap = batch.snapshot();
    assert.ok(snap.timestamp >= before - 1 && snap.timestamp <= Date.now());
    assert.deepEqual([snap.pipeline, snap.runId, snap.running], ['snap', batch.runId, true]);
    const { expected, ...stats } = snap.stats;
    assert.deepEqual(stats, {
      fed: 9,
      completed: 0,
      failed: 1,
      skipped: 0,
      inFlight: 8,
      queueSizes: { fetch: 3, parse: 1 },
      stages: [
        { name: 'fetch', workers: 2, capacity: 3, pending: 4, queued: 3, inProgress: 2, completed: 1, failed: 1, skipped: 0 },
        { name: 'parse', workers: 1, capacity: 4, pending: 1, queued: 1, inProgress: 1, completed: 0, failed: 0, skipped: 0 },
      ],
    });
    assert.equal(expected, 9);
    const workers = [...snap.workers].sort((a, b) => `${a.stage}${a.itemId}`.localeCompare(`${b.stage}${b.itemId}`));
    assert.deepEqual(
      workers.map((w) => [w.stage, w.state, w.itemId, w.task, w.taskStatus]),
      [
        ['fetch', 'busy', '2', 'download', 'downloading 2'],
        ['fetch', 'busy', '3', 'download', 'downloading 3'],
        ['parse', 'busy', 'direct', 'parse', undefined],
      ],
    );
    const fetchers = snap.workers.filter((w) => w.stage === 'fetch');
    assert.deepEqual([fetchers.reduce((n, w) => n + w.processed, 0), fetchers.reduce((n, w) => n + w.failed, 0)], [1, 1]);
    for (const w of snap.workers) assert.ok(w.processed + w.failed === 0 ? w.avgMs === 0 : Number.isFinite(w.avgMs) && w.avgMs >= 0);
    assert.deepEqual([snap.errors.total, snap.errors.byType, snap.errors.byStage], [1, { TypeError: 1 }, { fetch: 1 }]);
    assert.deepEqual(
      snap.errors.recent.map((f) => [f.itemId, f.stage, f.task, f.error.message]),
      [['1', 'fetch', 'download', 'bad url']],
    );
    assert.deepEqual(p.snapshot()?.stats, snap.stats, "the pipeline's snapshot is its latest batch's");

    // Cheap enough to call in a loop: 1,000 snapshots, all consistent while nothing moves.
    for (let i = 0; i < 1000; i++) {
      const s = batch.snapshot().stats;
      assert.equal(s.fed, s.completed + s.failed + s.skipped + s.inFlight);
      assert.equal(s.stages.reduce((n, st) => n + st.pending + st.inProgress, 0), s.inFlight);
    }

    fetchGate.resolve();
    parseGate.resolve();
    await feeding;
    const result = await batch.join();
    const end = batch.snapshot();
    assert.deepEqual([result.completed, result.failed, end.stats.inFlight, end.running], [8, 1, 0, false]);
    assert.ok(end.workers.every((w) => w.state === 'idle' && w.itemId === undefined && w.taskStatus === undefined));
    assert.deepEqual(end.workers.filter((w) => w.stage === 'parse').map((w) => w.processed), [8]);
  });

  test('1,000 snapshots while items move keep their counts consistent and monotonic', async () => {
    const p = stages<number>('moving')
      .stage('a', { workers: 3, tasks: async (n: number) => n, skip: (n) => n % 10 === 0 })
      .stage('b', { workers: 2, tasks: async (n: number) => (n % 7 === 0 ? Promise.reject(new Error('seven')) : n) });
    const batch = p.start();
    const feeding = batch.feed(range(400));
    let last = 0;
    for (let i = 0; i < 1000; i++) {
      if (i % 5 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const s = batch.snapshot().stats;
      const done = s.completed + s.failed + s.skipped;
      assert.equal(s.fed, done + s.inFlight);
      assert.ok(s.stages.reduce((n, st) => n + st.pending + st.inProgress, 0) <= s.inFlight);
      assert.ok(done >= last);
      last = done;
    }
    await feeding;
    const result = await batch.join();
    assert.deepEqual([result.fed, result.skipped], [400, 40]);
  });
});

describe('error summary', { timeout: 10_000 }, () => {
  test('recentErrors bounds the failures a snapshot keeps; the counts by type and stage, and the result, stay whole', async () => {
    class Rejected extends Error {}
    const p = stages<number>('bounded-errors', { recentErrors: 3 }).stage('check', {
      workers: 2,
      tasks: (n: number) => {
        if (n % 2 === 0) throw new Rejected(`item ${n} rejected`);
        return n;
      },
    });
    const batch = p.start();
    await batch.feed(range(20));
    const result = await batch.join();
    const errors = batch.snapshot().errors;
    assert.equal(result.failed, 10);
    assert.equal(errors.total, 10);
    assert.deepEqual(errors.byType, { Rejected: 10 });
    assert.deepEqual(errors.byStage, { check: 10 });
    assert.equal(errors.recent.length, 3);
    const failedIds = new Set(result.failures.map((f) => f.itemId));
    assert.ok(errors.recent.every((f) => failedIds.has(f.itemId) && f.error.type === 'Rejected'));
    assert.equal(result.failures.length, 10, 'the batch result keeps every failure');
  });
});

describe('events and the tracker option', { timeout: 10_000 }, () => {
  test('item, task and worker events; the tracker holds every status at once, then agrees with the result', async () => {
    const gate = latch();
    const log = eventLog();
    const tracker = new StatusTracker();
    const p = stages<string>('tracked', { tracker, onEvent: log.listen }).stage('work', {
      workers: 2,
      capacity: 10,
      retry: { attempts: 2, initialDelayMs: 5, jitter: 0, retryIf: (e) => e instanceof RangeError },
      skip: (v) => v === 'skip',
      tasks: async function handle(v: string, ctx) {
        if (v === 'block') await gate.promise;
        if (v === 'bad') throw new TypeError('fatal');
        if (v === 'flaky' && ctx.attempt === 1) throw new RangeError('again');
        return v.toUpperCase();
      },
    });
    // Worker 0 holds 'block'; worker 1 runs ok, skip, bad, then waits to retry flaky; 'wait' stays queued.
    const running = p.run(['block', 'ok', 'skip', 'bad', 'flaky', 'wait']);
    await log.waitFor(status('4', 'retrying'));
    assert.deepEqual(tracker.stats(), { queued: 1, in_progress: 1, retrying: 1, completed: 1, failed: 1, skipped: 1 });
    assert.deepEqual(
      ['queued', 'in_progress', 'retrying', 'completed', 'failed', 'skipped'].map((s) => tracker.byStatus(s as 'queued')),
      [['5'], ['0'], ['4'], ['1'], ['3'], ['2']],
    );
    gate.resolve();
    const result = await running;

    assert.deepEqual(tracker.stats(), { queued: 0, in_progress: 0, retrying: 0, completed: 4, failed: 1, skipped: 1 });
    const ids = (s: string) => result.items.filter((o) => o.status === s).map((o) => o.itemId);
    for (const s of ['completed', 'failed', 'skipped'] as const) assert.deepEqual([...tracker.byStatus(s)].sort(), ids(s), s);
    for (const o of result.items) assert.equal(tracker.status(o.itemId), o.status);
    assert.deepEqual(tracker.failed(), result.failures.map((f) => ({ ...f, metadata: undefined })));
    const summary = tracker.errorSummary();
    assert.deepEqual([summary.total, summary.byType, summary.byStage], [1, { TypeError: 1 }, { work: 1 }]);
    assert.deepEqual(
      tracker.history('4').map((e) => `${e.type}:${e.type === 'item_status' ? e.status : e.attempt}`),
      ['item_status:queued', 'item_status:in_progress', 'task_start:1', 'task_retry:1', 'item_status:retrying', 'item_status:in_progress', 'task_start:2', 'task_end:2', 'item_status:completed'],
    );
    const retry = log.of('task_retry')[0];
    assert.deepEqual([retry?.itemId, retry?.attempt, retry?.error.type, retry?.delayMs], ['4', 1, 'RangeError', 5]);
    assert.ok(log.of('task_end').every((e) => e.durationMs >= 0 && e.worker >= 0));
    const w1 = log.of('worker_state').filter((e) => e.itemId === '1');
    assert.deepEqual(w1.map((e) => [e.stage, e.state]), [['work', 'busy']]);
    const states = log.of('worker_state').map((e) => e.state);
    assert.equal(states.filter((s) => s === 'busy').length, states.filter((s) => s === 'idle').length);
    assert.deepEqual(log.of('run_end').map((e) => e.items), [{ fed: 6, completed: 4, failed: 1, skipped: 1 }]);
  });

  test('a tracker without history or task callbacks hears item_status alone, and still names each failure\'s task and attempts', async () => {
    const tracker = new StatusTracker({ history: false });
    const log = eventLog();
    const heard = new Set<string>();
    const observe = (e: Parameters<typeof tracker.observe>[0]) => {
      heard.add(e.type);
      tracker.observe(e);
    };
    const listening = { observe, types: tracker.types };
    const p = stages<number>('quiet-tracker', { tracker: listening, onEvent: log.listen }).stage('work', {
      workers: 2,
      retry: { attempts: 3, initialDelayMs: 1, jitter: 0 },
      tasks: [async (n: number) => n + 1, async function check(n: number) {
        if (n % 2 === 0) throw new RangeError(`odd ${n - 1}`);
        return n;
      }],
    });
    const result = await p.run([1, 2, 3, 4]);
    assert.deepEqual([...heard], ['item_status']);
    assert.deepEqual(tracker.stats(), { queued: 0, in_progress: 0, retrying: 0, completed: 2, failed: 2, skipped: 0 });
    const named = tracker.failed().map((f) => [f.itemId, f.task, f.attempts, f.error.type]);
    assert.deepEqual(named.sort(), [['0', 'check', 3, 'RangeError'], ['2', 'check', 3, 'RangeError']]);
    assert.deepEqual(
      [...tracker.failed()].sort((a, b) => a.index - b.index),
      [...result.failures].sort((a, b) => a.index - b.index).map((f) => ({ ...f, metadata: undefined })),
    );
    const failedEvents = log.of('item_status').filter((e) => e.status === 'failed');
    assert.deepEqual(failedEvents.map((e) => [e.task, e.attempts]), [['check', 3], ['check', 3]]);
  });

  /**
   * The pipeline the fed-tracker tests run twice (a tracker fed by its batch, and one taking events):
   * per-task retry, a skip predicate, a throwing skip predicate, setTaskStatus, per-stage retry, a
   * two-task stage, items that fail in each stage: every kind of item and task event, every way an item ends.
   */
  const fedPipeline = (options: Parameters<typeof stages>[1]) =>
    stages<number>('fed-tracker', options)
      .stage('first', {
        workers: 2,
        retry: { attempts: 2, initialDelayMs: 0, jitter: 0 },
        skip: (n) => {
          if (n === 7) throw new TypeError('bad skip');
          return n % 5 === 0;
        },
        tasks: async function parse(n: number, ctx) {
          if (n % 3 === 0) ctx.setTaskStatus(`parsing ${n}`);
          if (n % 4 === 1 && ctx.attempt === 1) throw new RangeError(`flaky ${n}`);
          if (n % 6 === 3) throw new SyntaxError(`broken ${n}`);
          return n;
        },
      })
      .stage('second', {
        workers: 3,
        retry: { mode: 'stage', attempts: 2, initialDelayMs: 1, jitter: 0 },
        tasks: [async (n: number) => n, async function store(n: number, ctx) {
          if (n % 7 === 2 && ctx.stageAttempt === 1) throw new RangeError(`again ${n}`);
          if (n % 11 === 4) throw new TypeError(`refused ${n}`);
          return n;
        }],
      });

  test('a StatusTracker alone on a batch (handed status changes, no events built) knows exactly what one fed the events does', async () => {
    const items = range(40);
    const alone = new StatusTracker({ history: false });
    const aloneResult = await fedPipeline({ tracker: alone }).run(items);
    const fed = new StatusTracker({ history: false });
    const fedResult = await fedPipeline({ onEvent: fed.observe }).run(items);

    assert.deepEqual([aloneResult.completed, aloneResult.failed, aloneResult.skipped], [fedResult.completed, fedResult.failed, fedResult.skipped]);
    assert.ok(aloneResult.failed > 3 && aloneResult.skipped > 3, 'the pipeline fails and skips items');
    assert.deepEqual(alone.stats(), fed.stats());
    for (const s of ['queued', 'in_progress', 'retrying', 'completed', 'failed', 'skipped'] as const) {
      assert.deepEqual([...alone.byStatus(s)].sort(), [...fed.byStatus(s)].sort(), s);
    }
    for (const n of items) assert.equal(alone.status(String(n)), fed.status(String(n)));
    const byIndex = <T extends { index: number }>(list: readonly T[]) => [...list].sort((a, b) => a.index - b.index);
    // Two runs: the same failures, each error's stack aside.
    const unstacked = (list: readonly FailedItem[]) => byIndex(list).map((f) => ({ ...f, error: { ...f.error, stack: undefined } }));
    assert.deepEqual(unstacked(alone.failed()), unstacked(fed.failed()));
    assert.deepEqual(byIndex(alone.failed()), byIndex(aloneResult.failures).map((f) => ({ ...f, metadata: undefined })));
    const summary = alone.errorSummary();
    const fedSummary = fed.errorSummary();
    assert.deepEqual([summary.total, summary.byType, summary.byStage], [fedSummary.total, fedSummary.byType, fedSummary.byStage]);
    assert.deepEqual(alone.history('1'), []);
  });

  test('a StatusTracker with a history, alone on a batch, is fed its events\' fields: its history is what events give one', async () => {
    const items = range(40);
    for (const history of [100, 4]) {
      const alone = new StatusTracker({ history });
      let observed = 0;
      const observe = alone.observe;
      // (Still a StatusTracker, so it is fed: its observe is never called with an item or task event.)
      Object.defineProperty(alone, 'observe', {
        value: (e: Parameters<typeof observe>[0]) => {
          observed++;
          observe(e);
        },
      });
      // Events are stamped from the monotonic clock (performance.timeOrigin + performance.now()), not Date.now(): the two drift apart.
      const clock = () => performance.timeOrigin + performance.now();
      const started = clock();
      await fedPipeline({ tracker: alone }).run(items, { runId: 'run' });
      const ended = clock();
      assert.equal(observed, 0, 'the fed tracker is handed no event');
      // The same tracker, listening to events (not a StatusTracker, so not fed): the events are built for it.
      const listened = new StatusTracker({ history });
      await fedPipeline({ tracker: { observe: listened.observe, types: listened.types } }).run(items, { runId: 'run' });

      assert.deepEqual(alone.stats(), listened.stats());
      // Two runs: the same events for each item, but for when they came (time, duration, seq: items interleave
      // as timers fire), which worker took them, and each error's stack.
      const unstack = (error: ErrorInfo | undefined) => error && { ...error, stack: undefined };
      const comparable = (e: TrackedEvent) => ({
        ...e,
        seq: 0,
        time: 0,
        ...('durationMs' in e ? { durationMs: 0 } : {}),
        ...('worker' in e ? { worker: 0 } : {}),
        ...('error' in e ? { error: unstack(e.error) } : {}),
      });
      for (const n of items) {
        const events = alone.history(String(n));
        assert.ok(events.length > 0 && events.length <= history);
        assert.deepEqual(events.map(comparable), listened.history(String(n)).map(comparable), `item ${n}, history ${history}`);
        for (const e of events) {
          assert.ok(e.seq > 2, `seq ${e.seq}: numbered as the run's events are`);
          assert.ok(e.time >= started && e.time <= ended, `time ${e.time}: within the run (${started} to ${ended})`);
        }
        // In the order they were numbered, at times that never go back (a task's start and end share the readings its duration is made of).
        for (let k = 1; k < events.length; k++) {
          const [before, after] = [events[k - 1], events[k]] as [TrackedEvent, TrackedEvent];
          assert.ok(after.seq > before.seq && after.time >= before.time, `item ${n}: ${before.type} then ${after.type}`);
        }
      }
      if (history === 100) {
        // Nothing dropped: the events are numbered 3 on (after run_queued and run_start), each once, as when built.
        for (const tracker of [alone, listened]) {
          const seqs = items.flatMap((n) => tracker.history(String(n)).map((e) => e.seq)).sort((a, b) => a - b);
          assert.deepEqual(seqs, seqs.map((_, i) => i + 3));
        }
        const kinds = new Set(items.flatMap((n) => alone.history(String(n)).map((e) => (e.type === 'item_status' ? e.status : e.type))));
        assert.deepEqual([...kinds].sort(), ['completed', 'failed', 'in_progress', 'queued', 'retrying', 'skipped', 'task_end', 'task_retry', 'task_start', 'task_status']);
      }
      assert.deepEqual(alone.failed().map((f) => ({ ...f, error: unstack(f.error) })).sort((a, b) => a.index - b.index), listened.failed().map((f) => ({ ...f, error: unstack(f.error) })).sort((a, b) => a.index - b.index));
    }
  });

  test("a fed tracker's event times come after the user's code that ran before the events (a stage's onSuccess, a skip predicate)", async () => {
    // Events a worker gives the fed tracker with no user code between them may share one clock reading;
    // one that follows the user's code must be read after it. Each callback waits for the clock to move
    // on, then notes the time: an event after it that took an earlier reading would be stamped before it.
    const clock = () => performance.timeOrigin + performance.now();
    const afterCallback = () => {
      const begun = clock();
      while (clock() <= begun); // the clock moves on past any reading taken before the callback
      return clock();
    };
    const succeededAt = new Map<number, number>();
    const skipCheckedAt = new Map<number, number>();
    const tracker = new StatusTracker();
    await stages<number>('shared-readings', { tracker, collectResults: false })
      .stage('first', { workers: 2, tasks: async (n: number) => n, onSuccess: (n) => succeededAt.set(n, afterCallback()) })
      .stage('second', {
        workers: 2,
        skip: (n) => {
          skipCheckedAt.set(n, afterCallback());
          return false;
        },
        tasks: async (n: number) => n,
      })
      .run(range(20));
    for (const n of range(20)) {
      const events = tracker.history(String(n));
      const queuedSecond = events.find((e) => e.type === 'item_status' && e.status === 'queued' && e.stage === 'second');
      const startSecond = events.find((e) => e.type === 'task_start' && e.stage === 'second');
      assert.ok(queuedSecond && startSecond, `item ${n}: queued in and started in the second stage`);
      assert.ok(queuedSecond.time >= (succeededAt.get(n) as number), `item ${n}: queued in 'second' after the first stage's onSuccess`);
      assert.ok(startSecond.time >= (skipCheckedAt.get(n) as number), `item ${n}: its task started after the skip predicate`);
    }
  });
});

describe('dashboards', { timeout: 10_000 }, () => {
  test('a custom dashboard starts before feeding, updates while feed() is blocked, and finishes with the summary', async () => {
    const gate = latch();
    const updatedWhileBlocked = latch();
    const calls: string[] = [];
    let feedDone = false;
    let summary: BatchSummary | undefined;
    const dashboard: Dashboard = {
      onStart: (s) => calls.push(`start fed=${s.stats.fed}`),
      onUpdate: (s) => {
        calls.push(`update fed=${s.stats.fed}`);
        if (!feedDone && s.stats.fed >= 3) updatedWhileBlocked.resolve();
      },
      onFinish: (s, result) => {
        calls.push(`finish completed=${s.stats.completed}`);
        summary = result;
      },
    };
    const p = stages<number>('dash', { dashboard, updateInterval: 10 }).stage('slow', {
      workers: 1,
      capacity: 1,
      tasks: async (n: number) => gate.promise.then(() => n),
    });
    const batch = p.start();
    assert.deepEqual(calls, ['start fed=0'], 'onStart before anything is fed');
    const feeding = batch.feed(range(5)).then(() => {
      feedDone = true;
    });
    await updatedWhileBlocked.promise;
    assert.equal(feedDone, false, 'onUpdate fired while feed() was blocked');
    gate.resolve();
    await feeding;
    const result = await batch.join();
    assert.equal(calls.at(-1), 'finish completed=5');
    assert.equal(calls.at(-2), 'update fed=5');
    assert.deepEqual(summary, {
      runId: result.runId,
      pipeline: 'dash',
      status: 'succeeded',
      error: undefined,
      durationMs: result.durationMs,
      fed: 5,
      completed: 5,
      failed: 0,
      skipped: 0,
    });
  });

  function sink(tty: boolean, filter?: string) {
    const writes: string[] = [];
    const stream = Object.assign(
      new Writable({
        write(chunk, _encoding, done) {
          writes.push(String(chunk));
          done();
        },
      }),
      tty ? { isTTY: true, columns: 100 } : {},
    );
    return { stream, writes, text: () => writes.filter((w) => filter === undefined || w.includes(filter)).join('') };
  }
  const etl = (options: Parameters<typeof stages>[1]) =>
    stages<number>('etl', { updateInterval: 10, ...options })
      .stage('fetch', { workers: 2, tasks: async (n: number) => n })
      .stage('parse', { tasks: (n: number) => (n === 2 ? Promise.reject(new SyntaxError('bad json')) : n) });

  test("consoleDashboard('detailed') redraws a fake terminal in place, showing the stages", async () => {
    const tty = sink(true);
    const result = await etl({ dashboard: consoleDashboard('detailed', { stream: tty.stream }) }).run(range(4));
    assert.equal(result.failed, 1);
    const text = tty.text();
    for (const name of ['etl', 'fetch', 'parse', 'bad json']) assert.ok(text.includes(name), name);
    assert.ok(text.includes(`${ESC}[2K`), 'erases lines to redraw in place');
    assert.ok(text.includes(`${ESC}[1A`) || text.includes(`${ESC}[A`), 'moves the cursor up to redraw');
    assert.ok(text.includes('etl: failed in'), 'ends with the summary');
  });

  test('on a plain stream the same dashboard writes plain lines, no ANSI escapes', async () => {
    const plain = sink(false);
    await etl({ dashboard: consoleDashboard('detailed', { stream: plain.stream }) }).run(range(4));
    assert.ok(plain.writes.length >= 2);
    assert.ok(plain.writes.every((w) => w.endsWith('\n') && !w.includes(ESC)));
    assert.match(plain.writes.at(-1) ?? '', /^etl: failed in .* · 4 fed · 3 completed · 1 failed · 0 skipped/);
  });

  test("progress: true and dashboard: 'compact' work by name once spanflow/console is imported", async () => {
    const out = sink(false, 'etl');
    const write = process.stdout.write;
    // Only our lines are kept; anything else (the test runner's own output) goes through.
    process.stdout.write = ((chunk: unknown, ...rest: unknown[]) =>
      typeof chunk === 'string' && chunk.startsWith('etl')
        ? out.stream.write(chunk)
        : (write as (...args: unknown[]) => boolean).call(process.stdout, chunk, ...rest)) as typeof write;
    try {
      const result = await etl({ progress: true, dashboard: 'compact' }).run(range(4));
      assert.equal(result.fed, 4);
    } finally {
      process.stdout.write = write;
    }
    assert.match(out.text(), /etl: failed in .* · 4 fed · 3 completed · 1 failed/);
  });
});
