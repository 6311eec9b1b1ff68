// Migrations from empty, on the real PostgreSQL and on the embedded database
// (the same tables, and the values each refuses), and how a store picks its
// database: a URL, a folder, the user's own Kysely or pg.Pool.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { createStore, openStore, type Store } from '../exporters/postgres/index.ts';
import { pipeline } from '../sdk/index.ts';
import { adminQuery, ENGINES, NEEDS_POSTGRES, TEST_DATABASE_URL, tempFolder } from './store-support.ts';

const TABLES = ['events', 'migration_lock', 'migrations', 'pipelines', 'runs', 'step_attempts'];
/** The indexes the queries use (SQLite's primary keys are indexes it names itself). */
const INDEXES = ['runs_open_idx', 'runs_parent_idx', 'runs_pipeline_started_idx', 'runs_started_idx', 'runs_status_started_idx', 'step_attempts_errors_idx', 'step_attempts_key'];
const PRIMARY_KEYS = ['events_pkey', 'pipelines_pkey', 'runs_pkey'];

/**
 * This schema's tables and indexes, read from its own catalogue only: Kysely's introspection
 * reads every schema's, which fails when another test file drops its own schema at that moment.
 */
async function catalogue(store: Store): Promise<{ tables: string[]; indexes: string[] }> {
  const names = async (from: string, column: string, where: readonly (readonly [string, string, string])[]): Promise<string[]> => {
    let query = store.db.selectFrom(from as never).select(`${column} as name` as never);
    for (const [left, op, right] of where) query = query.where(left as never, op as never, right as never);
    return (await query.execute()).map((r) => (r as { name: string }).name).toSorted();
  };
  if (store.kind === 'postgres') {
    return {
      tables: await names('information_schema.tables', 'table_name', [['table_schema', '=', store.schema]]),
      indexes: await names('pg_indexes', 'indexname', [['schemaname', '=', store.schema], ['indexname', 'not like', 'migration%']]),
    };
  }
  const master = `${store.schema}.sqlite_master`;
  return {
    tables: await names(master, 'name', [['type', '=', 'table']]),
    indexes: await names(master, 'name', [['type', '=', 'index'], ['name', 'not like', 'sqlite_autoindex%']]),
  };
}

/** A run row with `values` in place of the right ones (typed as any row: some are wrong on purpose). */
const runRow = (values: Record<string, unknown>): never =>
  ({
  id: '00000000-0000-4000-8000-00000000000a',
  pipeline: 'p',
  kind: 'graph',
  status: 'succeeded',
  started_at: new Date(),
  host: 'h',
    pid: 1,
    ...values,
  }) as never;

for (const engine of ENGINES) {
  describe(`migrations on ${engine.name}`, { skip: engine.skip }, () => {
    let store: Store | undefined;
    after(() => store?.close());

    test('opening a store on an empty schema creates the tables and indexes the queries use', async () => {
      store = await engine.open('store_migrate');
      assert.deepEqual(await catalogue(store), { tables: TABLES, indexes: engine.kind === 'postgres' ? [...INDEXES, ...PRIMARY_KEYS].toSorted() : INDEXES });
    });

    test('migrating an up-to-date schema applies nothing', async () => {
      assert.ok(store);
      assert.deepEqual(await store.migrate(), { applied: [], current: ['0001-initial', '0002-durable-runs'] });
    });

    test('the tables refuse what the engine never writes: an unknown status, an id that is not a uuid, a value of the wrong type', async () => {
      assert.ok(store);
      const runs = store.db.withSchema(store.schema);
      await assert.rejects(runs.insertInto('runs').values(runRow({ status: 'exploded' })).execute(), /runs_status_check|CHECK constraint failed/);
      await assert.rejects(runs.insertInto('runs').values(runRow({ id: 'not-a-uuid' })).execute(), /invalid input syntax for type uuid|CHECK constraint failed: runs_id_check/);
      await assert.rejects(runs.insertInto('runs').values(runRow({ pid: 'one' as never })).execute(), /invalid input syntax for type integer|cannot store TEXT value in INTEGER column/);
      await runs.insertInto('runs').values(runRow({})).execute();
      assert.equal((await store.listRuns()).total, 1, 'a right row goes in');
    });
  });
}

describe('migrations, and what a store opens', () => {
  test('with migrate: false, a schema that needs migrations is an error that says how to migrate', { skip: NEEDS_POSTGRES }, async () => {
    await adminQuery('drop schema if exists store_migrate_pending cascade');
    await assert.rejects(openStore({ url: TEST_DATABASE_URL, schema: 'store_migrate_pending', migrate: false }), /needs migrations \(0001-initial, 0002-durable-runs\): run `spanflow migrate`/);
  });

  const folder = tempFolder('migrate');
  after(() => folder.cleanup());

  test('a numeric option that is not one is refused at once, naming it and what it takes', async () => {
    const dataDir = join(folder.path, 'refused');
    for (const [options, message] of [
      [{ maxBuffered: 0 }, /maxBuffered must be a whole number of 1 or more \(got 0\); leave it out for the default/],
      [{ batchSize: 2.5 }, /batchSize must be a whole number of 1 or more \(got 2.5\)/],
      [{ stalledAfterMs: '5s' }, /stalledAfterMs must be a number of ms, 0 or more \(got 5s\)/],
      [{ closeTimeoutMs: -1 }, /closeTimeoutMs must be a number of ms, 0 or more \(got -1\)/],
    ] as const) {
      assert.throws(() => createStore({ dataDir, ...(options as object) }), message);
      await assert.rejects(openStore({ dataDir, ...(options as object) }), message);
    }
    assert.equal(existsSync(dataDir), false, 'nothing was made for a refused store');
  });

  test('the first open of an empty folder needs nothing: it makes the folder and runs.sqlite, and migrates', async () => {
    const dataDir = join(folder.path, 'new', 'db');
    const store = await openStore({ dataDir });
    try {
      assert.equal(store.kind, 'sqlite');
      assert.equal(store.location, join(dataDir, 'runs.sqlite'));
      assert.ok(existsSync(store.location));
      assert.deepEqual(await store.migrate(), { applied: [], current: ['0001-initial', '0002-durable-runs'] });
    } finally {
      await store.close();
    }
    const again = await openStore({ dataDir, migrate: false });
    await again.close();
  });

  test('each schema is a file of its own in the folder, and its runs stay there', async () => {
    const a = await openStore({ dataDir: folder.path, schema: 'team_a' });
    const b = await openStore({ dataDir: folder.path, schema: 'team_b' });
    try {
      assert.equal(a.location, join(folder.path, 'runs-team_a.sqlite'));
      await pipeline('only-a')
        .step('only', () => 'done')
        .run(undefined, { persist: a });
      await a.flush();
      assert.deepEqual(
        (await a.listRuns()).runs.map((r) => r.pipeline),
        ['only-a'],
      );
      assert.equal((await b.listRuns()).total, 0);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('two stores opening an empty folder at once (two connections, as two processes have) both migrate it, once', async () => {
    const dataDir = join(folder.path, 'race');
    const stores = await Promise.all([openStore({ dataDir }), openStore({ dataDir })]);
    try {
      for (const store of stores) assert.deepEqual(await store.migrate(), { applied: [], current: ['0001-initial', '0002-durable-runs'] });
    } finally {
      for (const store of stores) await store.close();
    }
  });
});

describe('choosing the database', () => {
  test('a URL that is not postgres:// is refused, without showing its password', () => {
    assert.throws(() => createStore({ url: 'mysql://root:hunter2@db/x' }), (error: Error) => {
      assert.match(error.message, /must start with postgres:\/\//);
      assert.doesNotMatch(error.message, /hunter2/);
      return true;
    });
  });

  test('without a URL the store is the embedded database; a server URL is shown without its password', async () => {
    const saved = { ...process.env };
    try {
      delete process.env.SPANFLOW_DATABASE_URL;
      delete process.env.DATABASE_URL;
      process.env.SPANFLOW_DATA_DIR = '/nonexistent/spanflow-db';
      const embedded = createStore({ schema: 'unused' });
      assert.equal(embedded.kind, 'sqlite');
      assert.equal(embedded.location, '/nonexistent/spanflow-db/runs-unused.sqlite');
      await embedded.close({ timeoutMs: 0 });

      process.env.DATABASE_URL = 'postgres://app:s3cret@db.example:5432/app';
      const fromEnv = createStore({ schema: 'unused' });
      assert.equal(fromEnv.kind, 'postgres');
      assert.equal(fromEnv.location, 'postgres://app:***@db.example:5432/app');
      await fromEnv.close({ timeoutMs: 0 });
    } finally {
      process.env = saved;
    }
  });

  test('a schema name that is not a plain identifier is refused', () => {
    assert.throws(() => createStore({ url: TEST_DATABASE_URL, schema: 'x"; drop schema public; --' }), /schema must be a Postgres identifier/);
    assert.throws(() => createStore({ dataDir: '/tmp', schema: '../escape' }), /schema must be a Postgres identifier/);
  });

  test('a Kysely that is not on Postgres, or two databases at once, are refused with what to give', () => {
    const sqliteKysely = new Kysely({ dialect: new SqliteDialect({ database: async () => ({}) as never }) });
    assert.throws(() => createStore({ db: sqliteKysely }), /db must be a Kysely on Postgres \(PostgresDialect\)/);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL });
    assert.throws(() => createStore({ pool, url: TEST_DATABASE_URL }), /give one of db, pool, url and dataDir \(got pool and url\)/);
    assert.throws(() => createStore({ pool: {} as never }), /pool must be a pg.Pool/);
    void pool.end();
  });
});

describe("a user's own Kysely or pg.Pool", { skip: NEEDS_POSTGRES }, () => {
  test('a pg.Pool: runs kept in its database, and the pool is still the user\'s after close()', async () => {
    await adminQuery('drop schema if exists store_given_pool cascade');
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL });
    try {
      const store = await openStore({ pool, schema: 'store_given_pool' });
      assert.equal(store.kind, 'postgres');
      assert.equal(store.location, 'Postgres (a pg.Pool given)');
      const { runId } = await pipeline('given-pool')
        .step('only', () => 'done')
        .run(undefined, { persist: store });
      await store.close();
      assert.equal(store.writes.dropped, 0);
      const { rows } = await pool.query('select status, count(*)::int as n from store_given_pool.runs where id = $1 group by status', [runId]);
      assert.deepEqual(rows, [{ status: 'succeeded', n: 1 }], 'the pool still answers: the store did not end it');
    } finally {
      await pool.end();
    }
  });

  test("a Kysely: runs kept in its database, its plugins left out of the store's queries, and it is not destroyed", async () => {
    await adminQuery('drop schema if exists store_given_kysely cascade');
    const { CamelCasePlugin } = await import('kysely');
    const db = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: TEST_DATABASE_URL }) }), plugins: [new CamelCasePlugin()] });
    try {
      const store = await openStore({ db, schema: 'store_given_kysely' });
      assert.equal(store.location, 'Postgres (a Kysely given)');
      await pipeline('given-kysely')
        .step('only', () => 'done')
        .run(undefined, { persist: store });
      await store.flush();
      const [run] = (await store.listRuns()).runs;
      assert.equal(run?.pipeline, 'given-kysely');
      assert.equal(run?.status, 'succeeded');
      await store.close();
      const rows = await db.selectFrom('store_given_kysely.runs' as never).select('pipelineHash' as never).execute();
      assert.equal(rows.length, 1, 'the Kysely still answers (with its own plugins): the store did not destroy it');
    } finally {
      await db.destroy();
    }
  });
});
