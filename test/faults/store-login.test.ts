// A database no retry will reach: a wrong password, a database that does not
// exist, a role without the rights to make the tables. A process persisting a
// run into such a store (a private PostgreSQL cluster) logs in once, reports
// once with the cause and the fix, counts every row as dropped, and ends by
// itself with exit code 0; openStore() rejects with an error that says what to do.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createStore, MigrationError, openStore, StoreError } from '../../exporters/postgres/index.ts';
import { type ChildReport, cleanExit, killChildren, givingUp, startFaultChild } from '../fixtures/store-fault.ts';
import { type PgCluster, startCluster } from '../pg-cluster.ts';
import { unless } from '../requirements.ts';
import { HANG_GUARD } from '../support.ts';

/** Every event the run produced is counted as dropped, the rows counted are the metric's, and the run's end is said to be lost. */
function assertAllDropped(report: ChildReport): void {
  assert.equal(report.status, 'succeeded', 'the run ends as it would have without a store');
  assert.ok(report.produced > 40, `the run produced its events (${report.produced})`);
  assert.equal(report.writes.written, 0);
  assert.equal(report.writes.written + report.writes.droppedEvents, report.produced, 'rows written + rows counted as dropped = rows produced');
  assert.equal(report.writes.buffered, 0, 'nothing is left waiting');
  assert.equal(report.writes.unendedRuns, 1, 'the run ended, and its end is not stored');
  assert.deepEqual(report.metric, { write_failed: report.writes.dropped }, 'spanflow.persistence.dropped counts every row dropped');
}

describe('a database no retry will reach', { skip: unless('postgres-server') }, () => {
  let cluster: PgCluster;
  before(async () => {
    cluster = await startCluster();
    await cluster.query(`create role limited login password 'limited'`, [], 'postgres');
  }, HANG_GUARD);
  after(() => {
    killChildren();
    cluster?.destroy();
  });

  /** Lines of the server's log matching `pattern`: each is one login the server refused. */
  const refusedLogins = (pattern: RegExp) =>
    readFileSync(join(dirname(cluster.dataDir), 'server.log'), 'utf8')
      .split('\n')
      .filter((line) => pattern.test(line)).length;

  test('a wrong password: one login, one warning with the fix, every row counted, and the process ends with code 0', HANG_GUARD, async () => {
    const before = refusedLogins(/password authentication failed/);
    const child = startFaultChild({ url: cluster.url({ password: 'WRONG' }), store: 'explicit', tokens: 30, tokensAfter: 30 });
    const report = await cleanExit(child);
    assertAllDropped(report);
    assert.equal(refusedLogins(/password authentication failed/) - before, 1, 'the store logged in once, not once per batch');
    assert.deepEqual(givingUp(report), report.warnings, 'the failure is its only warning');
    assert.equal(report.warnings.length, 1, `one warning: ${report.warnings.join(' | ')}`);
    assert.match(
      report.warnings[0] ?? '',
      /cannot write to postgres:\/\/spanflow:\*\*\*@127\.0\.0\.1:\d+\/spanflow_test: password authentication failed for user "spanflow": check the user name and password in the database URL \(SPANFLOW_DATABASE_URL\)\. Not retrying/,
    );
    assert.deepEqual(await cluster.query(`select to_regclass('spanflow.runs') as runs`), [{ runs: null }], 'nothing reached the database');
  });

  test('a database that does not exist: the same, with the fix for it', HANG_GUARD, async () => {
    const before = refusedLogins(/database "nope" does not exist/);
    const report = await cleanExit(startFaultChild({ url: cluster.url({ database: 'nope' }), store: 'explicit', tokens: 30, tokensAfter: 30 }));
    assertAllDropped(report);
    assert.equal(refusedLogins(/database "nope" does not exist/) - before, 1, 'the store logged in once');
    assert.equal(report.warnings.length, 1, `one warning: ${report.warnings.join(' | ')}`);
    assert.match(report.warnings[0] ?? '', /database "nope" does not exist: create the database \(createdb <name>\), or fix its name in the database URL\. Not retrying/);
  });

  test('a role without the rights to make the tables: the same, naming the rights', HANG_GUARD, async () => {
    const report = await cleanExit(startFaultChild({ url: cluster.url({ user: 'limited', password: 'limited' }), store: 'default', tokens: 30, tokensAfter: 30 }));
    assertAllDropped(report);
    assert.equal(report.warnings.length, 1, `one warning: ${report.warnings.join(' | ')}`);
    assert.match(report.warnings[0] ?? '', /limited:\*\*\*@127\.0\.0\.1:\d+\/spanflow_test: migrating schema 'spanflow' failed: permission denied for database spanflow_test: grant the URL's role the rights it needs \(create on the database, usage and create on the schema, insert and update on its tables\)\. Not retrying/);
  });

  test('openStore() rejects with an error that says what to do; a store that failed so never logs in again', HANG_GUARD, async () => {
    const before = refusedLogins(/password authentication failed/);
    await assert.rejects(openStore({ url: cluster.url({ password: 'WRONG' }) }), (error: StoreError) => {
      assert.ok(error instanceof StoreError);
      assert.equal(error.code, '28P01');
      assert.equal(error.message, 'password authentication failed for user "spanflow": check the user name and password in the database URL (SPANFLOW_DATABASE_URL)');
      return true;
    });
    await assert.rejects(openStore({ url: cluster.url({ user: 'limited', password: 'limited' }), schema: 'limited' }), MigrationError);
    const store = createStore({ url: cluster.url({ password: 'WRONG' }) });
    for (let i = 0; i < 3; i++) await assert.rejects(store.listRuns(), { name: 'StoreError', code: '28P01' });
    await store.close();
    assert.equal(refusedLogins(/password authentication failed/) - before, 2, 'one login for openStore(), one for the store whose queries failed');
  });
});
