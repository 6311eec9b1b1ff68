// The database goes away mid-run. The run still finishes as it would have;
// its rows land once the database is back (PostgreSQL behind a proxy that is
// cut, then restored) or are counted as dropped, in the store, the run row and
// the spanflow.persistence.dropped metric: what overflows a small buffer while
// PostgreSQL is away, everything once the embedded database's tables are
// dropped by another connection (gone for good).

import assert from 'node:assert/strict';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, test } from 'node:test';
import { openStore } from '../exporters/postgres/index.ts';
import { pipeline, type SpanflowEvent } from '../sdk/index.ts';
import { droppedByReason } from './fixtures/store-fault.ts';
import { adminQuery, captureWarnings, NEEDS_POSTGRES, TEST_DATABASE_URL, tempFolder } from './store-support.ts';
import { pullMetrics } from './metrics-support.ts';
import { HANG_GUARD } from './support.ts';

const reader = pullMetrics();

/** A TCP proxy on loopback to the test database, whose connections can be cut (and refused) and then allowed again. */
async function cuttableProxy(target: URL) {
  const sockets = new Set<Socket>();
  let refusing = false;
  const server = createServer((client) => {
    if (refusing) return void client.destroy();
    const upstream = tcpConnect(Number(target.port || 5432), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as { port: number }).port);
  return {
    url: url.toString(),
    cut: () => {
      refusing = true;
      for (const socket of sockets) socket.destroy();
    },
    restore: () => {
      refusing = false;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A run whose middle step takes the database away (`outage`), then streams 40 tokens while it is gone. */
function outageRun(outage: () => Promise<void>) {
  return pipeline('outage')
    .step(
      'before',
      async function* () {
        for (let i = 0; i < 5; i++) yield `before ${i}`;
      },
      { to: 'gone' },
    )
    .step('gone', outage, { to: 'during' })
    .step('during', async function* () {
      for (let i = 0; i < 40; i++) yield `during ${i}`;
      return 'done';
    });
}

/**
 * A run persisted through a proxy its middle step cuts (after the rows so far are written), ended as it would
 * have without the store: the store, the proxy, the run's events, the warnings, and `close` for after the checks.
 */
async function runCutOff(schema: string, options: { readonly maxBuffered?: number } = {}) {
  await adminQuery(`drop schema if exists ${schema} cascade`);
  const proxy = await cuttableProxy(new URL(TEST_DATABASE_URL));
  const store = await openStore({ url: proxy.url, schema, retryDelayMs: 5, ...options });
  const events: SpanflowEvent[] = [];
  const warnings = captureWarnings('SpanflowPersistenceWarning');
  const close = async () => {
    warnings.stop();
    await store.close({ timeoutMs: 1000 });
    await proxy.close();
  };
  try {
    const run = outageRun(async () => {
      await store.flush();
      proxy.cut();
    });
    const result = await run.run(undefined, { persist: store, onEvent: (e) => events.push(e) });
    assert.equal(result.status, 'succeeded', 'the run ends as it would have without the store');
    return { store, proxy, events, warnings, close };
  } catch (error) {
    await close();
    throw error;
  }
}

describe('the database goes away mid-run', () => {
  test('PostgreSQL cut off, then back: the run finishes and every row lands once it is back', { ...HANG_GUARD, skip: NEEDS_POSTGRES }, async () => {
    const { store, proxy, events, warnings, close } = await runCutOff('store_outage');
    try {
      // The writer meets the outage (run_end asks for an immediate write) before the database comes back.
      await warnings.waitFor(/cannot write to .*retrying with backoff/);
      assert.ok(store.writes.buffered > 0, 'rows wait for the database');
      proxy.restore();
      await store.flush();
      assert.equal(store.writes.dropped, 0);
      const rows = await adminQuery<{ n: number }>('select count(*)::int as n from store_outage.events');
      assert.equal(rows[0]?.n, events.length, 'every event is stored');
      const stored = await store.getRun(events[0]?.runId ?? '');
      assert.equal(stored?.status, 'succeeded');
      assert.deepEqual(
        stored?.events.map((e) => e.seq),
        events.map((e) => e.seq),
      );
    } finally {
      await close();
    }
  });

  test('PostgreSQL cut off with a small buffer: the run does not wait on it; what overflows is counted as dropped, the rest lands', { ...HANG_GUARD, skip: NEEDS_POSTGRES }, async () => {
    const before = await droppedByReason(reader);
    const { store, proxy, events, warnings, close } = await runCutOff('store_outage_small', { maxBuffered: 20 });
    try {
      proxy.restore();
      await store.flush();
      const { written, droppedEvents, dropped } = store.writes;
      assert.ok(droppedEvents > 0, 'the 40 tokens streamed while the database was away overflowed 20 rows');
      assert.equal(written + droppedEvents, events.length, 'every event is written or counted as dropped');
      const metric = await droppedByReason(reader);
      assert.equal((metric.buffer_full ?? 0) - (before.buffer_full ?? 0), dropped, 'the metric counts every dropped row, as buffer_full');
      assert.ok(
        warnings.messages.some((w) => /rows dropped because the write buffer is full \(20 rows\)/.test(w)),
        `a warning said so: ${warnings.messages.join(' | ')}`,
      );
    } finally {
      await close();
    }
  });

  const folder = tempFolder('outage');
  after(() => folder.cleanup());

  test('the embedded database gone for good (its tables dropped): the run finishes, and what could not be written is counted as dropped', HANG_GUARD, async () => {
    const store = await openStore({ dataDir: folder.path, maxBuffered: 20, retryDelayMs: 5 });
    const events: SpanflowEvent[] = [];
    let written = 0;
    const warnings = captureWarnings('SpanflowPersistenceWarning');
    const run = outageRun(async () => {
      await store.flush();
      written = store.writes.written;
      const other = new DatabaseSync(store.location);
      other.exec('drop table events; drop table step_attempts; drop table runs; drop table pipelines');
      other.close();
    });
    const before = await droppedByReason(reader);
    const result = await run.run(undefined, { persist: store, onEvent: (e) => events.push(e) });
    assert.equal(result.status, 'succeeded', 'the run ends as it would have without the store');
    await store.close({ timeoutMs: 200 });
    warnings.stop();
    const { dropped } = store.writes;
    assert.equal(store.writes.written, written, 'nothing was written after the database closed');
    // The events after the cut, and the run and step rows that changed since: none lost without a count.
    assert.equal(store.writes.droppedEvents, events.length - written, 'rows written + rows counted as dropped = rows produced');
    assert.ok(dropped > events.length - written, 'the step and run rows are counted too');
    const metric = await droppedByReason(reader);
    assert.equal(metric.buffer_full ?? 0, before.buffer_full ?? 0, 'the run waited for room rather than overflow the small buffer');
    assert.equal((metric.write_failed ?? 0) - (before.write_failed ?? 0), dropped, 'the database gone dropped rows: the metric counts every one');
    assert.ok(
      warnings.messages.some((w) => /cannot write to .*no such table.*Not retrying: \d+ rows recorded so far are counted as dropped/.test(w)),
      `a warning named the cause and the count: ${warnings.messages.join(' | ')}`,
    );
  });
});
