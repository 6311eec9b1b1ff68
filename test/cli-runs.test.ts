// `spanflow runs` and `spanflow show` on the embedded database (SQLite): the
// showcase's three runs listed (as a table fitted to the terminal, and as
// JSON), filtered and paged; one run shown by a prefix of its id; prefixes
// that match several runs, none, or are not ids at all.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openStore, type RunPage } from '../exporters/postgres/index.ts';
import { pipeline } from '../sdk/index.ts';
import { cli, ok, persistShowcase, type Showcase } from './cli-support.ts';
import { tempFolder } from './support.ts';

const folder = tempFolder('cli-runs');
const at = ['--data-dir', folder.path];
/** Two runs whose ids share their first 8 characters. */
const TWINS = ['abcd1234-0000-4000-8000-000000000001', 'abcd1234-0000-4000-8000-000000000002'];
let showcase: Showcase;

before(async () => {
  const store = await openStore({ dataDir: folder.path });
  showcase = await persistShowcase(store);
  const twin = pipeline('twin').step('only', async () => 'done');
  for (const runId of TWINS) await twin.run(undefined, { persist: store, runId });
  await store.close();
});
after(() => folder.cleanup());

const page = async (...args: string[]): Promise<RunPage> => JSON.parse(await ok(['runs', ...at, '--json', ...args])) as RunPage;

describe('spanflow runs', () => {
  test('lists the three showcase runs, newest first, with status, duration and why one timed out', async () => {
    const out = await ok(['runs', ...at, '--pipeline', 'video-render']);
    const lines = out.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^run\s+pipeline\s+status\s+started\s+duration\s+note$/);
    const rows = lines.slice(1, 4);
    const newestFirst = showcase.runs.map((r) => r.result.runId.slice(0, 8)).reverse();
    assert.deepEqual(
      rows.map((l) => l.split(/\s+/)[0]),
      newestFirst,
    );
    assert.match(rows[0] ?? '', /video-render\s+timed_out\s.*\S+ m?s\s+at render-farm-rush · StepTimeoutError/);
    assert.match(rows[1] ?? '', /video-render\s+succeeded\s/);
    assert.equal(lines[4], '1–3 of 3 runs');
  });

  test('--data-dir means the embedded database even when the environment names a server', async () => {
    const listed = await cli(['runs', ...at, '--json'], { env: { SPANFLOW_DATABASE_URL: 'postgres://nobody:x@127.0.0.1:1/none', DATABASE_URL: 'postgres://nobody:x@127.0.0.1:1/none' } });
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal((JSON.parse(listed.stdout) as RunPage).total, 5);
  });

  test('--json gives every field of each run, and the page', async () => {
    const all = await page();
    assert.equal(all.total, 5, 'three showcase runs and two twins; sub-pipeline runs are left out');
    const crunch = all.runs.find((r) => r.id === showcase.id('deadline-crunch'));
    assert.equal(crunch?.status, 'timed_out');
    assert.equal(crunch?.failedNode, 'render-farm-rush');
    assert.equal(crunch?.error?.type, 'StepTimeoutError');
    assert.equal(crunch?.parentRunId, null);
    assert.equal(typeof crunch?.startedAt, 'string');
  });

  test('filters by status, pipeline and start time, includes sub-pipeline runs on request, and pages', async () => {
    assert.deepEqual(
      (await page('--status', 'timed_out')).runs.map((r) => r.id),
      [showcase.id('deadline-crunch')],
    );
    assert.equal((await page('--status', 'succeeded,timed_out', '--pipeline', 'video-render')).total, 3);
    assert.equal((await page('--pipeline', 'twin')).total, 2);
    assert.equal((await page('--since', '1h')).total, 5);
    assert.equal((await page('--until', '1h')).total, 0);
    assert.equal((await page('--since', '2000-01-01', '--until', '2999-01-01')).total, 5);
    const withChildren = await page('--children');
    assert.equal(withChildren.total, 8);
    assert.equal(withChildren.runs.filter((r) => r.pipeline === 'render-farm').length, 2);
    assert.equal(withChildren.runs.filter((r) => r.pipeline === 'rush-farm').length, 1);
    const first = await page('--limit', '2');
    const second = await page('--limit', '2', '--offset', '2');
    assert.equal(first.runs.length, 2);
    assert.equal(first.nextOffset, 2);
    assert.equal(new Set([...first.runs, ...second.runs].map((r) => r.id)).size, 4, 'pages do not overlap');
    assert.match(await ok(['runs', ...at, '--limit', '2']), /1–2 of 5 runs · next page: --offset 2/);
  });

  test('fits the table to the terminal width, cutting the widest column', async () => {
    for (const columns of [60, 90]) {
      const out = await ok(['runs', ...at, '--children'], { columns });
      for (const line of out.trimEnd().split('\n')) assert.ok([...line].length <= columns, `${JSON.stringify(line)} fits in ${columns}`);
      assert.match(out, /…/);
    }
  });

  test('colours statuses only when colour is on', async () => {
    const plainOut = await ok(['runs', ...at], { color: false });
    assert.ok(!plainOut.includes('\u001b['), 'no escape codes');
    const coloured = await ok(['runs', ...at], { color: true });
    assert.ok(coloured.includes('\u001b[32msucceeded\u001b[39m'), 'succeeded in green');
    assert.ok(coloured.includes('\u001b[31mtimed_out\u001b[39m'), 'timed_out in red');
  });

  test('a folder with no runs: says where it looked and what to do, and makes nothing there', async () => {
    const missing = join(folder.path, 'nowhere');
    const none = await cli(['runs', '--data-dir', missing]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, new RegExp(`no runs stored in ${missing}: the folder does not exist\\. Run a pipeline with \`persist: true\` first`));
    assert.equal(existsSync(missing), false);
    const empty = join(folder.path, 'empty');
    mkdirSync(empty);
    const emptyResult = await cli(['runs', '--data-dir', empty, '--schema', 'other']);
    assert.match(emptyResult.stderr, new RegExp(`no runs stored in ${empty}: ${join(empty, 'runs-other.sqlite')} does not exist\\. Run a pipeline`));
    assert.deepEqual(readdirSync(empty), [], 'no database made where the user may have mistyped a folder');
    // A folder of an earlier spanflow's embedded Postgres (PGlite).
    const older = join(folder.path, 'pglite');
    mkdirSync(older);
    writeFileSync(join(older, 'PG_VERSION'), '17\n');
    assert.match((await cli(['runs', '--data-dir', older])).stderr, /the folder holds runs of the embedded Postgres, PGlite, that earlier versions of spanflow kept/);
  });

  test('bad filter values are usage errors (exit 2) that name the problem and the fix', async () => {
    const cases: [string[], RegExp][] = [
      [['--status', 'done'], /unknown status 'done': use one or more of pending, running, succeeded/],
      [['--since', 'yesterday'], /'yesterday' is neither a duration ago .* nor a date/],
      [['--limit', '0'], /'0' is not a whole number from 1 to 1000/],
      [['--offset', '-1'], /'-1' is not a whole number 0 or more/],
      [['--colour'], /unknown option '--colour'/],
    ];
    for (const [args, message] of cases) {
      const result = await cli(['runs', ...at, ...args]);
      assert.equal(result.code, 2, args.join(' '));
      assert.match(result.stderr, message);
      assert.equal(result.stdout, '');
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    }
  });
});

describe('spanflow show', () => {
  test('shows a run by a prefix of its id: header, steps with timeline bars, errors, child run', async () => {
    const id = showcase.id('deadline-crunch');
    const out = await ok(['show', ...at, id.slice(0, 6)]);
    assert.match(out, new RegExp(`^run\\s+${id}\\n`));
    assert.match(out, /\nstatus\s+timed_out at render-farm-rush\n/);
    assert.match(out, /\nduration\s+\d+(\.\d+)? m?s\n/);
    assert.match(out, /\ntrace id\s+/);
    assert.match(out, new RegExp(`\\nhost\\s+\\S+ · pid ${process.pid}\\n`));
    assert.match(out, /\nerror\s+StepTimeoutError: step 'render-frames' timed out after 400 ms\n/);
    assert.match(out, /\npipeline meta\s+.*version=2\.4\.0/);
    assert.match(out, /\nanalyze\[5\]\s+step\s+1\s+succeeded\s+\S+ m?s\s+ *█+/);
    assert.match(out, /\nrender-farm-rush\s+sub\s+1\s+timed_out\s+\S+ m?s\s+ *█+/);
    assert.match(out, /\nrender-farm-fast\s+sub\s+—\s+skipped \(not-reached\)\s+—/);
    assert.match(out, /\nerrors\nstep\s+status\s+error\nrender-farm-rush\s+timed_out\s+StepTimeoutError: step 'render-frames'/);
    assert.match(out, /\nchild runs\n.*\n[0-9a-f]{8}\s+rush-farm\s+timed_out\s.*at render-frames/);
  });

  test('shows the retried attempt of the feature film, and --json gives the run with its steps and children', async () => {
    const id = showcase.id('feature-film');
    assert.match(await ok(['show', ...at, id.slice(0, 8)]), /\nanalyze\[5\]\s+step\s+1\s+retrying\s.*\nanalyze\[5\]\s+step\s+2\s+succeeded/s);
    const run = JSON.parse(await ok(['show', ...at, id, '--json']));
    assert.equal(run.id, id);
    assert.equal(run.steps.filter((s: { status: string }) => s.status === 'retrying').length, 1);
    assert.equal(run.children.length, 1);
    assert.equal(run.events, undefined, 'events are what export is for');
  });

  test('a prefix several runs share is an error that lists them', async () => {
    const result = await cli(['show', ...at, 'abcd1234']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /run id prefix 'abcd1234' is ambiguous: it matches 2 runs/);
    for (const id of TWINS) assert.match(result.stderr, new RegExp(`\\n {2}${id} {2}twin {2}succeeded {2}started `));
    assert.match(result.stderr, /give more characters of the one you mean/);
    assert.match(await ok(['show', ...at, TWINS[1] as string]), /\nstatus\s+succeeded\n/);
  });

  test('an unknown prefix, or one that is not an id, is a clear error', async () => {
    const unknown = await cli(['show', ...at, 'ffff0000']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no run id starts with 'ffff0000': `spanflow runs` lists the runs/);
    for (const bad of ['abc', 'not-a-run', "abcd'; drop table runs; --"]) {
      const result = await cli(['show', ...at, bad]);
      assert.equal(result.code, 2, bad);
      assert.match(result.stderr, /is not a run id: give the id, or its first 4 or more characters/);
    }
    const missing = await cli(['show', ...at]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing required argument 'run'/);
  });
});
