// The CLI against the real PostgreSQL: `migrate` on an empty schema,
// `cleanup` (a dry run deletes nothing, --yes deletes), and hostile filter
// values, which stay values: they match nothing and the tables survive.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunPage, Store } from '../exporters/postgres/index.ts';
import { pipeline } from '../sdk/index.ts';
import { cli, ok, persistShowcase, type Showcase } from './cli-support.ts';
import { adminQuery, NEEDS_POSTGRES, TEST_DATABASE_URL, testStore } from './store-support.ts';

const SCHEMA = 'cli_postgres';
const at = ['--database-url', TEST_DATABASE_URL, '--schema', SCHEMA];
/** A pipeline name made of what a careless query would trip on. */
const UNICODE = "рендер-视频-🎬 it's 100%_done";
let store: Store;
let showcase: Showcase;

before(async () => {
  if (NEEDS_POSTGRES) return;
  store = await testStore(SCHEMA);
  showcase = await persistShowcase(store);
  await pipeline(UNICODE)
    .step('only', async () => 'done')
    .run(undefined, { persist: store });
  await store.flush();
});
after(async () => {
  await store?.close();
});

const total = async (...args: string[]): Promise<number> => (JSON.parse(await ok(['runs', ...at, '--json', ...args])) as RunPage).total;

describe('hostile filter values', { skip: NEEDS_POSTGRES }, () => {
  test('quotes, SQL and wildcards in --pipeline match no run, and every table survives', async () => {
    for (const value of ["x'; drop table runs; --", "video-render' or '1'='1", '%', '_%', 'video%', '*', '\\', '"; drop schema cli_postgres cascade; --']) {
      const result = await cli(['runs', ...at, '--pipeline', value]);
      assert.equal(result.code, 0, `${value}: ${result.stderr}`);
      assert.equal(result.stdout, 'no runs match\n', value);
      for (const command of [['stats', '--pipeline', value], ['cleanup', '--pipeline', value, '--status', 'succeeded', '--yes']]) {
        const other = await cli([...command, ...at] as string[]);
        assert.equal(other.code, 0, `${command.join(' ')}: ${other.stderr}`);
      }
    }
    assert.equal(await total(), 4, 'the three showcase runs and the unicode one are all still there');
    const tables = await adminQuery<{ table_name: string }>('select table_name from information_schema.tables where table_schema = $1 order by 1', [SCHEMA]);
    const names = tables.map((t) => t.table_name);
    for (const table of ['events', 'pipelines', 'runs', 'step_attempts']) assert.ok(names.includes(table), `table ${table} is there`);
  });

  test('a unicode pipeline name with quotes and % matches exactly its run', async () => {
    const page = JSON.parse(await ok(['runs', ...at, '--pipeline', UNICODE, '--json'])) as RunPage;
    assert.deepEqual(
      page.runs.map((r) => r.pipeline),
      [UNICODE],
    );
    assert.match(await ok(['runs', ...at, '--pipeline', UNICODE]), /рендер-视频-🎬 it's 100%_done\s+succeeded/);
    assert.match(await ok(['show', ...at, page.runs[0]?.id.slice(0, 8) ?? '']), /\npipeline\s+рендер-视频-🎬 it's 100%_done \(graph/);
  });

  test('hostile statuses, schemas and run ids are usage errors, not queries', async () => {
    const cases: string[][] = [
      ['runs', ...at, '--status', "failed'; drop table runs; --"],
      ['runs', '--database-url', TEST_DATABASE_URL, '--schema', 'x; drop schema public'],
      ['show', ...at, "' or 1=1 --"],
      ['runs', '--database-url', 'mysql://root@localhost/x'],
    ];
    for (const args of cases) {
      const result = await cli(args);
      assert.equal(result.code, 2, args.join(' '));
      assert.match(result.stderr, /^(error: option|spanflow: )/);
    }
    assert.equal(await total(), 4);
  });
});

describe('spanflow cleanup', { skip: NEEDS_POSTGRES }, () => {
  test('needs a filter, and reads its age as a duration', async () => {
    const none = await cli(['cleanup', ...at]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /cleanup needs --older-than, --status or --keep \(for example --older-than 7d\)/);
    const bad = await cli(['cleanup', ...at, '--older-than', '7 days']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /'7 days' is not a duration: give a number and a unit such as 30m, 12h, 7d/);
    assert.match(await ok(['cleanup', ...at, '--older-than', '1d']), /^no runs match: nothing to delete\n$/);
  });

  test('lists what would go and deletes nothing without --yes; deletes it with --yes', async () => {
    const dry = await ok(['cleanup', ...at, '--keep', '1', '--pipeline', 'video-render']);
    const listed = [showcase.id('quick-promo'), showcase.id('feature-film')];
    for (const id of listed) assert.match(dry, new RegExp(`\\n${id.slice(0, 8)}\\s+video-render\\s+succeeded`));
    assert.doesNotMatch(dry, new RegExp(showcase.id('deadline-crunch').slice(0, 8)), 'the newest run is kept');
    assert.match(dry, /would delete 2 runs \(4 with their sub-pipeline runs\); nothing deleted yet: run again with --yes/);
    assert.equal(await total('--children'), 7, 'a dry run deletes nothing');

    const json = JSON.parse(await ok(['cleanup', ...at, '--keep', '1', '--pipeline', 'video-render', '--json']));
    assert.deepEqual([json.dryRun, json.deleted, json.count], [true, false, 4]);

    const done = await ok(['cleanup', ...at, '--keep', '1', '--pipeline', 'video-render', '--yes']);
    assert.match(done, /\ndeleted 2 runs \(4 with their sub-pipeline runs\)\n$/);
    const left = JSON.parse(await ok(['runs', ...at, '--children', '--json'])) as RunPage;
    assert.equal(left.total, 3, 'the crunch, its child and the unicode run remain');
    assert.ok(left.runs.some((r) => r.id === showcase.id('deadline-crunch')));
    const gone = await cli(['show', ...at, showcase.id('quick-promo')]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no run id starts with/);
    const events = await adminQuery<{ n: number }>(`select count(*)::int as n from ${SCHEMA}.events where run_id = $1`, [showcase.id('quick-promo')]);
    assert.deepEqual(events, [{ n: 0 }], 'its events went with it');
  });
});

describe('spanflow migrate', { skip: NEEDS_POSTGRES }, () => {
  const schema = 'cli_migrate';
  const here = ['--database-url', TEST_DATABASE_URL, '--schema', schema];

  test('on an empty schema: reading commands say to migrate; migrate creates the tables once', async () => {
    await adminQuery(`drop schema if exists ${schema} cascade`);
    const before = await cli(['runs', ...here]);
    assert.equal(before.code, 1);
    assert.match(before.stderr, /schema 'cli_migrate' .* needs migrations \(0001-initial, 0002-durable-runs\): run `spanflow migrate`/);
    assert.doesNotMatch(before.stderr, /\n\s+at /);

    assert.match(await ok(['migrate', ...here]), /spanflow:\*\*\*@127\.0\.0\.1.*\(schema cli_migrate\): applied 0001-initial, 0002-durable-runs\n$/);
    assert.match(await ok(['migrate', ...here]), /is up to date \(0001-initial, 0002-durable-runs\)\n$/);
    assert.deepEqual(JSON.parse(await ok(['migrate', ...here, '--json'])).applied, []);
    assert.equal(await ok(['runs', ...here]), 'no runs stored yet\n');
    assert.match(await ok(['stats', ...here]), /^0 runs started in the last 7 days/);
    await adminQuery(`drop schema if exists ${schema} cascade`);
  });

  test('an unreachable server is a runtime error that names where it looked', async () => {
    const result = await cli(['runs', '--database-url', 'postgres://nobody:secret@127.0.0.1:1/none']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^spanflow: cannot open the run store at postgres:\/\/nobody:\*\*\*@127\.0\.0\.1:1\/none \(schema spanflow\): \S/);
    assert.doesNotMatch(result.stderr, /secret/);
  });
});
