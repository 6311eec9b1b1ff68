// Every PromQL query of every dashboard, evaluated by a real Prometheus on the
// metrics the showcase and the ETL example record, on each standard metrics
// path that can run here:
//   - @opentelemetry/exporter-prometheus, as a user sets it up, scraped by
//     Prometheus directly;
//   - the names the OpenTelemetry Collector and Prometheus 3's OTLP receiver
//     give (UnderscoreEscapingWithSuffixes): neither runs here, so the SDK's
//     metrics are exposed under grafana's emulation of that translation.
// One SDK feeds both (two readers); each path has its own Prometheus. Each query
// (its dashboard variables filled in from their own queries, as Grafana would)
// must parse and return a value; and the values a user reads on three panels
// are checked: a 0% success ratio, the p50 of a fast step.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { trace } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { demoRound } from '../compose/demo/round.ts';
import { ETL_META, etlPipeline, orders } from '../examples/etl/pipeline.ts';
import { type DashboardQuery, dashboards, OVERVIEW_UID, prometheusSeries, queriesOf } from '../grafana/index.ts';
import { METRICS, type MetricDef, pipeline } from '../sdk/index.ts';
import { defaultPool } from '../worker-threads/index.ts';
import { renderQueue } from './distributed-support.ts';
import { pullMetrics } from './metrics-support.ts';
import { metricsEndpoint, NEEDS_PROMETHEUS, type PrometheusServer, startPrometheus } from './prometheus-support.ts';
import { freePort } from './support.ts';

// The exporter serves from its own HTTP server, as in an application (started in `before`, once Prometheus is known to be here).
const exporterPort = await freePort();
const exporter = new PrometheusExporter({ host: '127.0.0.1', port: exporterPort, preventServerStart: true });
const reader = pullMetrics([exporter]);
// A tracer provider (spans kept by default), as in the stack: step durations are recorded for sampled attempts.
trace.setGlobalTracerProvider(new TracerProvider());

/** What Grafana puts for its interval variables: here, a window that holds the whole test, however slowly it runs (a rate needs its growth within the window). */
const WINDOW = '10m';
const BUILTINS: Readonly<Record<string, string>> = { __rate_interval: WINDOW, __range: WINDOW, __interval: WINDOW };

/** Grafana's multi-value format for Prometheus: `(a|b)`, each value regex-escaped, inside a PromQL string. */
const regexOf = (values: readonly string[]) => `(${values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\\/g, '\\\\')).join('|')})`;

function substitute(expr: string, values: ReadonlyMap<string, string>): string {
  const filled = expr.replace(/\$\{?(\w+)\}?/g, (whole, name: string) => BUILTINS[name] ?? values.get(name) ?? whole);
  assert.doesNotMatch(filled, /\$/, `a variable this test does not know in: ${expr}`);
  return filled;
}

const onPrometheus = dashboards().filter(({ dashboard }) => queriesOf(dashboard).some((q) => q.expr !== undefined));
const overview = onPrometheus.find((d) => d.dashboard.uid === OVERVIEW_UID)?.dashboard ?? assert.fail('no overview dashboard');
const panelQuery = (title: string, refId = 'A'): DashboardQuery =>
  queriesOf(overview).find((q) => q.panel === title && q.refId === refId) ?? assert.fail(`no overview panel ${title} (${refId})`);

/** A pipeline whose one step does nothing: each attempt takes a few µs. */
const FAST = 'fast-steps';
const fastSteps = pipeline(FAST).step('noop', () => {});
/** Runs of it per round: so many that the few a loaded machine preempts cannot move the median. */
const FAST_RUNS = 1_000;

/** The distributed queue metrics, recorded only when the test has a Postgres to run a queue on. */
const REMOTE_PANEL = /spanflow_remote_/;

interface MetricsPath {
  readonly name: string;
  prometheus?: PrometheusServer;
}
const PATHS: readonly MetricsPath[] = [{ name: 'exporter-prometheus scraped directly' }, { name: 'Collector / Prometheus 3 OTLP naming' }];

describe('the dashboards’ PromQL on a real Prometheus', { skip: NEEDS_PROMETHEUS }, () => {
  let endpoint: Awaited<ReturnType<typeof metricsEndpoint>> | undefined;
  let live: ReturnType<ReturnType<typeof etlPipeline>['start']> | undefined;
  /** The demo's render queue, so the distributed queue panels have data (undefined without Postgres: those are left out). */
  let queue: Awaited<ReturnType<typeof renderQueue>>;
  const scraped = () => Promise.all(PATHS.map((path) => path.prometheus?.nextScrape()));
  const recorded = (def: MetricDef) => queue !== undefined || !def.name.startsWith('spanflow.remote.');

  before(async () => {
    await exporter.startServer();
    endpoint = await metricsEndpoint(() => reader.collect());
    const [direct, collector] = PATHS;
    assert.ok(direct && collector);
    [direct.prometheus, collector.prometheus] = await Promise.all([startPrometheus(`127.0.0.1:${exporterPort}`), startPrometheus(endpoint.host)]);
    await scraped();
    queue = await renderQueue(`promql_${process.pid}`);
    const remote = queue ? { remote: queue.dispatcher } : {};
    // Two rounds with scrapes between them, so every counter and histogram grows within the rate window.
    const first = await demoRound({ items: 1_000, ...remote });
    assert.deepEqual(
      first.scenarios.map((s) => s.result.status),
      ['succeeded', 'succeeded', 'timed_out'],
    );
    assert.equal(first.etl.status, 'failed', 'the ETL example fails a record in every thousand');
    // A batch left open: the stage gauges (queue, in flight, workers) read it.
    live = etlPipeline(new Map(), { meta: ETL_META }).start();
    await live.feed(orders(100));
    for (let i = 0; i < FAST_RUNS; i++) await fastSteps.run(undefined);
    await scraped();
    await demoRound({ items: 1_000, ...remote });
    for (let i = 0; i < FAST_RUNS; i++) await fastSteps.run(undefined);
    // The scrape after the second round, then one more: the first one's samples are committed by then.
    await scraped();
    await scraped();
  });

  after(async () => {
    await live?.join();
    await defaultPool().close();
    await queue?.close();
    await Promise.all(PATHS.map((path) => path.prometheus?.stop()));
    await endpoint?.close();
    await exporter.shutdown();
  });

  test('the catalogue’s names are the Collector’s: dots to underscores, unit suffixes, _total on counters', () => {
    assert.equal(prometheusSeries(METRICS.runDuration).bucket, 'spanflow_run_duration_seconds_bucket');
    assert.equal(prometheusSeries(METRICS.runs).name, 'spanflow_runs_total');
    assert.equal(prometheusSeries(METRICS.activeRuns).name, 'spanflow_runs_active');
    assert.equal(prometheusSeries(METRICS.inFlight).name, 'spanflow_stage_items_in_flight');
    assert.equal(prometheusSeries(METRICS.poolUtilization).name, 'spanflow_pool_utilization_ratio');
    assert.equal(prometheusSeries({ name: 'pool.utilization', unit: '1', instrument: 'gauge' }).name, 'pool_utilization_ratio');
    assert.equal(prometheusSeries({ name: 'http.server.request.duration', unit: 'ms', instrument: 'histogram' }).count, 'http_server_request_duration_milliseconds_count');
    assert.equal(prometheusSeries({ name: 'net.io', unit: 'By/s', instrument: 'counter' }).name, 'net_io_bytes_per_second_total');
    assert.equal(prometheusSeries({ name: 'jobs.total', unit: '{job}', instrument: 'counter' }).name, 'jobs_total');
  });

  test('the overview and worker pools dashboards query Prometheus', () => {
    assert.deepEqual(onPrometheus.map((d) => d.file).sort(), ['overview.json', 'worker-pools.json']);
  });

  for (const path of PATHS) {
    describe(path.name, () => {
      const prometheus = () => path.prometheus ?? assert.fail('Prometheus did not start');

      test('every catalogue metric reaches Prometheus under the names the dashboards use', async () => {
        const names = new Set(await prometheus().labelValues('__name__', '{job="spanflow"}'));
        const missing = Object.values(METRICS as Readonly<Record<string, MetricDef>>).filter(recorded).flatMap((def) => {
          const s = prometheusSeries(def);
          return (s.type === 'histogram' ? [s.bucket, s.sum, s.count] : [s.name]).filter((name) => !names.has(name));
        });
        assert.deepEqual(missing, []);
      });

      /** The dashboard variables, in order (a later one may use an earlier one), each set to all its values, or to `given`. */
      async function variables(queries: readonly DashboardQuery[], given: Readonly<Record<string, string>> = {}): Promise<Map<string, string>> {
        const values = new Map<string, string>();
        for (const variable of queries.filter((q) => q.panel.startsWith('$'))) {
          const name = variable.panel.slice(1);
          const [, selector, label] = /^label_values\((.+),\s*(\w+)\)$/.exec(variable.expr ?? '') ?? assert.fail(`${variable.panel}: ${variable.expr}`);
          const found = await prometheus().labelValues(label as string, substitute(selector as string, values));
          assert.ok(found.length > 0, `${variable.panel} has values: ${variable.expr}`);
          const chosen = given[name];
          if (chosen !== undefined) assert.ok(found.includes(chosen), `${variable.panel} lists ${chosen}: ${found}`);
          values.set(name, regexOf(chosen === undefined ? found : [chosen]));
        }
        return values;
      }

      test('every PromQL target of every dashboard parses and returns a value', async (t) => {
        const empty: string[] = [];
        let targets = 0;
        for (const { file, dashboard } of onPrometheus) {
          const queries = queriesOf(dashboard).filter((q) => q.expr !== undefined);
          const values = await variables(queries);
          for (const query of queries.filter((q) => !q.panel.startsWith('$') && (queue !== undefined || !REMOTE_PANEL.test(q.expr ?? '')))) {
            targets++;
            const result = await prometheus().query(substitute(query.expr as string, values));
            if (!result.some(({ value }) => Number.isFinite(Number(value[1])))) empty.push(`${file} ${query.panel} (${query.refId}): ${query.expr}`);
          }
        }
        const line = `${path.name}: targets with data: ${targets - empty.length}/${targets}`;
        t.diagnostic(line);
        assert.deepEqual(empty, [], 'targets with no finite value');
      });

      /** What a panel of the overview shows with its variables set to `given` (the others to All). */
      async function shown(title: string, refId: string, given: Readonly<Record<string, string>> = {}) {
        const values = await variables(queriesOf(overview), given);
        return prometheus().query(substitute(panelQuery(title, refId).expr as string, values));
      }

      test('the success ratio shows 0% for the ETL example, whose every batch fails, beside the showcase’s ratio', async () => {
        const ratio = Object.fromEntries((await shown('Success ratio', 'A')).map(({ metric, value }) => [metric.cicd_pipeline_name, Number(value[1])]));
        assert.equal(ratio.etl, 0);
        // Two of the showcase's three scenarios succeed (Prometheus extrapolates each series' increase on its own: not exactly 2/3).
        assert.ok(ratio['video-render'] !== undefined && ratio['video-render'] > 0 && ratio['video-render'] < 1, `video-render ${ratio['video-render']}`);
      });

      test('the step duration p50 of a step that does nothing reads below 100 µs', async () => {
        const [p50] = await shown('Step duration p50 / p95 by step', 'A', { pipeline: FAST, step: 'noop' });
        assert.ok(p50, 'the panel shows the step');
        assert.ok(Number(p50.value[1]) < 100e-6, `p50 ${Number(p50.value[1]) * 1e6} µs`);
      });
    });
  }
});
