// Every SQL query of the runs dashboard, run against the store's real schema on
// the test Postgres after the showcase and the ETL example stored their runs:
// each runs and returns rows, with Grafana's variables and macros filled in as
// Grafana would (the `schema` constant set to this file's own schema).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { trace } from '@opentelemetry/api';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { type DemoRound, demoRound } from '../compose/demo/round.ts';
import type { Store } from '../exporters/postgres/index.ts';
import { simulation } from '../examples/etl/pipeline.ts';
import { pipeline } from '../sdk/index.ts';
import { type DashboardQuery, dashboards, queriesOf, STACK_SCHEMA } from '../grafana/index.ts';
import { defaultPool } from '../worker-threads/index.ts';
import { adminQuery, NEEDS_POSTGRES, testStore } from './store-support.ts';

// Trace ids on the stored runs, as in the stack (the dashboard links each run to its trace).
trace.setGlobalTracerProvider(new TracerProvider());

const SCHEMA = 'grafana_sql';
const runs = dashboards().find((d) => d.file === 'runs.json')?.dashboard ?? assert.fail('no runs dashboard');
const sqlQueries = queriesOf(runs).filter((q) => q.rawSql !== undefined);
const byPanel = (panel: string): DashboardQuery[] => sqlQueries.filter((q) => q.panel === panel);

type Row = Record<string, unknown>;

describe('the runs dashboard’s SQL on the real schema', { skip: NEEDS_POSTGRES }, () => {
  let store: Store | undefined;
  let round: DemoRound | undefined;
  let retried: { readonly failed: string; readonly retry: string } | undefined;
  const from = new Date(Date.now() - 60_000);

  before(async () => {
    store = await testStore(SCHEMA);
    // A durable run that failed, and its retry: the recent runs link them. Before the round, whose last run the queries select.
    let gatewayUp = false;
    const checkout = pipeline('grafana-checkout', { durable: true, persist: store }).step('charge', () => {
      if (!gatewayUp) throw new Error('payment gateway unavailable');
      return 'charged';
    });
    const failed = await checkout.run(undefined);
    gatewayUp = true;
    retried = { failed: failed.runId, retry: (await checkout.retry(failed.runId)).runId };
    round = await demoRound({ persist: store, items: 1_000 });
    await store.flush();
  });

  after(async () => {
    await store?.close();
    await defaultPool().close();
  });

  /** Grafana's interpolation: `${schema}`, `$pipeline` (quoted, comma-separated), `$run`, `$__timeFilter(col)`. */
  function interpolate(sql: string, values: Readonly<Record<string, string>>): string {
    const to = new Date(Date.now() + 60_000);
    const filled = sql
      .replace(/\$__timeFilter\(([^)]+)\)/g, (_, column: string) => `${column} BETWEEN '${from.toISOString()}' AND '${to.toISOString()}'`)
      .replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced?: string, bare?: string) => values[braced ?? bare ?? ''] ?? whole);
    assert.doesNotMatch(filled, /\$/, `a variable or macro this test does not fill in: ${sql}`);
    return filled;
  }

  const quoted = (values: readonly string[]) => values.map((v) => `'${v.replace(/'/g, "''")}'`).join(',');
  const run = (sql: string, values: Readonly<Record<string, string>>) => adminQuery<Row>(interpolate(sql, values));

  /** The variables as Grafana sets them: the schema (this file's), every pipeline, then a run (the newest, or `runId`). */
  async function variables(runId?: string): Promise<Record<string, string>> {
    const values: Record<string, string> = { schema: SCHEMA };
    const [pipelines] = byPanel('$pipeline');
    assert.ok(pipelines?.rawSql);
    values.pipeline = quoted((await run(pipelines.rawSql, values)).map((row) => String(Object.values(row)[0])));
    const [runVariable] = byPanel('$run');
    assert.ok(runVariable?.rawSql);
    const choices = (await run(runVariable.rawSql, values)).map((row) => String(row.__value));
    assert.ok(choices.length > 0, 'the run variable lists runs');
    values.run = runId ?? (choices[0] as string);
    if (runId) assert.ok(choices.includes(runId), `the run variable lists ${runId}`);
    return values;
  }

  test('the schema is a dashboard constant set to the stack’s schema, and every table is named through it', () => {
    const constant = runs.templating?.list?.find((v) => v.name === 'schema');
    assert.equal(constant?.type, 'constant');
    assert.equal(constant?.query, STACK_SCHEMA);
    const tables = ['runs', 'step_attempts', 'pipelines', 'events'];
    let named = 0;
    for (const { panel, rawSql } of sqlQueries) {
      for (const [, , relation] of (rawSql ?? '').matchAll(/\b(from|join)\s+([\w.${}]+)/gi)) {
        if (!tables.includes(String(relation).replace(/^.*\./, ''))) continue;
        assert.match(String(relation), /^\$\{schema\}\./, `${panel}: ${relation} without the schema`);
        named++;
      }
    }
    assert.ok(named >= sqlQueries.length, 'the queries read the store’s tables');
  });

  test('every SQL query of every dashboard runs and returns rows', async () => {
    const withSql = dashboards().filter(({ dashboard }) => queriesOf(dashboard).some((q) => q.rawSql !== undefined));
    assert.deepEqual(
      withSql.map((d) => d.file),
      ['runs.json'],
    );
    const values = await variables();
    const empty: string[] = [];
    for (const query of sqlQueries) {
      if ((await run(query.rawSql as string, values)).length === 0) empty.push(`${query.panel} (${query.refId ?? 'variable'})`);
    }
    assert.deepEqual(empty, [], 'queries with no rows');
  });

  test('recent runs show each top-level run with its status, duration and trace id', async () => {
    assert.ok(round);
    const [recent] = byPanel('Recent runs');
    const rows = await run(recent?.rawSql as string, await variables());
    assert.ok(retried);
    const ids = [...round.scenarios.map((s) => s.result.runId), round.etl.runId, retried.failed, retried.retry];
    assert.deepEqual(rows.map((r) => r.run).sort(), [...ids].sort(), 'the sub-pipeline runs are not listed');
    const linked = (id: string) => rows.filter((r) => r.run === id).map((r) => [r.durable, r['linked run']]);
    assert.deepEqual(linked(retried.failed), [[`retried by ${retried.retry.slice(0, 8)}`, retried.retry]]);
    assert.deepEqual(linked(retried.retry), [[`retry of ${retried.failed.slice(0, 8)}`, retried.failed]]);
    assert.deepEqual(linked(round.etl.runId), [['', null]], 'a run that is not durable has no links');
    for (const row of rows) {
      assert.match(String(row.trace), /^[0-9a-f]{32}$/, `run ${row.run} has its trace id`);
      assert.ok(Number(row.duration) > 0);
      assert.ok(Number(row.from_ms) < Number(row.to_ms));
    }
    const crunch = rows.find((r) => r.run === round?.scenarios[2]?.result.runId);
    assert.equal(crunch?.status, 'timed_out');
    assert.equal(crunch?.['failed step'], 'render-farm-rush');
  });

  test('failures count retried and failed attempts by step and error type', async () => {
    const [failures] = byPanel('Failures by step and error type');
    const rows = await run(failures?.rawSql as string, await variables());
    const row = (step: string, type: string) => rows.find((r) => r.step === step && r['error type'] === type);
    assert.ok(Number(row('enrich/lookup-customer', 'UpstreamTimeout')?.failed) >= 1, 'the ETL record that never gets through');
    assert.ok(Number(row('enrich/lookup-customer', 'UpstreamTimeout')?.retried) >= 1, 'the ETL records that get through on a retry');
    assert.ok(Number(row('analyze', 'TransientError')?.retried) >= 1, 'the feature film’s scene analysis, retried once');
  });

  test('the timeline of a run holds each attempt of it and of its sub-pipelines, from start to end', async () => {
    const film = round?.scenarios[1]?.result.runId;
    assert.ok(film);
    const [timeline] = byPanel('Steps of the selected run');
    const rows = await run(timeline?.rawSql as string, await variables(film));
    const steps = new Set(rows.map((r) => r.step));
    for (const step of ['accept', 'analyze[5]', 'render-farm-hq', 'render-farm / render-frames']) assert.ok(steps.has(step), `${step} in ${[...steps]}`);
    const film5 = rows.filter((r) => r.step === 'analyze[5]').map((r) => r.status);
    assert.deepEqual(film5, ['retrying', null, 'succeeded', null], 'each attempt begins with its status and ends with a gap');
  });

  test('the graph of a run is its pipeline’s stored definition: graph nodes and edges, or a stage chain', async () => {
    assert.ok(round);
    const [nodes, edges] = byPanel('Pipeline graph of the selected run');
    const graph = async (runId: string) => {
      const values = await variables(runId);
      return { nodes: await run(nodes?.rawSql as string, values), edges: await run(edges?.rawSql as string, values) };
    };
    const film = await graph(round.scenarios[1]?.result.runId as string);
    const filmEdges = film.edges.map((e) => `${e.source} -> ${e.target}`);
    for (const edge of ['accept -> validate', 'extract -> analyze']) assert.ok(filmEdges.includes(edge), `${edge} in ${filmEdges}`);
    const accept = film.nodes.find((n) => n.id === 'accept');
    assert.equal(accept?.subtitle, 'step');
    assert.equal(Number(accept?.arc__succeeded), 1);
    const ids = new Set(film.nodes.map((n) => n.id));
    for (const { source, target } of film.edges) assert.ok(ids.has(source) && ids.has(target), `edge ${source} -> ${target} joins two nodes`);

    const etl = await graph(round.etl.runId);
    assert.deepEqual(
      etl.nodes.map((n) => n.id),
      ['fetch', 'parse', 'enrich', 'save'],
    );
    assert.deepEqual(
      etl.edges.map((e) => e.id),
      ['enrich -> save', 'fetch -> parse', 'parse -> enrich'],
    );
  });

  test('a stage batch’s graph shows each stage’s items, failures and time: what passed it, failed in it, was retried, its arc in proportion', async () => {
    assert.ok(round);
    const { etl } = round;
    const [nodes] = byPanel('Pipeline graph of the selected run');
    const rows = await run(nodes?.rawSql as string, await variables(etl.runId));
    const stage = (id: string) => rows.find((n) => n.id === id) ?? assert.fail(`no node ${id}`);
    // The flaky records' retries, and the two before the broken record's last attempt (of 3).
    const retried = Array.from({ length: etl.fed }, (_, i) => simulation.flakes(i) + (simulation.broken(i) ? 2 : 0)).reduce((a, b) => a + b, 0);
    const skipped = etl.skipped;
    assert.equal(etl.failed, 1, 'one record in a thousand fails');
    // Every item passes fetch; parse skips the empty ones; enrich fails one and retries the flaky ones; save writes the rest.
    const expected = {
      fetch: `${etl.fed} passed · 0 failed · 0 retried`,
      parse: `${etl.fed - skipped} passed · 0 failed · 0 retried`,
      enrich: `${etl.completed} passed · 1 failed · ${retried} retried`,
      save: `${etl.completed} passed · 0 failed · 0 retried`,
    };
    assert.deepEqual(Object.fromEntries(rows.map((n) => [n.id, n.secondarystat])), expected);
    for (const id of ['fetch', 'parse', 'save']) {
      assert.deepEqual([Number(stage(id).arc__succeeded), Number(stage(id).arc__failed), Number(stage(id).arc__other)], [1, 0, 0], `${id} is all green`);
    }
    const enrich = stage('enrich');
    assert.ok(Math.abs(Number(enrich.arc__failed) - 1 / (etl.completed + 1)) < 1e-9, `enrich's red is its one failed item of ${etl.completed + 1}: ${enrich.arc__failed}`);
    assert.ok(Math.abs(Number(enrich.arc__succeeded) + Number(enrich.arc__failed) - 1) < 1e-9);
    for (const row of rows) assert.ok(Number(row.mainstat) > 0, `${row.id} has the time its tasks took`);
  });

  test('a stage batch’s timeline shows each stage over the batch, red where an item failed, and its retried item attempts', async () => {
    assert.ok(round);
    const [timeline] = byPanel('Steps of the selected run');
    const rows = await run(timeline?.rawSql as string, await variables(round.etl.runId));
    const stages = Object.fromEntries(['fetch', 'parse', 'enrich', 'save'].map((name) => [name, rows.filter((r) => r.step === name).map((r) => r.status)]));
    assert.deepEqual(stages, { fetch: ['succeeded', null], parse: ['succeeded', null], enrich: ['failed', null], save: ['succeeded', null] });
    assert.ok(rows.some((r) => String(r.step).startsWith('enrich/lookup-customer[') && r.status === 'retrying'), 'the retried attempts');
  });
});
