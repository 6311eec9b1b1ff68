// Every PromQL query of every dashboard, evaluated by a real Prometheus on the
// metrics the showcase and the ETL example record: the SDK's metrics are
// exposed under the collector's Prometheus names (grafana's translation),
// Prometheus scrapes them, and each query (its dashboard variables filled in
// from their own queries, as Grafana would) must parse and return a value.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { trace } from '@opentelemetry/api';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { demoRound } from '../compose/demo/round.ts';
import { ETL_META, etlPipeline, orders } from '../examples/etl/pipeline.ts';
import { dashboards, prometheusSeries, queriesOf } from '../grafana/index.ts';
import { METRICS, type MetricDef } from '../sdk/index.ts';
import { defaultPool } from '../worker-threads/index.ts';
import { metricsEndpoint, NEEDS_PROMETHEUS, type PrometheusServer, startPrometheus } from './prometheus-support.ts';
import { pullMetrics } from './metrics-support.ts';

const reader = pullMetrics();
// A tracer provider (spans kept by default), as in the stack: step durations are recorded for sampled attempts.
trace.setGlobalTracerProvider(new TracerProvider());

/** What Grafana puts for its interval variables: here, a window that holds the whole test. */
const WINDOW = '1m';
const BUILTINS: Readonly<Record<string, string>> = { __rate_interval: WINDOW, __range: WINDOW, __interval: WINDOW };

/** Grafana's multi-value format for Prometheus: `(a|b)`, each value regex-escaped, inside a PromQL string. */
const regexOf = (values: readonly string[]) => `(${values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\\/g, '\\\\')).join('|')})`;

function substitute(expr: string, values: ReadonlyMap<string, string>): string {
  const filled = expr.replace(/\$\{?(\w+)\}?/g, (whole, name: string) => BUILTINS[name] ?? values.get(name) ?? whole);
  assert.doesNotMatch(filled, /\$/, `a variable this test does not know in: ${expr}`);
  return filled;
}

describe('the dashboards’ PromQL on a real Prometheus', { skip: NEEDS_PROMETHEUS }, () => {
  let endpoint: Awaited<ReturnType<typeof metricsEndpoint>> | undefined;
  let prometheus: PrometheusServer | undefined;
  let live: ReturnType<ReturnType<typeof etlPipeline>['start']> | undefined;

  before(async () => {
    endpoint = await metricsEndpoint(() => reader.collect());
    prometheus = await startPrometheus(endpoint.host);
    await endpoint.nextScrape();
    // Two rounds with scrapes between them, so every counter and histogram grows within the rate window.
    const first = await demoRound({ items: 1_000 });
    assert.deepEqual(
      first.scenarios.map((s) => s.result.status),
      ['succeeded', 'succeeded', 'timed_out'],
    );
    // A batch left open: the stage gauges (queue, in flight, workers) read live batches only.
    live = etlPipeline(new Map(), { meta: ETL_META }).start();
    await live.feed(orders(100));
    await endpoint.nextScrape();
    await demoRound({ items: 1_000 });
    // The scrape after the second round, then one more: the first one's samples are committed by then.
    await endpoint.nextScrape();
    await endpoint.nextScrape();
  });

  after(async () => {
    await live?.join();
    await defaultPool().close();
    await prometheus?.stop();
    await endpoint?.close();
  });

  test('every catalogue metric reaches Prometheus under its translated names', async () => {
    assert.ok(prometheus);
    const names = new Set(await prometheus.labelValues('__name__', '{job="spanflow"}'));
    const missing = Object.values(METRICS as Readonly<Record<string, MetricDef>>).flatMap((def) => {
      const s = prometheusSeries(def);
      return (s.type === 'histogram' ? [s.bucket, s.sum, s.count] : [s.name]).filter((name) => !names.has(name));
    });
    assert.deepEqual(missing, []);
  });

  test('the catalogue’s names are the collector’s: dots to underscores, unit suffixes, _total on counters', () => {
    assert.equal(prometheusSeries(METRICS.runDuration).bucket, 'spanflow_run_duration_seconds_bucket');
    assert.equal(prometheusSeries(METRICS.runs).name, 'spanflow_runs_total');
    assert.equal(prometheusSeries(METRICS.activeRuns).name, 'spanflow_runs_active');
    assert.equal(prometheusSeries(METRICS.inFlight).name, 'spanflow_stage_items_in_flight');
    assert.equal(prometheusSeries({ name: 'pool.utilization', unit: '1', instrument: 'gauge' }).name, 'pool_utilization_ratio');
    assert.equal(prometheusSeries({ name: 'http.server.request.duration', unit: 'ms', instrument: 'histogram' }).count, 'http_server_request_duration_milliseconds_count');
    assert.equal(prometheusSeries({ name: 'net.io', unit: 'By/s', instrument: 'counter' }).name, 'net_io_bytes_per_second_total');
    assert.equal(prometheusSeries({ name: 'jobs.total', unit: '{job}', instrument: 'counter' }).name, 'jobs_total');
  });

  const onPrometheus = dashboards().filter(({ dashboard }) => queriesOf(dashboard).some((q) => q.expr !== undefined));
  test('the overview and worker pools dashboards query Prometheus', () => {
    assert.deepEqual(onPrometheus.map((d) => d.file).sort(), ['overview.json', 'worker-pools.json']);
  });

  for (const { file, dashboard } of onPrometheus) {
    test(`every PromQL query of ${file} parses and returns a value`, async () => {
      assert.ok(prometheus);
      const queries = queriesOf(dashboard).filter((q) => q.expr !== undefined);
      // Variables first, in order (a later one may use an earlier one), each set to all its values.
      const values = new Map<string, string>();
      for (const variable of queries.filter((q) => q.panel.startsWith('$'))) {
        const [, selector, label] = /^label_values\((.+),\s*(\w+)\)$/.exec(variable.expr ?? '') ?? assert.fail(`${variable.panel}: ${variable.expr}`);
        const found = await prometheus.labelValues(label as string, substitute(selector as string, values));
        assert.ok(found.length > 0, `${file} ${variable.panel} has values: ${variable.expr}`);
        values.set(variable.panel.slice(1), regexOf(found));
      }
      const empty: string[] = [];
      for (const query of queries.filter((q) => !q.panel.startsWith('$'))) {
        const result = await prometheus.query(substitute(query.expr as string, values));
        if (!result.some(({ value }) => Number.isFinite(Number(value[1])))) empty.push(`${query.panel} (${query.refId}): ${query.expr}`);
      }
      assert.deepEqual(empty, [], 'queries with no finite value');
    });
  }
});
