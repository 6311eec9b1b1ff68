// The dashboards as code: the committed JSON is what `npm run grafana`
// generates, and every metric name in a query comes from the catalogue (each
// catalogue metric on some panel, no name that is not one of its).

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { type Catalogue, DASHBOARDS_DIR, dashboardJson, dashboards, prometheusSeries, queriesOf, RUNS_UID } from '../grafana/index.ts';
import { METRICS, type MetricDef } from '../sdk/index.ts';

const generated = dashboards();
const catalogue: readonly MetricDef[] = Object.values(METRICS as Readonly<Record<string, MetricDef>>);
const promql = generated.flatMap(({ dashboard }) => queriesOf(dashboard).flatMap((q) => (q.expr === undefined ? [] : [q.expr])));

describe('the dashboards as code', () => {
  test('the committed JSON in grafana/dashboards is what `npm run grafana` generates', () => {
    const committed = readdirSync(DASHBOARDS_DIR).filter((f) => f.endsWith('.json'));
    assert.deepEqual(committed.sort(), generated.map((g) => g.file).sort(), 'one JSON file per dashboard: run `npm run grafana`');
    for (const { file, dashboard } of generated) {
      const text = readFileSync(new URL(file, DASHBOARDS_DIR), 'utf8');
      assert.ok(text === dashboardJson(dashboard), `grafana/dashboards/${file} differs from what its code generates: run \`npm run grafana\``);
    }
  });

  test('each dashboard has its own uid and title, and links within the dashboards name existing uids', () => {
    const uids = generated.map((g) => g.dashboard.uid);
    assert.equal(new Set(uids).size, uids.length);
    assert.equal(new Set(generated.map((g) => g.dashboard.title)).size, uids.length);
    assert.ok(uids.includes(RUNS_UID));
    const links = generated.flatMap((g) => [...JSON.stringify(g.dashboard).matchAll(/\/d\/([\w-]+)/g)].map((m) => m[1]));
    assert.ok(links.length > 0);
    for (const uid of links) assert.ok(uids.includes(uid), `a link to dashboard ${uid}`);
  });

  test('every catalogue metric is on some dashboard', () => {
    const missing = catalogue.filter((def) => {
      const s = prometheusSeries(def);
      return !promql.some((expr) => [s.name, s.bucket, s.sum, s.count].some((name) => new RegExp(`\\b${name}\\b`).test(expr)));
    });
    assert.deepEqual(
      missing.map((d) => d.name),
      [],
    );
  });

  test('every metric a query reads is a catalogue metric under its Prometheus name', () => {
    const known = new Set(catalogue.flatMap((def) => Object.values(prometheusSeries(def))));
    // A metric in PromQL: a name followed by a selector or a range, or the first argument of label_values.
    const read = promql.flatMap((expr) => [...expr.matchAll(/([a-zA-Z_:][\w:]*)\s*(?=\{|\[)|label_values\(([a-zA-Z_:][\w:]*)/g)].map((m) => m[1] ?? m[2]));
    assert.ok(read.length > promql.length / 2);
    assert.deepEqual(
      [...new Set(read)].filter((name) => !known.has(name as string)),
      [],
    );
  });

  const titles = (file: string, catalogue: Catalogue) =>
    (dashboards(catalogue).find((d) => d.file === file)?.dashboard.panels ?? []).map((p) => `${p.type === 'row' ? '# ' : ''}${p.title}`);

  test('a metric added to the catalogue gets a panel on the overview with no edit to the dashboards', () => {
    const extra: MetricDef = { name: 'spanflow.example.wait', instrument: 'histogram', unit: 's', description: 'An example.', attributes: [] };
    const overview = dashboards({ ...METRICS, extra }).find((d) => d.file === 'overview.json')?.dashboard;
    assert.ok(overview);
    assert.deepEqual(titles('overview.json', { ...METRICS, extra }).slice(-2), ['# More metrics', 'spanflow.example.wait']);
    const exprs = queriesOf(overview).map((q) => q.expr ?? '');
    assert.ok(exprs.some((e) => e.includes('histogram_quantile(0.95, sum by (le) (rate(spanflow_example_wait_seconds_bucket[$__rate_interval])))')), exprs.join('\n'));
    assert.ok(!titles('overview.json', METRICS).includes('# More metrics'), 'the catalogue as it is needs no generic panel');
  });

  test('without pool metrics in the catalogue, the dashboards leave the pool panels out', () => {
    const withoutPools = Object.fromEntries(Object.entries(METRICS).filter(([key]) => !key.startsWith('pool')));
    assert.ok(Object.keys(withoutPools).length < Object.keys(METRICS).length);
    assert.deepEqual(titles('worker-pools.json', withoutPools), ['# Pools (no pool metrics in the catalogue yet)']);
    const pools = dashboards(withoutPools).find((d) => d.file === 'worker-pools.json')?.dashboard;
    assert.equal(pools?.templating?.list?.length ?? 0, 0, 'no pool variable');
    const overview = titles('overview.json', withoutPools);
    assert.ok(!overview.includes('# Worker threads') && !overview.includes('# More metrics'), overview.join(', '));
    assert.ok(titles('overview.json', METRICS).includes('# Worker threads'));
  });
});
