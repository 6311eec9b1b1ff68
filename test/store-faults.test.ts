// Faults met inside one process: a row the database refuses among many (it
// alone is dropped and counted, the others are written), an answer lost after
// its insert committed while such a row is being isolated, the store's tables
// gone mid-run (an error no retry fixes: reported once, every row counted), a
// server that is down before the store ever opens, and one that never answers:
// close() settles within its time limit in each, and says what it gave up in
// one warning; a run does not wait on a server that has stopped answering. On PostgreSQL and on the embedded database where both can meet it.

import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { createStore, openStore, type Store } from '../exporters/postgres/index.ts';
import { pipeline, type RunRecorder, type SpanflowEvent, safeJson } from '../sdk/index.ts';
import { droppedByReason } from './fixtures/store-fault.ts';
import { pullMetrics } from './metrics-support.ts';
import { adminQuery, captureWarnings, ENGINES, NEEDS_POSTGRES, TEST_DATABASE_URL } from './store-support.ts';
import { flush, freePort, HANG_GUARD } from './support.ts';

const reader = pullMetrics();

/** A run of 3 steps that streams `tokens` tokens: its events are the rows. */
const streaming = (tokens: number) =>
  pipeline('streaming')
    .step('first', () => 'ready', { to: 'tokens' })
    .step('tokens', async function* () {
      for (let i = 0; i < tokens; i++) yield `token ${i}`;
    });

/** A time the database refuses (NaN: Postgres says so; SQLite gets none for a column that needs one) as each row is inserted: a value no retry makes good. */
const badTime = (event: SpanflowEvent): SpanflowEvent => ({ ...event, time: Number.NaN });

/** `store`, with the events whose seq is in `bad` spoiled (by default with a time the database refuses). */
function refusing(store: Store, bad: ReadonlySet<number>, spoil = badTime): RunRecorder {
  return {
    record(description, context) {
      const recording = store.record(description, context);
      return { ...recording, listener: (event: SpanflowEvent) => recording.listener(bad.has(event.seq) ? spoil(event) : event) };
    },
  };
}

/** A listener on loopback that accepts and says nothing (a hung server, a proxy whose far side is gone). */
async function silentServer(): Promise<{ port: number; close: () => void }> {
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  return {
    port: (silent.address() as { port: number }).port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      silent.close();
    },
  };
}

/** Drops the store's tables from another connection, as an operator (or a bad migration) might, mid-run. */
async function dropTables(store: Store): Promise<void> {
  if (store.kind === 'postgres') {
    await adminQuery(`drop schema ${store.schema} cascade`);
    return;
  }
  const other = new DatabaseSync(store.location);
  try {
    other.exec('drop table events; drop table step_attempts; drop table runs; drop table pipelines');
  } finally {
    other.close();
  }
}

for (const engine of ENGINES) {
  describe(`a row the database refuses, on ${engine.name}`, { skip: engine.skip }, () => {
    let store: Store | undefined;
    after(() => store?.close(), HANG_GUARD);

    test('among thousands: it alone is dropped and counted, every other row is written, in order', HANG_GUARD, async () => {
      store = await engine.open('store_faults_rows', { batchSize: 5000 });
      const bad = new Set([3, 1500, 2999]);
      const warnings = captureWarnings('SpanflowPersistenceWarning');
      const events: SpanflowEvent[] = [];
      const before = await droppedByReason(reader);
      const result = await streaming(3000).run(undefined, { persist: refusing(store, bad), onEvent: (e) => events.push(e) });
      await store.flush();
      await flush(); // warnings are emitted on the next tick
      warnings.stop();
      assert.equal(result.status, 'succeeded');
      assert.ok(events.length > 3000);
      assert.deepEqual(
        (await store.runEvents(result.runId, { limit: 100_000 })).map((e) => e.seq),
        events.map((e) => e.seq).filter((seq) => !bad.has(seq)),
        'every event but the refused ones is stored',
      );
      assert.deepEqual({ ...store.writes }, { written: events.length - 3, dropped: 3, droppedEvents: 3, buffered: 0, unendedRuns: 0 });
      const run = await store.getRun(result.runId, { events: false });
      assert.deepEqual([run?.status, run?.eventsDropped], ['succeeded', 3], "the run's row counts what it lost");
      assert.equal((await droppedByReason(reader)).rejected ?? 0, (before.rejected ?? 0) + 3, 'the metric counts them as rejected');
      assert.equal(warnings.messages.length, 1, warnings.messages.join(' | '));
      const why = engine.kind === 'postgres' ? 'timestamp cannot be NaN' : 'NOT NULL constraint failed: events.time';
      assert.match(warnings.messages[0] ?? '', new RegExp(`the database at .* refused a row \\(${why}\\): it is dropped, and the rows around it are written`));
    });

    test("the store's tables dropped mid-run: reported once, every row after counted, and close() settles", HANG_GUARD, async () => {
      const vanishing = await engine.open('store_faults_gone');
      const warnings = captureWarnings('SpanflowPersistenceWarning');
      const events: SpanflowEvent[] = [];
      const result = await pipeline('vanishing')
        .step(
          'drop',
          async () => {
            await vanishing.flush();
            await dropTables(vanishing);
          },
          { to: 'more' },
        )
        .step('more', async function* () {
          for (let i = 0; i < 50; i++) yield i;
        })
        .run(undefined, { persist: vanishing, onEvent: (e) => events.push(e) });
      await vanishing.close({ timeoutMs: 10_000 });
      await flush(); // warnings are emitted on the next tick
      warnings.stop();
      assert.equal(result.status, 'succeeded');
      const { written, droppedEvents, unendedRuns } = vanishing.writes;
      assert.ok(written > 0 && droppedEvents > 50);
      assert.equal(written + droppedEvents, events.length, 'rows written + rows counted as dropped = rows produced');
      assert.equal(unendedRuns, 1);
      assert.equal(warnings.messages.length, 1, warnings.messages.join(' | '));
      const gone = engine.kind === 'postgres' ? '(schema|relation) "store_faults_gone(\\.\\w+)?" does not exist' : 'no such table: store_faults_gone\\.\\w+';
      assert.match(warnings.messages[0] ?? '', new RegExp(`cannot write to .*: ${gone}: run \`spanflow migrate\` .*\\. Not retrying`));
    });

    test('a run whose pipeline meta holds what JSON cannot say: stored, its meta read back with the bigint as digits and the cycle named', async () => {
      const metaStore = await engine.open('store_faults_meta');
      try {
        const owner: Record<string, unknown> = { team: 'media', budget: 12345678901234567890n };
        owner.self = owner;
        const shared = { region: 'eu' };
        const meta = pipeline('odd-meta', { meta: { owner, limits: [1n, 2n], primary: shared, fallback: shared } }).step('only', () => 'done');
        const first = await meta.run(undefined, { persist: metaStore });
        const second = await meta.run(undefined, { persist: metaStore });
        await metaStore.flush();
        assert.equal(first.status, 'succeeded');
        const expected = {
          owner: { team: 'media', budget: '12345678901234567890', self: '[Circular]' },
          limits: ['1', '2'],
          primary: { region: 'eu' },
          fallback: { region: 'eu' },
        };
        assert.deepEqual((await metaStore.getRun(first.runId))?.pipelineMeta, expected);
        const stored = await metaStore.pipeline('odd-meta');
        assert.deepEqual(stored?.graph.meta, expected);
        assert.equal((await metaStore.getRun(second.runId))?.pipelineHash, stored?.hash, 'one definition, one hash');
      } finally {
        await metaStore.close();
      }
    });
  });
}

/**
 * A real pg.Pool on the test database whose connections lose an answer: once
 * an insert into the events table has been refused, the next one that commits
 * loses its answer (the caller gets a connection error with no SQLSTATE, as
 * when the connection drops between the commit and the reply). With
 * `thenUnreachable`, the try after that one does not reach the database (a
 * refused connection: it commits nothing). `log` says what became of each events insert.
 */
function losingAnAnswer(thenUnreachable: boolean) {
  const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL });
  const log: ('refused' | 'lost' | 'unreachable' | 'duplicate' | 'written')[] = [];
  const query = async (client: pg.PoolClient, text: string, values: unknown[]) => {
    if (!/^\s*insert into "[^"]+"\."events"/.test(text)) return client.query(text, values);
    if (log.includes('lost') && thenUnreachable && !log.includes('unreachable')) {
      log.push('unreachable');
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    }
    let result: pg.QueryResult;
    try {
      result = await client.query(text, values);
    } catch (error) {
      log.push((error as { code?: string }).code === '23505' ? 'duplicate' : 'refused');
      throw error;
    }
    if (log.includes('refused') && !log.includes('lost')) {
      log.push('lost');
      throw new Error('Connection terminated unexpectedly');
    }
    log.push('written');
    return result;
  };
  // Kysely keeps one connection per client object: one wrapper per client.
  const wrapped = new WeakMap<pg.PoolClient, pg.PoolClient>();
  const losing = {
    connect: async () => {
      const client = await pool.connect();
      let wrapper = wrapped.get(client);
      if (!wrapper) {
        wrapper = new Proxy(client, {
          get: (target, key) => {
            if (key === 'query') return (text: string, values: unknown[]) => query(target, text, values);
            const value = Reflect.get(target, key);
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
        wrapped.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
    options: pool.options,
  };
  return { pool: losing, log };
}

describe('an answer lost after its insert committed, while a refused row is isolated', { skip: NEEDS_POSTGRES }, () => {
  // An attempt number Postgres cannot take as an integer: the whole statement is refused as its arrays are read, before any row is inserted.
  const badAttempt = (event: SpanflowEvent): SpanflowEvent => ({ ...event, attempt: 0.5 }) as SpanflowEvent;

  for (const thenUnreachable of [false, true]) {
    const then = thenUnreachable ? ', and the next try not reaching the database' : '';
    test(`only the refused row is dropped; the rows the lost answer committed count as written, once${then}`, HANG_GUARD, async () => {
      const schema = `store_faults_lost_${thenUnreachable ? 'then_away' : 'answer'}`;
      await adminQuery(`drop schema if exists ${schema} cascade`);
      const { pool, log } = losingAnAnswer(thenUnreachable);
      // One batch (nothing is written before the run ends), retried at once.
      const store = createStore({ pool, schema, flushIntervalMs: 60_000, retryDelayMs: 1 });
      try {
        const bad = 15; // a token in the middle of the batch: the rows before it are written by the halving
        const events: SpanflowEvent[] = [];
        const before = await droppedByReason(reader);
        const result = await streaming(30).run(undefined, { persist: refusing(store, new Set([bad]), badAttempt), onEvent: (e) => events.push(e) });
        await store.flush();
        assert.equal(result.status, 'succeeded');
        assert.ok(log.includes('lost') && log.includes('duplicate'), `a try committed with its answer lost, and the retry found its rows there: ${log.join(', ')}`);
        if (thenUnreachable) assert.ok(log.includes('unreachable'), log.join(', '));
        const stored = await store.runEvents(result.runId, { limit: 1000 });
        assert.deepEqual(
          stored.map((e) => e.seq),
          events.map((e) => e.seq).filter((seq) => seq !== bad),
          'every event but the refused one is stored',
        );
        assert.deepEqual({ ...store.writes }, { written: events.length - 1, dropped: 1, droppedEvents: 1, buffered: 0, unendedRuns: 0 });
        assert.equal((await droppedByReason(reader)).rejected ?? 0, (before.rejected ?? 0) + 1, 'one row counted as rejected');
        assert.equal((await store.getRun(result.runId))?.eventsDropped, 1);
      } finally {
        await store.close();
        await pool.end();
      }
    });
  }
});

describe('close() settles within its time limit', () => {
  test('a server that was down before the store opened: everything counted, one warning with the count and the cause', HANG_GUARD, async () => {
    const port = await freePort(); // nothing listens there
    const store = createStore({ url: `postgres://spanflow:spanflow@127.0.0.1:${port}/spanflow_test`, closeTimeoutMs: 300, retryDelayMs: 10 });
    const warnings = captureWarnings('SpanflowPersistenceWarning');
    const events: SpanflowEvent[] = [];
    const result = await streaming(100).run(undefined, { persist: store, onEvent: (e) => events.push(e) });
    await store.close();
    await flush(); // warnings are emitted on the next tick
    warnings.stop();
    assert.equal(result.status, 'succeeded');
    assert.deepEqual({ ...store.writes, dropped: 0 }, { written: 0, dropped: 0, droppedEvents: events.length, buffered: 0, unendedRuns: 1 });
    const gaveUp = warnings.messages.filter((w) => w.includes('gave up'));
    assert.equal(gaveUp.length, 1, warnings.messages.join(' | '));
    assert.match(gaveUp[0] ?? '', new RegExp(`close\\(\\) gave up after 300 ms: ${store.writes.dropped} rows not written to .*:${port}/spanflow_test \\(connect ECONNREFUSED`));
  });

  test('a server that takes the connection and never answers: the close gives up on it, naming no cause it does not know', HANG_GUARD, async () => {
    const { port, close } = await silentServer();
    const store = createStore({ url: `postgres://spanflow:spanflow@127.0.0.1:${port}/spanflow_test`, closeTimeoutMs: 200 });
    const warnings = captureWarnings('SpanflowPersistenceWarning');
    const events: SpanflowEvent[] = [];
    try {
      await streaming(10).run(undefined, { persist: store, onEvent: (e) => events.push(e) });
      await store.close();
      await flush(); // warnings are emitted on the next tick
    } finally {
      warnings.stop();
      close();
    }
    assert.equal(store.writes.droppedEvents, events.length);
    assert.equal(store.writes.buffered, 0);
    assert.deepEqual(warnings.messages, [
      `spanflow/postgres: close() gave up after 200 ms: ${store.writes.dropped} rows not written to postgres://spanflow:***@127.0.0.1:${port}/spanflow_test (the database did not answer in time); counted as dropped (store.writes, spanflow.persistence.dropped); the end of 1 run is not stored (a run whose start was stored reads running, then interrupted)`,
    ]);
  });

  test('a server that takes the connection and never answers does not hold pipelines up: past half the buffer they wait for it only until it has been silent for stalledAfterMs', HANG_GUARD, async () => {
    const { port, close } = await silentServer();
    const store = createStore({ url: `postgres://spanflow:spanflow@127.0.0.1:${port}/spanflow_test`, maxBuffered: 40, stalledAfterMs: 100, closeTimeoutMs: 200 });
    const warnings = captureWarnings('SpanflowPersistenceWarning');
    const events: SpanflowEvent[] = [];
    try {
      // 100 steps make far more than 40 rows: without the stall guard the run would wait for room forever.
      let chain = pipeline<{ n: number }>('long-silent');
      for (let i = 0; i < 100; i++) chain = chain.step(`step-${i}`, ({ state }) => ++state.n, i < 99 ? { to: `step-${i + 1}` } : {});
      const result = await chain.run({ n: 0 }, { persist: store, onEvent: (e) => events.push(e) });
      assert.equal(result.status, 'succeeded');
      await store.close();
      await flush();
    } finally {
      warnings.stop();
      close();
    }
    assert.equal(store.writes.droppedEvents, events.length, 'every event is counted as dropped');
    assert.ok(
      warnings.messages.some((w) => /has not answered a write for 100 ms: pipelines no longer wait for it, and rows past the buffer \(40\) are counted as dropped/.test(w)),
      warnings.messages.join(' | '),
    );
  });

  test('openStore() on a server that is down rejects with a StoreError that gives the reason', HANG_GUARD, async () => {
    const port = await freePort();
    await assert.rejects(openStore({ url: `postgres://spanflow:spanflow@127.0.0.1:${port}/spanflow_test` }), {
      name: 'StoreError',
      message: new RegExp(`connect ECONNREFUSED 127\\.0\\.0\\.1:${port}`),
    });
  });
});

describe('the engine persists with the same serializer (imported from spanflow)', () => {
  test('safeJson never throws, writes a bigint as its digits, a cycle (not a shared object) as [Circular], and text Postgres takes', () => {

    const node: Record<string, unknown> = { name: 'a\u0000b', lone: 'x\ud800y', 'key\u0000': 1n };
    node.parent = node;
    const leaf = { leaf: true };
    assert.equal(
      safeJson({ node, pair: [leaf, leaf], error: new TypeError('bad'), toJSON: undefined }),
      '{"node":{"name":"a\uFFFDb","lone":"x\uFFFDy","key\uFFFD":"1","parent":"[Circular]"},"pair":[{"leaf":true},{"leaf":true}],"error":"TypeError: bad"}',
    );
    assert.equal(
      safeJson({
        toJSON() {
          throw new Error('no');
        },
      }),
      '{"unserializable":"Error: no"}',
    );
    assert.equal(safeJson(undefined), 'null');
  });
});
