// Migrations from empty, on the real PostgreSQL and on an embedded PGlite
// folder, and how a store picks its database.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createStore, openStore, type Store } from '../exporters/postgres/index.ts';
import { adminQuery, NEEDS_POSTGRES, TEST_DATABASE_URL, tempFolder, testStore } from './store-support.ts';

const TABLES = ['events', 'migration_lock', 'migrations', 'pipelines', 'runs', 'step_attempts'];
const INDEXES = [
  'events_pkey',
  'pipelines_pkey',
  'runs_open_idx',
  'runs_parent_idx',
  'runs_pipeline_started_idx',
  'runs_pkey',
  'runs_started_idx',
  'runs_status_started_idx',
  'step_attempts_errors_idx',
  'step_attempts_key',
];

async function catalogue(store: Store): Promise<{ tables: string[]; indexes: string[] }> {
  const db = store.db;
  const tables = await db
    .selectFrom('information_schema.tables' as never)
    .select('table_name as name' as never)
    .where('table_schema' as never, '=', store.schema as never)
    .orderBy('table_name' as never)
    .execute();
  const indexes = await db
    .selectFrom('pg_indexes' as never)
    .select('indexname as name' as never)
    .where('schemaname' as never, '=', store.schema as never)
    .where('indexname' as never, 'not like', 'migration%' as never)
    .orderBy('indexname' as never)
    .execute();
  const names = (rows: unknown[]) => rows.map((r) => (r as { name: string }).name);
  return { tables: names(tables), indexes: names(indexes) };
}

describe('migrations on PostgreSQL', { skip: NEEDS_POSTGRES }, () => {
  const schema = 'store_migrate';
  let store: Store | undefined;
  after(() => store?.close());

  test('opening a store on an empty schema creates the tables and indexes the queries use', async () => {
    store = await testStore(schema);
    assert.deepEqual(await catalogue(store), { tables: TABLES, indexes: INDEXES });
  });

  test('migrating an up-to-date schema applies nothing', async () => {
    assert.ok(store);
    assert.deepEqual(await store.migrate(), { applied: [], current: ['0001-initial'] });
  });

  test('a run status the engine does not know is refused by the table itself', async () => {
    await assert.rejects(
      adminQuery(`insert into ${schema}.runs (id, pipeline, kind, status, started_at, host, pid) values (gen_random_uuid(), 'p', 'graph', 'exploded', now(), 'h', 1)`),
      /runs_status_check/,
    );
  });

  test('with migrate: false, a schema that needs migrations is an error that says how to migrate', async () => {
    await adminQuery('drop schema if exists store_migrate_pending cascade');
    await assert.rejects(openStore({ url: TEST_DATABASE_URL, schema: 'store_migrate_pending', migrate: false }), /needs migrations \(0001-initial\): run `spanflow migrate`/);
  });
});

describe('migrations on an embedded PGlite folder', () => {
  const folder = tempFolder('migrate');
  after(() => folder.cleanup());

  test('the first open of an empty folder creates the same tables and indexes', async () => {
    const store = await openStore({ dataDir: folder.path, schema: 'spanflow' });
    try {
      assert.equal(store.kind, 'pglite');
      assert.equal(store.location, folder.path);
      assert.deepEqual(await catalogue(store), { tables: TABLES, indexes: INDEXES });
    } finally {
      await store.close();
    }
  });

  test('reopening the folder finds it migrated', async () => {
    const store = await openStore({ dataDir: folder.path, schema: 'spanflow', migrate: false });
    try {
      assert.deepEqual(await store.migrate(), { applied: [], current: ['0001-initial'] });
    } finally {
      await store.close();
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

  test('without a URL the store is an embedded folder; a server URL is shown without its password', async () => {
    const saved = { ...process.env };
    try {
      delete process.env.SPANFLOW_DATABASE_URL;
      delete process.env.DATABASE_URL;
      process.env.SPANFLOW_DATA_DIR = '/nonexistent/spanflow-db';
      const embedded = createStore({ schema: 'unused' });
      assert.equal(embedded.kind, 'pglite');
      assert.equal(embedded.location, '/nonexistent/spanflow-db');
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
  });
});
