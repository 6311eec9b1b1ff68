// `shutdownOn`: a process that gets SIGTERM or SIGINT while a persisted graph
// run or stage batch is under way. With the option, the run ends `cancelled`
// (in-flight work settles, shutdown hooks run), its store writes everything it
// recorded, and the process then ends by that signal on its own; a second
// signal while it settles ends it at once. With the database away, the store
// stops waiting after SHUTDOWN_FLUSH_MS, says what it could not write, and the
// process still ends by the signal. Without it (the default) the library
// leaves signals alone: the process ends at once and the run is left
// `running`. Real child processes, on PostgreSQL and on the embedded database.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { openStore, type StoreOptions } from '../../exporters/postgres/index.ts';
import { CancelledError, pipeline, ShutdownSignalError, stages } from '../../sdk/index.ts';
import { SHUTDOWN_FLUSH_MS } from '../../sdk/shutdown.ts';
import { adminQuery, NEEDS_POSTGRES, TEST_DATABASE_URL, tempFolder } from '../store-support.ts';
import { freePort, HANG_GUARD, latch } from '../support.ts';

const CHILD = fileURLToPath(new URL('../fixtures/signals-child.ts', import.meta.url));

interface Child {
  readonly process: ChildProcess;
  readonly runId: string;
  /** Everything the child printed so far. */
  output(): string;
  /** Everything the child wrote to stderr so far (also passed on to this process's stderr). */
  errors(): string;
  /** Resolves once the child printed a line matching `pattern`. */
  said(pattern: RegExp): Promise<void>;
}

/** Starts the fixture and waits until its run is under way (some work done, more in flight, rows written). */
async function startChild(kind: 'graph' | 'stages', where: string, schema: string, mode: 'graceful' | 'default' | 'stuck' | 'away'): Promise<Child> {
  const child = spawn(process.execPath, [CHILD, kind, where, schema, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  let out = '';
  let err = '';
  child.stderr?.on('data', (chunk: string) => {
    err += chunk;
    process.stderr.write(chunk);
  });
  const waiting: { pattern: RegExp; resolve: () => void }[] = [];
  child.stdout?.on('data', (chunk: string) => {
    out += chunk;
    for (const w of [...waiting]) if (w.pattern.test(out)) waiting.splice(waiting.indexOf(w), 1) && w.resolve();
  });
  const exited = once(child, 'exit').then(([code, signal]) => {
    throw new Error(`the child exited (code ${code}, signal ${signal}) before saying what was awaited: ${out}`);
  });
  const said = (pattern: RegExp) =>
    Promise.race([new Promise<void>((resolve) => (pattern.test(out) ? resolve() : waiting.push({ pattern, resolve }))), exited]);
  await said(/running [0-9a-f-]{36}\n/);
  const runId = /running ([0-9a-f-]{36})/.exec(out)?.[1] ?? '';
  return { process: child, runId, output: () => out, errors: () => err, said };
}

/** Sends `signal` and waits for the child to end: how it ended. Past `guardMs` (a hang guard only) it is killed: it then ends by SIGKILL. */
async function signalAndWait(child: Child, signal: NodeJS.Signals, guardMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const exit = once(child.process, 'exit');
  child.process.kill(signal);
  const guard = guardMs === undefined ? undefined : setTimeout(() => child.process.kill('SIGKILL'), guardMs);
  const [code, ended] = (await exit) as [number | null, NodeJS.Signals | null];
  clearTimeout(guard);
  return { code, signal: ended };
}

/** The figures the child printed once its store was flushed, just before it raised the signal again. */
function writes(child: Child): { written: number; dropped: number; buffered: number } {
  const found = /writes (\{.*\})\n/.exec(child.output());
  assert.ok(found?.[1], `the child said what its store wrote: ${child.output()}`);
  return JSON.parse(found[1]);
}

/** Reads the stored run (after the child is gone) and checks that every row the store was given is written or counted. */
async function storedRun(options: StoreOptions, child: Child) {
  const store = await openStore(options);
  try {
    const run = await store.getRun(child.runId, { events: false });
    assert.ok(run, 'the run is stored');
    const events = await store.runEvents(child.runId, { limit: 100_000 });
    const figures = writes(child);
    assert.equal(figures.buffered, 0, 'nothing was left unwritten in the buffer');
    assert.equal(events.length + run.eventsDropped, figures.written + figures.dropped, 'rows written + rows counted as dropped = rows produced');
    assert.equal(events.length, figures.written);
    return { run, events };
  } finally {
    await store.close();
  }
}

const folder = tempFolder('signals');
after(() => folder.cleanup());
/** The embedded database, as `persist: true` has it by default. */
const embedded = (): StoreOptions & { dataDir: string } => ({ dataDir: folder.path });
async function postgres(schema: string): Promise<StoreOptions & { url: string; schema: string }> {
  await adminQuery(`drop schema if exists "${schema}" cascade`);
  return { url: TEST_DATABASE_URL, schema };
}
const where = (options: StoreOptions) => options.url ?? options.dataDir ?? '';

describe('a persisted graph run told shutdownOn', () => {
  for (const [signal, backend] of [
    ['SIGTERM', 'postgres'],
    ['SIGINT', 'embedded'],
  ] as const) {
    test(`on ${signal} (${backend}): ends cancelled with its hooks run and its rows written, then the process ends by ${signal}`, { ...HANG_GUARD, skip: backend === 'postgres' && NEEDS_POSTGRES }, async () => {
      const options = backend === 'postgres' ? await postgres('signals_graph') : embedded();
      const child = await startChild('graph', where(options), options.schema ?? 'spanflow', 'graceful');
      const ended = await signalAndWait(child, signal);
      assert.deepEqual(ended, { code: null, signal }, 'it ends by the signal, on its own');
      assert.match(child.output(), /\nshutdown hook started\n/);
      assert.match(child.output(), /\nended cancelled\n/);
      const { run, events } = await storedRun(options, child);
      assert.equal(run.status, 'cancelled');
      assert.match(run.error?.message ?? '', new RegExp(`was cancelled: the process received ${signal} \\(shutdownOn\\)`));
      assert.equal(run.error?.cause?.type, 'ShutdownSignalError');
      const items = run.steps.filter((s) => s.node === 'item');
      assert.deepEqual(items.filter((s) => s.status === 'succeeded').map((s) => s.index).sort(), [0, 1], 'work done before the signal is kept');
      assert.ok(items.some((s) => s.status === 'cancelled'), 'items in flight settled as cancelled');
      assert.ok(events.some((e) => e.type === 'hook_end' && e.data.hook === 'report'), 'the shutdown hook ran and is stored');
      assert.equal(events.at(-1)?.type, 'run_end');
    });
  }

  test('a second signal while it settles (a shutdown hook that never ends) ends the process at once', { ...HANG_GUARD, skip: NEEDS_POSTGRES }, async () => {
    const options = await postgres('signals_second');
    const child = await startChild('graph', where(options), options.schema, 'stuck');
    child.process.kill('SIGTERM');
    await child.said(/shutdown hook started\n/);
    const ended = await signalAndWait(child, 'SIGINT');
    assert.deepEqual(ended, { code: null, signal: 'SIGINT' });
    assert.doesNotMatch(child.output(), /writes /, 'it did not wait for the hook');
    const [row] = await adminQuery<{ status: string }>(`select status from "${options.schema}".runs where id = $1`, [child.runId]);
    assert.equal(row?.status, 'running', 'the run never ended: it is left as a crash leaves it');
  });
});

describe('a persisted stage batch told shutdownOn', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`on ${signal}: ends cancelled with every fed item accounted for, then the process ends by ${signal}`, { ...HANG_GUARD, skip: NEEDS_POSTGRES }, async () => {
      const options = await postgres(`signals_stages_${signal.toLowerCase()}`);
      const child = await startChild('stages', where(options), options.schema, 'graceful');
      const ended = await signalAndWait(child, signal);
      assert.deepEqual(ended, { code: null, signal });
      assert.match(child.output(), /\nended cancelled\n/);
      const { run } = await storedRun(options, child);
      assert.equal(run.status, 'cancelled');
      assert.match(run.error?.message ?? '', new RegExp(`batch .* was cancelled: the process received ${signal} \\(shutdownOn\\)`));
      const items = run.items;
      assert.ok(items);
      assert.ok(items.completed >= 5, 'the items done before the signal are counted');
      assert.ok(items.failed >= 1, 'the items in flight and queued ended failed (cancelled)');
      assert.equal(items.fed, items.completed + items.failed + items.skipped, 'every item fed is accounted for');
    });
  }
});

describe('shutdownOn with the database away', () => {
  test('SIGTERM: the store stops waiting after SHUTDOWN_FLUSH_MS, says what it could not write, and the process ends by SIGTERM', HANG_GUARD, async () => {
    const port = await freePort(); // nothing listens there
    const url = `postgres://spanflow:spanflow@127.0.0.1:${port}/spanflow_test`;
    // The child keeps a handle of its own open (a service's server): nothing but the shutdown may end it.
    const child = await startChild('graph', url, 'signals_away', 'away');
    // The margin is a hang guard only: the old code waited for the database forever (or, with nothing else alive, exited with code 0).
    const ended = await signalAndWait(child, 'SIGTERM', SHUTDOWN_FLUSH_MS + 30_000);
    assert.deepEqual(ended, { code: null, signal: 'SIGTERM' }, `it ends by SIGTERM, on its own (SIGKILL: it was still alive at the hang guard): ${child.output()}`);
    assert.match(child.output(), /\nshutdown hook started\n/);
    assert.match(child.output(), /\nended cancelled\n/);
    const figures = writes(child);
    assert.equal(figures.written, 0);
    assert.ok(figures.buffered > 0, 'the run recorded rows, none of them written');
    assert.match(
      child.errors(),
      new RegExp(
        `SpanflowPersistenceWarning: spanflow/postgres: flush\\(\\) stopped waiting after ${SHUTDOWN_FLUSH_MS} ms: ${figures.buffered} rows are not written yet to ` +
          `postgres://spanflow:\\*\\*\\*@127\\.0\\.0\\.1:${port}/spanflow_test \\(connect ECONNREFUSED [^)]*\\), nor the end of 1 run; the store goes on trying`,
      ),
      'the rows it could not write are named, with the cause',
    );
  });
});

describe('without shutdownOn (the default)', { skip: NEEDS_POSTGRES }, () => {
  for (const kind of ['graph', 'stages'] as const) {
    test(`a ${kind} run installs no listener: SIGTERM ends the process at once and the run is left running`, HANG_GUARD, async () => {
      const options = await postgres(`signals_default_${kind}`);
      const child = await startChild(kind, where(options), options.schema, 'default');
      const ended = await signalAndWait(child, 'SIGTERM');
      assert.deepEqual(ended, { code: null, signal: 'SIGTERM' });
      assert.doesNotMatch(child.output(), /ended |writes /);
      const [row] = await adminQuery<{ status: string }>(`select status from "${options.schema}".runs where id = $1`, [child.runId]);
      assert.equal(row?.status, 'running', 'left as a crash leaves it (the next store to open marks it interrupted)');
    });
  }
});

describe('shutdownOn in this process', HANG_GUARD, () => {
  const counts = () => ({ SIGTERM: process.listenerCount('SIGTERM'), SIGINT: process.listenerCount('SIGINT'), SIGHUP: process.listenerCount('SIGHUP') });
  /** A pipeline whose step says it started, then waits for the gate. */
  const gated = (name: string) => {
    const started = latch();
    const gate = latch();
    const waiting = pipeline(name).step('wait', async () => {
      started.resolve();
      await gate.promise;
    });
    return { waiting, started: started.promise, open: gate.resolve };
  };

  test('one listener per signal however many runs and batches watch it, and none once they end, whichever way', async () => {
    const before = counts();
    const { waiting, started, open } = gated('waits');
    const failing = pipeline('fails').step('boom', () => {
      throw new Error('boom');
    });
    const cancel = new AbortController();
    const runs = [
      waiting.run(undefined, { shutdownOn: ['SIGTERM', 'SIGINT'] }),
      waiting.run(undefined, { shutdownOn: ['SIGTERM'], signal: cancel.signal }),
      failing.run(undefined, { shutdownOn: ['SIGINT', 'SIGINT'] }),
    ];
    const batch = stages<number>('batch').stage('double', { tasks: async (n: number) => n * 2 }).start({ shutdownOn: ['SIGTERM'] });
    await started;
    assert.deepEqual(counts(), { ...before, SIGTERM: before.SIGTERM + 1, SIGINT: before.SIGINT + 1 });
    cancel.abort('enough');
    await batch.feed([1, 2, 3]);
    open();
    const results = await Promise.all(runs);
    assert.deepEqual(results.map((r) => r.status), ['succeeded', 'cancelled', 'failed']);
    assert.equal((await batch.join()).status, 'succeeded');
    assert.deepEqual(counts(), before, 'no listener left behind');
  });

  test('without the option nothing is installed', async () => {
    const before = counts();
    const { waiting, started, open } = gated('plain');
    const run = waiting.run(undefined);
    await started;
    assert.deepEqual(counts(), before);
    open();
    await run;
  });

  test('when the application listens for the signal too, the run is cancelled but the signal is left to the application', async () => {
    const before = counts();
    let heard = 0;
    const mine = () => {
      heard++;
    };
    /** A run watching SIGHUP, under way (its step waits for cancellation) once the promise resolves. */
    const watching = async () => {
      const started = latch();
      const run = pipeline('watched')
        .step('wait', async ({ signal }) => {
          started.resolve();
          await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
        })
        .run(undefined, { shutdownOn: ['SIGHUP'] });
      await started.promise;
      return { run }; // not the handle itself: it is a thenable, and returning it would wait for the run's end
    };
    /** Once a run has settled, the signal is the application's again: only its listener is left. */
    const settled = async () => {
      while (process.listenerCount('SIGHUP') > before.SIGHUP + 1) await new Promise((resolve) => setImmediate(resolve));
    };
    process.on('SIGHUP', mine);
    try {
      const { run } = await watching();
      assert.equal(process.listenerCount('SIGHUP'), before.SIGHUP + 2);
      process.kill(process.pid, 'SIGHUP');
      const result = await run;
      assert.equal(result.status, 'cancelled');
      assert.ok(result.error instanceof CancelledError && result.error.cause instanceof ShutdownSignalError);
      assert.equal(result.error.cause.signal, 'SIGHUP');
      await settled();
      assert.equal(heard, 1, 'the application heard it, and the process goes on');

      // The next run watches again, as the first did.
      const { run: second } = await watching();
      process.kill(process.pid, 'SIGHUP');
      assert.equal((await second).status, 'cancelled');
      await settled();
      assert.equal(heard, 2);
    } finally {
      process.off('SIGHUP', mine);
    }
    assert.deepEqual(counts(), before);
  });

  test('a bad value is refused before anything starts, naming the fix', () => {
    const events: unknown[] = [];
    const p = pipeline('checked').step('only', () => 'x');
    const s = stages<number>('checked-batch').stage('only', { tasks: (n: number) => n });
    const cases: [unknown, RegExp][] = [
      [['SIGKILL'], /pipeline 'checked(-batch)?': shutdownOn: SIGKILL cannot be caught; give signal names, such as shutdownOn: \['SIGTERM', 'SIGINT'\]/],
      [['SIGTERM', 'SIGFOO'], /shutdownOn: 'SIGFOO' is not a signal name; give signal names/],
      ['SIGTERM', /shutdownOn must be an array of signal names \(got string\)/],
      [[15], /shutdownOn: number is not a signal name/],
    ];
    for (const [value, message] of cases) {
      assert.throws(() => p.run(undefined, { shutdownOn: value as NodeJS.Signals[], onEvent: (e) => events.push(e) }), message);
      assert.throws(() => s.start({ shutdownOn: value as NodeJS.Signals[], onEvent: (e) => events.push(e) }), message);
    }
    assert.deepEqual(events, [], 'no run started');
  });
});
