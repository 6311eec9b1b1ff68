// One catalogue of metrics: what the engine emits while the showcase (a graph
// pipeline), the ETL example (a stage pipeline) and the demo's remote-render
// batch (a stage on a distributed queue) run is exactly the catalogue,
// with its units, instruments, buckets and attributes, and never a run or item id;
// and each metric has one name in Prometheus, whichever way it gets there.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { trace } from '@opentelemetry/api';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { type CollectionResult, DataPointType, type MetricData } from '@opentelemetry/sdk-metrics';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { demoRound } from '../compose/demo/round.ts';
import { runEtl } from '../examples/etl/pipeline.ts';
import { runScenarios } from '../examples/video-render/pipeline.ts';
import { prometheusSeries } from '../grafana/index.ts';
import { ATTR, type Instrument, METRICS, type MetricDef } from '../sdk/index.ts';
import { renderQueue } from './distributed-support.ts';
import { pullMetrics } from './metrics-support.ts';

const reader = pullMetrics();
trace.setGlobalTracerProvider(new TracerProvider());

const catalogue: readonly MetricDef[] = Object.values(METRICS);
const defOf = (name: string): MetricDef | undefined => catalogue.find((def) => def.name === name);
const metricsIn = (result: CollectionResult): MetricData[] => result.resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);

function instrumentOf(metric: MetricData): Instrument | 'exponential histogram' {
  switch (metric.dataPointType) {
    case DataPointType.HISTOGRAM:
      return 'histogram';
    case DataPointType.EXPONENTIAL_HISTOGRAM:
      return 'exponential histogram';
    case DataPointType.GAUGE:
      return 'gauge';
    case DataPointType.SUM:
      return metric.isMonotonic ? 'counter' : 'updowncounter';
  }
}

describe('the metrics catalogue', () => {
  /** Every collect: one while the ETL batch is live (the gauges read live batches), one at the end. */
  const collections: CollectionResult[] = [];
  let emitted: MetricData[] = [];
  /** Metrics only a distributed queue records: not expected when Postgres is not here to run one. */
  const remoteOnly: string[] = [];

  before(async () => {
    const scenarios = await runScenarios();
    assert.deepEqual(
      scenarios.map((r) => r.result.status),
      ['succeeded', 'succeeded', 'timed_out'],
    );
    let midRun: Promise<CollectionResult> | undefined;
    let completed = 0;
    const etl = await runEtl({
      items: 300,
      dashboard: false,
      onEvent: (event) => {
        if (event.type === 'item_status' && event.status === 'completed' && ++completed === 50) midRun = reader.collect();
      },
    });
    assert.equal(etl.fed, 300);
    assert.ok(midRun, 'collected while the batch ran');
    // The distributed queue's metrics: a remote-render batch (none without Postgres, whose metrics are then left out below).
    const queue = await renderQueue(`catalogue_${process.pid}`);
    if (queue) {
      const { remote } = await demoRound({ items: 10, remote: queue.dispatcher });
      assert.equal(remote?.status, 'succeeded');
    }
    collections.push(await midRun, await reader.collect());
    await queue?.close();
    if (!queue) remoteOnly.push(...catalogue.filter((def) => def.name.startsWith('spanflow.remote.')).map((def) => def.name));
    for (const { errors } of collections) assert.deepEqual(errors, []);
    emitted = collections.flatMap(metricsIn);
  });

  test('every metric emitted is in the catalogue', () => {
    const unknown = [...new Set(emitted.map((m) => m.descriptor.name))].filter((name) => !defOf(name));
    assert.deepEqual(unknown, []);
  });

  test('every catalogue metric is emitted by the showcase, the ETL example and a remote-render batch together', () => {
    const names = new Set(emitted.map((m) => m.descriptor.name));
    const missing = catalogue.map((def) => def.name).filter((name) => !names.has(name) && !remoteOnly.includes(name));
    assert.deepEqual(missing, []);
  });

  test('each metric has the unit, description and instrument of its catalogue entry', () => {
    for (const metric of emitted) {
      const def = defOf(metric.descriptor.name);
      assert.ok(def, metric.descriptor.name);
      assert.equal(metric.descriptor.unit, def.unit, `${def.name} unit`);
      assert.equal(metric.descriptor.description, def.description, `${def.name} description`);
      assert.equal(instrumentOf(metric), def.instrument, `${def.name} instrument`);
    }
  });

  test('histograms use the catalogue buckets', () => {
    const histograms = emitted.filter((m) => m.dataPointType === DataPointType.HISTOGRAM);
    assert.ok(histograms.length > 0);
    for (const metric of histograms) {
      const buckets = defOf(metric.descriptor.name)?.buckets;
      assert.ok(buckets, `${metric.descriptor.name} has buckets in the catalogue`);
      for (const point of metric.dataPoints) assert.deepEqual(point.value.buckets.boundaries, [...buckets]);
    }
  });

  test('each metric has one Prometheus name: @opentelemetry/exporter-prometheus serves what the OTLP translation (Collector, Prometheus 3) gives', () => {
    // The exporter adds no unit suffix: a name that does not already end in its unit's would differ between the paths.
    const served = new Set(collections.flatMap((result) => [...new PrometheusSerializer().serialize(result.resourceMetrics).matchAll(/^# TYPE (\S+) (\w+)$/gm)].map((m) => `${m[1]} ${m[2]}`)));
    const translated = catalogue.filter((def) => !remoteOnly.includes(def.name)).map((def) => `${prometheusSeries(def).name} ${prometheusSeries(def).type}`);
    assert.deepEqual(translated.filter((family) => !served.has(family)), []);
  });

  test('data points carry only the attributes their catalogue entry declares, and no run or item id', () => {
    const ids: string[] = [ATTR.RUN_ID, ATTR.TASK_RUN_ID, ATTR.ITEM_ID, ATTR.PARENT_RUN_ID];
    for (const metric of emitted) {
      const declared: readonly string[] = defOf(metric.descriptor.name)?.attributes ?? [];
      for (const point of metric.dataPoints) {
        for (const key of Object.keys(point.attributes)) {
          assert.ok(!ids.includes(key), `${metric.descriptor.name} carries the id ${key}`);
          assert.ok(declared.includes(key), `${metric.descriptor.name} carries ${key}, not in its catalogue entry`);
        }
      }
    }
  });

  test('the stage gauges read the live ETL batch: queue, in flight, busy and idle workers per stage', () => {
    const [midRun] = collections;
    assert.ok(midRun);
    const gauges = metricsIn(midRun).filter((m) => m.dataPointType === DataPointType.GAUGE);
    const points = (name: string) => gauges.find((m) => m.descriptor.name === name)?.dataPoints ?? [];
    for (const def of [METRICS.queueSize, METRICS.inFlight, METRICS.workers]) {
      const stages = new Set(points(def.name).filter((p) => p.attributes[ATTR.PIPELINE_NAME] === 'etl').map((p) => p.attributes[ATTR.STAGE]));
      assert.deepEqual([...stages].sort(), ['enrich', 'fetch', 'parse', 'save'], `${def.name} per stage`);
    }
    const states = new Set(points(METRICS.workers.name).map((p) => p.attributes[ATTR.WORKER_STATE]));
    assert.deepEqual([...states].sort(), ['busy', 'idle']);
    const fetchWorkers = points(METRICS.workers.name)
      .filter((p) => p.attributes[ATTR.STAGE] === 'fetch')
      .reduce((sum, p) => sum + (p.value as number), 0);
    assert.equal(fetchWorkers, 4, 'busy + idle = the stage’s workers');
  });

  test('once the ETL batch ended, its stage gauges read 0 for every stage they reported: queue, in flight, busy and idle workers', () => {
    const [midRun, afterRun] = collections;
    assert.ok(midRun && afterRun);
    const etlPoints = (result: CollectionResult, def: MetricDef) =>
      (metricsIn(result).find((m) => m.descriptor.name === def.name)?.dataPoints ?? [])
        .filter((p) => p.attributes[ATTR.PIPELINE_NAME] === 'etl')
        .map((p) => [Object.values(p.attributes).join('/'), p.value as number] as const);
    for (const def of [METRICS.queueSize, METRICS.inFlight, METRICS.workers]) {
      const during = etlPoints(midRun, def);
      assert.ok(during.some(([, value]) => value > 0), `${def.name} was above 0 while the batch ran`);
      assert.deepEqual(etlPoints(afterRun, def), during.map(([series]) => [series, 0]), `${def.name} after the batch`);
    }
  });
});
