// The PostgreSQL server goes away under a process that persists a run (a
// private cluster, stopped and started by the test): mid-run and back again,
// mid-run for good, at close, and the process killed with SIGKILL. Whatever
// happens, the process ends by itself with exit code 0 (never 13, an unsettled
// top-level await) within close's time limit, every event is either written or
// counted as dropped, one warning names what was given up and why, and the run
// reads as it ended, or as interrupted when its end could not be stored.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openStore } from '../../exporters/postgres/index.ts';
import { type ChildReport, cleanExit, killChildren, type FaultChild, givingUp, startFaultChild } from '../fixtures/store-fault.ts';
import { type PgCluster, startCluster } from '../pg-cluster.ts';
import { unless } from '../requirements.ts';
import { HANG_GUARD } from '../support.ts';

describe('the PostgreSQL server goes away', { skip: unless('postgres-server') }, () => {
  let cluster: PgCluster;
  before(async () => {
    cluster = await startCluster();
  }, HANG_GUARD);
  after(() => {
    killChildren();
    cluster?.destroy();
  });

  const eventsStored = async (schema: string, runId: unknown) =>
    (await cluster.query<{ n: number }>(`select count(*)::int as n from ${schema}.events where run_id = $1`, [runId]))[0]?.n;

  /** Starts a child that pauses once its first events are written; returns it with what it had produced then. */
  async function pausedChild(schema: string, options: { store?: 'explicit' | 'default'; tokensAfter: number; closeTimeoutMs: number; holdClose?: boolean }) {
    const child = startFaultChild({ url: cluster.url(), schema, store: options.store ?? 'explicit', pause: true, tokens: 20, ...options });
    const paused = await child.phase('paused');
    return { child, runId: paused.runId as string, producedBeforeStop: paused.produced as number };
  }

  /** The server stops, the run goes on, and the child closes with the server still down. */
  async function stoppedForGood(child: FaultChild): Promise<ChildReport> {
    await cluster.stop('fast');
    child.go();
    try {
      return await cleanExit(child);
    } finally {
      await cluster.start();
    }
  }

  /** What a close that gave up must show: its one warning with the count and the cause, the run's end counted as not stored. */
  function assertGaveUp(report: ChildReport, producedBeforeStop: number): void {
    assert.equal(report.status, 'succeeded', 'the run ends as it would have without a store');
    assert.equal(report.writes.written, producedBeforeStop, 'the events before the stop were written, none after');
    assert.equal(report.writes.written + report.writes.droppedEvents, report.produced, 'rows written + rows counted as dropped = rows produced');
    assert.equal(report.writes.buffered, 0);
    assert.equal(report.writes.unendedRuns, 1, 'the run ended, and its end is not stored');
    assert.deepEqual(report.metric, { write_failed: report.writes.dropped }, 'spanflow.persistence.dropped counts every row given up');
    const gaveUp = givingUp(report);
    assert.equal(gaveUp.length, 1, `one warning gives up: ${report.warnings.join(' | ')}`);
    assert.match(
      gaveUp[0] ?? '',
      new RegExp(
        `close\\(\\) gave up after \\d+ ms: ${report.writes.dropped} rows not written to postgres://spanflow:\\*\\*\\*@127\\.0\\.0\\.1:${cluster.port}/spanflow_test \\((connect ECONNREFUSED|terminating connection|Connection terminated)[^)]*\\); counted as dropped .*; the end of 1 run is not stored \\(a run whose start was stored reads running, then interrupted\\)`,
      ),
    );
  }

  /** The run as a store that opens now sees it: its process is gone, so it is interrupted. */
  async function assertInterrupted(schema: string, runId: string, written: number): Promise<void> {
    const store = await openStore({ url: cluster.url(), schema });
    try {
      const run = await store.getRun(runId);
      assert.equal(run?.status, 'interrupted', 'the run whose end was not stored is interrupted, not left running');
      assert.equal(await eventsStored(schema, runId), written, 'the database holds the events the child counted as written');
    } finally {
      await store.close();
    }
  }

  test('stopped mid-run and started again: the run finishes, and every row lands once the server is back', HANG_GUARD, async () => {
    const schema = 'restarted';
    const { child, runId } = await pausedChild(schema, { tokensAfter: 50, closeTimeoutMs: 30_000, holdClose: true });
    await cluster.stop('fast');
    child.go();
    try {
      assert.equal((await child.phase('ran')).status, 'succeeded');
    } finally {
      await cluster.start();
    }
    child.go();
    const report = await cleanExit(child);
    assert.deepEqual({ ...report.writes }, { written: report.produced, dropped: 0, droppedEvents: 0, buffered: 0, unendedRuns: 0 });
    assert.deepEqual(givingUp(report), [], 'nothing given up');
    const [run] = await cluster.query(`select status, events_dropped from ${schema}.runs where id = $1`, [runId]);
    assert.deepEqual(run, { status: 'succeeded', events_dropped: 0 });
    assert.equal(await eventsStored(schema, runId), report.produced);
  });

  test('stopped mid-run for good: close() gives up within its time limit and counts what it could not write', HANG_GUARD, async () => {
    const schema = 'gone';
    const { child, runId, producedBeforeStop } = await pausedChild(schema, { tokensAfter: 50, closeTimeoutMs: 1000 });
    const report = await stoppedForGood(child);
    assertGaveUp(report, producedBeforeStop);
    assert.ok(report.writes.droppedEvents > 50, 'the events of the run after the stop are counted');
    await assertInterrupted(schema, runId, report.writes.written);
  });

  test('stopped as the run ends: a top-level await store.close() settles in time, and the process exits with code 0', HANG_GUARD, async () => {
    const schema = 'at_close';
    const { child, runId, producedBeforeStop } = await pausedChild(schema, { tokensAfter: 0, closeTimeoutMs: 1000 });
    const report = await stoppedForGood(child);
    assertGaveUp(report, producedBeforeStop);
    await assertInterrupted(schema, runId, report.writes.written);
  });

  test('stopped as the run ends, with the default store closed on beforeExit: the same', HANG_GUARD, async () => {
    const schema = 'at_exit';
    const { child, runId, producedBeforeStop } = await pausedChild(schema, { store: 'default', tokensAfter: 0, closeTimeoutMs: 1000 });
    const report = await stoppedForGood(child);
    assertGaveUp(report, producedBeforeStop);
    await assertInterrupted(schema, runId, report.writes.written);
  });

  test('the process killed with SIGKILL mid-run: its run is interrupted, its duration a lower bound that its heartbeat kept close', HANG_GUARD, async () => {
    const schema = 'killed';
    const { child, runId, producedBeforeStop } = await pausedChild(schema, { tokensAfter: 0, closeTimeoutMs: 1000 });
    // Times in ms to the microsecond, as the store keeps them (a Date keeps milliseconds only).
    const heartbeat = async () =>
      (
        await cluster.query<{ at: number; started: number }>(
          `select extract(epoch from heartbeat_at) * 1000 as at, extract(epoch from started_at) * 1000 as started from ${schema}.runs where id = $1`,
          [runId],
        )
      ).map((r) => ({ at: Number(r.at), started: Number(r.started) }))[0];
    // Wait for a heartbeat written while the run waits: the timer keeps beating with no events to write.
    const first = await heartbeat();
    assert.ok(first);
    let seen = first;
    while (seen.at === first.at) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      seen = (await heartbeat()) ?? first;
    }
    child.kill('SIGKILL');
    const { code } = await child.exited;
    const killedBy = new Date();
    assert.equal(code, null, 'the signal ended it');
    const store = await openStore({ url: cluster.url(), schema });
    try {
      assert.equal(store.interrupted, 1);
      const run = await store.getRun(runId);
      assert.equal(run?.status, 'interrupted');
      assert.ok(run?.endedAt && run.durationMs !== undefined && run.durationMs !== null);
      assert.ok(run.endedAt.getTime() >= Math.floor(seen.at), 'it ended no earlier than the last heartbeat seen');
      assert.ok(run.endedAt.getTime() <= killedBy.getTime(), 'and no later than the kill: a lower bound');
      assert.ok(run.durationMs >= seen.at - seen.started, 'its duration reaches the last heartbeat seen');
      assert.match(run.error?.message ?? '', /stopped before the run ended; last sign of life at .*: it ran at least this long/);
      assert.equal(await eventsStored(schema, runId), producedBeforeStop, 'rows written = rows produced: it had written all it made');
    } finally {
      await store.close();
    }
  });
});
