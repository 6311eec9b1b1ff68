// Every run status renders, on the real PostgreSQL: a run killed mid-run
// (interrupted), a run still going (running, no end), and each stored status
// in turn; and the `spanflow` bin itself, run as a command in a child process.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type RunPage, STORED_RUN_STATUSES, type Store } from '../exporters/postgres/index.ts';
import { pipeline } from '../sdk/index.ts';
import { bin, cli, ok } from './cli-support.ts';
import { latch } from './support.ts';
import { adminQuery, killMidRun, NEEDS_POSTGRES, TEST_DATABASE_URL, testStore } from './store-support.ts';

const SCHEMA = 'cli_statuses';
const at = ['--database-url', TEST_DATABASE_URL, '--schema', SCHEMA];
let store: Store;

before(async () => {
  if (NEEDS_POSTGRES) return;
  store = await testStore(SCHEMA);
});
after(async () => {
  await store?.close();
});

describe('runs a crash or a run under way left behind', { skip: NEEDS_POSTGRES }, () => {
  test('a run whose process was killed is listed and shown as interrupted, through the bin', async () => {
    const runId = await killMidRun(TEST_DATABASE_URL, SCHEMA);
    const listed = await bin(['runs', '--status', 'interrupted', '--json'], { SPANFLOW_DATABASE_URL: TEST_DATABASE_URL, SPANFLOW_SCHEMA: SCHEMA });
    assert.equal(listed.code, 0, listed.stderr);
    const page = JSON.parse(listed.stdout) as RunPage;
    assert.deepEqual(
      page.runs.map((r) => [r.id, r.pipeline, r.status]),
      [[runId, 'doomed', 'interrupted']],
    );
    const table = await bin(['runs', ...at]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`\\n${runId.slice(0, 8)}\\s+doomed\\s+interrupted\\s.*InterruptedError: the process running it`));
    const shown = await ok(['show', ...at, runId.slice(0, 8)]);
    assert.match(shown, /\nstatus\s+interrupted\n/);
    assert.match(shown, /\nerror\s+InterruptedError: the process running it \(.*\) stopped before the run ended/);
    assert.match(shown, /\nprepare\s+step\s+1\s+succeeded\s/);
    assert.match(shown, /\nhang\s+step\s+1\s+running\s+—\s+ *█*▶/, 'the attempt the crash cut off reaches to the end, open');
    assert.match(await ok(['timeline', ...at, runId]), /\nhang\s+ *█*▶ *\s+\S+ m?s… {2}running\n/);
  });

  test("an interrupted run's duration reads as a lower bound in runs, show, timeline, compare and stats, and says so in --json", async () => {
    const runId = await killMidRun(TEST_DATABASE_URL, SCHEMA);
    const finished = await pipeline('finished').step('only', async () => 'done').run(undefined, { persist: store });
    await store.flush();
    const id = runId.slice(0, 8);
    const listed = await ok(['runs', ...at]);
    assert.match(listed, new RegExp(`\\n${id}\\s+doomed\\s+interrupted\\s+\\S+ \\S+\\s+≥ \\S+ m?s {2}`));
    assert.match(listed, new RegExp(`\\n${finished.runId.slice(0, 8)}\\s+finished\\s+succeeded\\s+\\S+ \\S+\\s+\\d\\S* m?s\\n`), 'a finished run has no bound');
    const page = JSON.parse(await ok(['runs', ...at, '--json'])) as RunPage;
    const flags = new Map(page.runs.map((r) => [r.id, (r as { durationIsLowerBound?: boolean }).durationIsLowerBound]));
    assert.equal(flags.get(runId), true);
    assert.equal(flags.get(finished.runId), false);

    const shown = await ok(['show', ...at, runId]);
    assert.match(shown, /\nduration\s+≥ \S+ m?s \(at least: up to its last heartbeat or event, before its process stopped\)\n/);
    assert.match(shown, /\nended\s+\S+ \S+ or later \(its last sign of life\)\n/);
    assert.equal(JSON.parse(await ok(['show', ...at, runId, '--json'])).durationIsLowerBound, true);
    assert.equal(JSON.parse(await ok(['export', ...at, runId])).run.durationIsLowerBound, true);
    assert.match(await ok(['timeline', ...at, runId]), /^doomed run [0-9a-f]{8} · interrupted · ≥ \S+ m?s\n/);
    assert.equal(JSON.parse(await ok(['timeline', ...at, runId, '--json'])).durationIsLowerBound, true);
    assert.match(await ok(['timeline', ...at, runId, '--mermaid']), /\n {2}title doomed run [0-9a-f]{8} interrupted ≥ \S+ m?s\n/);

    const compared = await ok(['compare', ...at, finished.runId, runId]);
    assert.match(compared, /\nduration\s+\d\S* m?s\s+≥ \S+ m?s \(≥ [+-]?\S+ m?s\)\n/, 'b is at least this long, so the difference is at least this');
    assert.match(await ok(['compare', ...at, runId, finished.runId]), /\nduration\s+≥ \S+ m?s\s+\S+ m?s \(≤ [+-]?\S+ m?s\)\n/);
    assert.match(await ok(['compare', ...at, runId, runId]), /\(difference unknown: both were interrupted\)/);
    const comparison = JSON.parse(await ok(['compare', ...at, finished.runId, runId, '--json']));
    assert.deepEqual([comparison.a.durationIsLowerBound, comparison.b.durationIsLowerBound], [false, true]);

    const stats = await ok(['stats', ...at, '--pipeline', 'doomed']);
    assert.match(stats, /\ndoomed\s+\d+\s+\d+ interrupted\s+\S+\s+≥ \S+ m?s\s+≥ \S+ m?s\s+≥ \S+ m?s\s+≥ \S+ m?s\s/);
    assert.match(stats, /\n≥: with interrupted runs, whose durations run only to their last heartbeat or event, so these are at least as long\n/);
    const statsJson = JSON.parse(await ok(['stats', ...at, '--json']));
    const byName = new Map(statsJson.pipelines.map((p: { pipeline: string; durationsAreLowerBounds: boolean }) => [p.pipeline, p.durationsAreLowerBounds]));
    assert.equal(byName.get('doomed'), true);
    assert.equal(byName.get('finished'), false);
  });

  test('a run still going lists as running with its time so far, and shows no end yet', async () => {
    const gate = latch();
    const started = latch();
    const slow = pipeline('still-going').step('wait', async () => {
      started.resolve();
      await gate.promise;
    });
    const handle = slow.run(undefined, { persist: store });
    await started.promise;
    await store.flush();
    try {
      const listed = await ok(['runs', ...at, '--pipeline', 'still-going']);
      assert.match(listed, /\n[0-9a-f]{8}\s+still-going\s+running\s+\S+ \S+\s+\S+ m?s…\n/);
      const [id] = (JSON.parse(await ok(['runs', ...at, '--pipeline', 'still-going', '--json'])) as RunPage).runs.map((r) => r.id);
      const shown = await ok(['show', ...at, id ?? '']);
      assert.match(shown, /\nstatus\s+running\n/);
      assert.match(shown, /\nended\s+not yet \(last heartbeat /);
      assert.match(shown, /\nwait\s+step\s+1\s+running\s+—\s+█*▶/);
      assert.match(await ok(['timeline', ...at, id ?? '', '--mermaid']), /\n {4}wait running :active, t0, \d+, \d+\n/);
    } finally {
      gate.resolve();
      await handle;
    }
  });

  test('every stored status lists, shows, draws its timeline and is counted', async () => {
    const result = await pipeline('every-status')
      .step('one', async () => 'x', { to: 'two' })
      .step('two', async () => 'y')
      .run(undefined, { persist: store });
    await store.flush();
    for (const status of STORED_RUN_STATUSES) {
      const open = status === 'pending' || status === 'running';
      await adminQuery(
        `update ${SCHEMA}.runs set status = $1, ended_at = ${open ? 'null' : 'ended_at'}, duration_ms = ${open ? 'null' : 'duration_ms'}, heartbeat_at = now() where id = $2`,
        [status, result.runId],
      );
      const listed = await ok(['runs', ...at, '--status', status, '--pipeline', 'every-status']);
      assert.match(listed, new RegExp(`\\n${result.runId.slice(0, 8)}\\s+every-status\\s+${status}\\s`), status);
      assert.match(await ok(['show', ...at, result.runId]), new RegExp(`\\nstatus\\s+${status}\\n`), status);
      assert.match(await ok(['timeline', ...at, result.runId]), /\ntwo\s+ *█/, status);
      assert.match(await ok(['stats', ...at, '--pipeline', 'every-status']), new RegExp(`1 ${status}`), status);
    }
  });
});

describe('the spanflow bin', { skip: NEEDS_POSTGRES }, () => {
  test('takes its store from the environment, prints a table, and exits 2 on a usage error without a stack', async () => {
    const env = { SPANFLOW_DATABASE_URL: TEST_DATABASE_URL, SPANFLOW_SCHEMA: SCHEMA };
    const listed = await bin(['runs', '--pipeline', 'every-status'], env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^run\s+pipeline\s+status\s+started\s+duration\s+note\n[0-9a-f]{8}\s+every-status\s/);
    assert.ok(!listed.stdout.includes('\u001b['), 'no colour when stdout is not a terminal');
    const usage = await bin(['runs', '--limit', 'many'], env);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /error: option '--limit <n>' argument 'many' is invalid\. 'many' is not a whole number from 1 to 1000\./);
    assert.doesNotMatch(usage.stderr, /\n\s+at /);
    const help = await bin(['--help']);
    assert.equal(help.code, 0);
    for (const command of ['runs', 'show', 'timeline', 'compare', 'export', 'replay', 'stats', 'cleanup', 'graph', 'migrate']) {
      assert.match(help.stdout, new RegExp(`\\n {2}${command} `), command);
    }
  });

  test('an unknown command is a usage error that suggests the right one', async () => {
    const result = await cli(['run']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown command 'run'\n\(Did you mean runs\?\)/);
  });
});
