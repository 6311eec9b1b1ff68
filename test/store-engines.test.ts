// One store, two engines: the same runs recorded into PostgreSQL and into the
// embedded database (the showcase's three runs with their sub-pipelines,
// retried and failed checkouts, a stage batch with failed items and task
// retries; each event handed to both stores alike) read back the same through
// every query: list, show, events, tokens, run-id prefixes, pipelines, errors,
// compare, stats, cleanup. Times read back alike to the microsecond; what each
// database sets itself (a heartbeat, when a definition was first seen) is only
// checked to be there. Percentiles are checked against Postgres's own
// percentile_cont.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FailedItem, PipelineDescription, RecordingContext, RunRecorder, SpanflowEvent } from '../sdk/index.ts';
import { pipeline, stages } from '../sdk/index.ts';
import { runScenarios } from '../examples/video-render/pipeline.ts';
import type { Store } from '../exporters/postgres/index.ts';
import { adminQuery, ENGINES, NEEDS_POSTGRES } from './store-support.ts';

/** What a recorder was told, in order: a run tree's description, then its events and failed items. */
type Entry = { readonly tree: number } & (
  | { readonly kind: 'record'; readonly description: PipelineDescription }
  | { readonly kind: 'event'; readonly event: SpanflowEvent }
  | { readonly kind: 'failed'; readonly runId: string; readonly failure: FailedItem; readonly at: number }
);

/** A recorder that keeps everything it is told, to tell it again to any store. */
function capturing(): { recorder: RunRecorder; entries: Entry[] } {
  const entries: Entry[] = [];
  let trees = 0;
  return {
    entries,
    recorder: {
      record(description) {
        const tree = trees++;
        entries.push({ tree, kind: 'record', description });
        return {
          listener: (event) => entries.push({ tree, kind: 'event', event }),
          itemFailed: (runId, failure, at) => entries.push({ tree, kind: 'failed', runId, failure, at }),
        };
      },
    },
  };
}

const context: RecordingContext = {
  traceId: (runId) => `${runId.replaceAll('-', '')}`,
  spanId: (runId, node, index) => `${runId.slice(0, 8)}${node.length.toString(16).padStart(4, '0')}${(index ?? 0).toString(16).padStart(4, '0')}`,
  countDropped: () => {},
  items: undefined,
};

/** Tells every store what was captured, entry by entry (so the times each store takes itself differ by little). */
async function replay(stores: readonly Store[], entries: readonly Entry[]): Promise<void> {
  const recordings = new Map<number, ReturnType<Store['record']>[]>();
  for (const entry of entries) {
    if (entry.kind === 'record') {
      recordings.set(
        entry.tree,
        stores.map((store) => store.record(entry.description, context)),
      );
      continue;
    }
    for (const recording of recordings.get(entry.tree) ?? []) {
      if (entry.kind === 'event') {
        if (!recording.types || recording.types.has(entry.event.type)) recording.listener(entry.event);
      } else recording.itemFailed?.(entry.runId, entry.failure, entry.at);
    }
  }
  for (const store of stores) await store.flush();
}

/**
 * A query's answer, made comparable: times to the microsecond (Dates to the
 * millisecond, as Date keeps them), and what each database sets itself, or
 * the store stamps as it writes, reduced to "there".
 */
function comparable(value: unknown, key = ''): unknown {
  if (value instanceof Date) return ['heartbeatAt', 'firstSeenAt', 'since'].includes(key) ? 'a time' : value.getTime();
  if (typeof value === 'number' && !Number.isInteger(value)) return Math.round(value * 1000) / 1000;
  if (Array.isArray(value)) return value.map((v) => comparable(v));
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (value && typeof value === 'object') {
    const row = value as Record<string, unknown>;
    // A failed stage item's end is when the store heard of it: each store stamps its own.
    const stamped = row.nodeKind === 'stage' && row.status !== 'retrying' && key !== 'a' && key !== 'b';
    return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, stamped && k === 'endedAt' && v instanceof Date ? 'a time' : comparable(v, k)]));
  }
  return value;
}

/** Both stores' answers to `ask`, made comparable (a rejection is its error). */
async function both(stores: readonly Store[], ask: (store: Store) => Promise<unknown>): Promise<unknown[]> {
  return Promise.all(stores.map((store) => ask(store).then(comparable, comparable)));
}

class Declined extends Error {
  override name = 'Declined';
}

describe('the same runs on PostgreSQL and on the embedded database', { skip: NEEDS_POSTGRES }, () => {
  const stores: Store[] = [];
  let entries: Entry[] = [];
  const ids: string[] = [];
  let showcase: string[] = [];

  before(async () => {
    for (const engine of ENGINES) stores.push(await engine.open('store_engines'));
    const { recorder, entries: captured } = capturing();
    entries = captured;
    showcase = (await runScenarios({ persist: recorder })).map((r) => r.result.runId);
    let calls = 0;
    const checkout = pipeline<{ paid: boolean }>('checkout')
      .step(
        'charge',
        async ({ state }) => {
          if (calls++ % 3 !== 2) throw new Declined(`card declined (${calls})`);
          state.paid = true;
        },
        { retry: { attempts: 2, initialDelayMs: 1, jitter: 0 }, to: 'receipt' },
      )
      .step('receipt', async function* () {
        yield 'line 1';
        yield { total: 12.5, currency: 'EUR' };
      });
    // Ids that share prefixes, as in store-queries.test.ts.
    for (const runId of ['abcd1000-0000-4000-8000-000000000001', 'abcd1fff-0000-4000-8000-000000000002', 'abce0000-0000-4000-8000-000000000003']) {
      ids.push((await checkout.run({ paid: false }, { persist: recorder, runId })).runId);
    }
    let flaky = 0;
    const batch = await stages<number>('orders', { persist: recorder })
      .stage('check', {
        workers: 2,
        tasks: (n: number) => {
          if (n % 5 === 4) throw new Declined(`order ${n} declined`);
          return n;
        },
      })
      .stage('price', {
        retry: { attempts: 2, initialDelayMs: 1, jitter: 0 },
        tasks: (n: number) => {
          if (n % 3 === 0 && flaky++ % 2 === 0) throw new Error(`price ${n} busy`);
          return n;
        },
      })
      .run(Array.from({ length: 20 }, (_, i) => i));
    ids.push(batch.runId);
    await replay(stores, entries);
  });
  after(async () => {
    for (const store of stores) await store.close();
  });

  const same = async (what: string, ask: (store: Store) => Promise<unknown>) => {
    const [postgres, sqlite] = await both(stores, ask);
    assert.deepEqual(sqlite, postgres, what);
  };

  test('both stores wrote everything', () => {
    const events = entries.filter((e) => e.kind === 'event').length;
    for (const store of stores) assert.deepEqual({ ...store.writes }, { written: store.writes.written, dropped: 0, droppedEvents: 0, buffered: 0, unendedRuns: 0 });
    assert.equal(stores[0]?.writes.written, stores[1]?.writes.written);
    assert.ok((stores[0]?.writes.written ?? 0) > 0 && (stores[0]?.writes.written ?? 0) <= events);
  });

  test('lists: all, by pipeline, status, time, with children, a page at a time', async () => {
    await same('all', (s) => s.listRuns());
    await same('by pipeline', (s) => s.listRuns({ pipeline: 'checkout' }));
    await same('by status', (s) => s.listRuns({ status: ['failed', 'timed_out'] }));
    await same('since', (s) => s.listRuns({ since: new Date(Date.now() - 3_600_000), until: new Date(Date.now() + 60_000) }));
    await same('with children', (s) => s.listRuns({ children: true, limit: 3, offset: 2 }));
  });

  test('shows each run whole: its row, step attempts, events and children', async () => {
    for (const runId of [...showcase, ...ids]) await same(runId, (s) => s.getRun(runId));
    await same('a run that is not there', (s) => s.getRun('00000000-0000-4000-8000-000000000000'));
  });

  test("gives a run's events by type, node and seq, and its tokens", async () => {
    const [film] = showcase;
    assert.ok(film);
    await same('by type', (s) => s.runEvents(film, { types: ['step_start', 'step_end'] }));
    await same('by node, after a seq', (s) => s.runEvents(film, { node: 'analyze', afterSeq: 5, limit: 7 }));
    for (const runId of [...showcase, ...ids]) await same(`tokens of ${runId}`, (s) => s.stepTokens(runId));
    await same('one attempt', (s) => s.stepTokens(ids[2] as string, { node: 'receipt', attempt: 1 }));
  });

  test('resolves run ids from prefixes, and says the same when one is ambiguous or unknown', async () => {
    for (const prefix of ['abce', 'ABCD1F', 'abcd1000-0000', 'abcd', 'ffff', 'xyz']) await same(prefix, (s) => s.resolveRunId(prefix));
    await same('a stored definition', (s) => s.pipeline('video-render'));
    await same('a definition by hash', async (s) => s.pipeline('checkout', (await s.pipeline('checkout'))?.hash));
  });

  test('summarises errors, compares runs and gives stats alike', async () => {
    await same('all errors', (s) => s.errorSummary({ recent: 100 }));
    await same('errors of a run tree', (s) => s.errorSummary({ runId: showcase[2] as string }));
    await same('errors of a pipeline', (s) => s.errorSummary({ pipeline: 'orders' }));
    await same('two runs', (s) => s.compareRuns(showcase[0] as string, showcase[1] as string));
    await same('two checkouts', (s) => s.compareRuns(ids[0] as string, ids[1] as string));
    await same('stats', (s) => s.stats({ days: 1 }));
    await same('stats with children', (s) => s.stats({ days: 1, children: true, pipeline: 'render-farm' }));
  });

  test("percentiles are Postgres's own percentile_cont", async () => {
    const postgres = stores[0] as Store;
    const { pipelines, steps } = await postgres.stats({ days: 1, children: true });
    const runs = await adminQuery<{ pipeline: string; p50: number | null; p95: number | null }>(
      `select pipeline, percentile_cont(0.5) within group (order by duration_ms) as p50, percentile_cont(0.95) within group (order by duration_ms) as p95
       from store_engines.runs group by pipeline order by pipeline`,
    );
    const near = (a: number | null | undefined, b: number | null | undefined) => (a === null || b === null ? a === b : Math.abs((a ?? Number.NaN) - (b ?? Number.NaN)) < 1e-9);
    assert.equal(pipelines.length, runs.length);
    for (const row of runs) {
      const ours = pipelines.find((p) => p.pipeline === row.pipeline);
      assert.ok(near(ours?.p50Ms, row.p50) && near(ours?.p95Ms, row.p95), `${row.pipeline}: ${ours?.p50Ms}/${ours?.p95Ms} vs ${row.p50}/${row.p95}`);
    }
    const stepRows = await adminQuery<{ pipeline: string; node: string; p95: number | null }>(
      `select r.pipeline, s.node, percentile_cont(0.95) within group (order by s.duration_ms) as p95
       from store_engines.step_attempts s join store_engines.runs r on r.id = s.run_id where s.attempt > 0 group by r.pipeline, s.node`,
    );
    for (const step of steps) {
      const theirs = stepRows.find((r) => r.pipeline === step.pipeline && r.node === step.node);
      assert.ok(near(step.p95Ms, theirs?.p95), `${step.pipeline} ${step.node}: ${step.p95Ms} vs ${theirs?.p95}`);
    }
  });

  test('cleanup matches the same runs, and deletes the same', async () => {
    await same('a dry run', (s) => s.cleanup({ keep: 1 }));
    await same('by status and pipeline', (s) => s.cleanup({ status: ['failed'], pipeline: 'checkout', olderThan: 0 }));
    await same('deleting', (s) => s.cleanup({ keep: 1, status: ['succeeded', 'timed_out'], dryRun: false }));
    await same('what is left', (s) => s.listRuns({ children: true }));
    await same('and its events', (s) => Promise.all(showcase.map((runId) => s.runEvents(runId))));
  });
});
