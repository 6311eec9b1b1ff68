// spanflow/otel end to end: the real OTLP/HTTP exporters started by startTelemetry()
// send the showcase's spans and metrics to a small OTLP receiver inside the test.
// This process runs the SDK once (globals last for a process); the collector-down,
// environment and already-registered cases each run in a child process of their own.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { type ProxyTracerProvider, trace } from '@opentelemetry/api';
import type { TracerProvider } from '@opentelemetry/sdk-trace';
import { runScenarios, type ScenarioRun } from '../examples/video-render/pipeline.ts';
import { startTelemetry } from '../exporters/otel/index.ts';
import { METRICS, SECONDS_BUCKETS } from '../sdk/index.ts';
import { attr, metricsOf, type OtlpMetric, type OtlpSpan, points, receiver, resourceOf, spansOf, value } from './otel-receiver.ts';

/** What test/fixtures/otel-child.ts prints. */
interface ChildOut {
  readonly runs: string[][];
  readonly messages: { level: string; text: string }[];
  readonly heapGrowth?: number;
  readonly shutdown?: string;
  readonly ownProviderKept?: boolean;
  readonly meterProviderRegistered?: boolean;
  readonly tracerProviderRegistered?: boolean;
  readonly ownSpans?: number;
  readonly ownMetrics?: string[];
}

const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('OTEL_')));
const fixture = fileURLToPath(new URL('./fixtures/otel-child.ts', import.meta.url));

/** Runs the fixture in `mode`; the kill after 120 s is a hang guard only (under load a child takes several seconds). */
async function child(mode: string, env: Record<string, string>): Promise<ChildOut> {
  const { stdout } = await promisify(execFile)(process.execPath, [fixture, mode], { env: { ...cleanEnv, ...env }, timeout: 120_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as ChildOut;
}

describe('startTelemetry sends the showcase to an OTLP/HTTP collector', () => {
  let collector: Awaited<ReturnType<typeof receiver>>;
  let runs: ScenarioRun[] = [];
  let spans: OtlpSpan[] = [];
  let byName = new Map<string, OtlpMetric>();

  before(async () => {
    collector = await receiver({ rejectFirstTraces: true });
    process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'http/json';
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = collector.url;
    process.env.OTEL_RESOURCE_ATTRIBUTES = 'deployment.environment.name=ci,service.version=2.4.0';
    delete process.env.OTEL_SERVICE_NAME;
    // No periodic export (its timeout would be the interval's): the shutdown's flush delivers the final values.
    const telemetry = startTelemetry({ serviceName: 'render-service', metricInterval: 60_000 });
    // One span exported on its own, into the collector's refusal: it must be counted as dropped.
    trace.getTracer('test').startSpan('refused').end();
    await ((trace.getTracerProvider() as ProxyTracerProvider).getDelegate() as TracerProvider).forceFlush();
    runs = await runScenarios();
    await telemetry.shutdown();
    await telemetry.shutdown();
    spans = spansOf(collector.received);
    byName = metricsOf(collector.received);
  });
  after(() => collector.close());

  test('the showcase ends as without telemetry', () => {
    assert.deepEqual(
      runs.map((r) => r.result.status),
      ['succeeded', 'succeeded', 'timed_out'],
    );
  });

  test('spans arrive with pipeline, hook and step names, under the service named by the option and the resource variables', () => {
    const names = new Set(spans.map((s) => s.name));
    for (const name of ['pipeline video-render', 'hook warm-gpu-pool', 'hook release-gpu-pool', 'step accept', 'step validate', 'step normalize', 'step extract', 'step analyze', 'step quality', 'step render-farm-hq', 'step render-farm-fast', 'step render-farm-rush', 'pipeline render-farm', 'pipeline rush-farm', 'step render-frames', 'step preview', 'step deliver']) {
      assert.ok(names.has(name), `span ${name} arrived`);
    }
    assert.ok(!names.has('refused'), 'the refused export did not arrive');
    assert.equal(spans.filter((s) => s.name === 'pipeline video-render').length, 3);
    const resource = resourceOf(collector.received, '/v1/traces');
    assert.equal(attr(resource, 'service.name'), 'render-service');
    assert.equal(attr(resource, 'deployment.environment.name'), 'ci');
    assert.equal(attr(resource, 'service.version'), '2.4.0');
  });

  test('parent and child spans are linked by parentSpanId', () => {
    const roots = spans.filter((s) => s.name === 'pipeline video-render');
    for (const root of roots) assert.equal(root.parentSpanId ?? '', '', 'a run started outside any span is a root');
    const parentOf = (span: OtlpSpan): OtlpSpan | undefined => spans.find((s) => s.spanId === span.parentSpanId && s.traceId === span.traceId);
    const expectParent = (child: string, parent: string) => {
      const children = spans.filter((s) => s.name === child);
      assert.ok(children.length > 0, `${child} arrived`);
      for (const span of children) assert.equal(parentOf(span)?.name, parent, `${child} is a child of ${parent}`);
    };
    expectParent('step accept', 'pipeline video-render');
    expectParent('hook warm-gpu-pool', 'pipeline video-render');
    expectParent('step analyze', 'step extract');
    for (const span of spans.filter((s) => s.name === 'step render-frames')) {
      assert.match(parentOf(span)?.name ?? '', /^pipeline (render|rush)-farm$/, 'render-frames is a child of its farm');
    }
    for (const farm of spans.filter((s) => s.name === 'pipeline render-farm')) {
      assert.match(parentOf(farm)?.name ?? '', /^step render-farm-(hq|fast)$/);
    }
    for (const farm of spans.filter((s) => s.name === 'pipeline rush-farm')) assert.equal(parentOf(farm)?.name, 'step render-farm-rush');
    assert.equal(new Set(spans.filter((s) => s.name.startsWith('step ')).map((s) => s.traceId)).size, 3, 'one trace per run tree');
  });

  test('attributes: pipeline names, node kinds, and the timed-out render step', () => {
    for (const span of spans.filter((s) => s.name.startsWith('step '))) assert.ok(attr(span, 'cicd.pipeline.name'), `${span.name} has a pipeline name`);
    const kinds = new Set(spans.filter((s) => s.name.startsWith('step ')).map((s) => attr(s, 'spanflow.node.kind')));
    assert.deepEqual([...kinds].sort(), ['barrier', 'map', 'step', 'sub', 'switch']);
    const timedOut = spans.filter((s) => s.name === 'step render-frames' && attr(s, 'cicd.pipeline.task.run.result') === 'timeout');
    assert.equal(timedOut.length, 1);
    assert.equal(timedOut[0]?.status?.code, 2, 'status ERROR');
    assert.equal(attr(timedOut[0], 'error.type'), 'StepTimeoutError');
    assert.equal(attr(spans.find((s) => s.name === 'pipeline rush-farm' && s.traceId === timedOut[0]?.traceId), 'cicd.pipeline.result'), 'timeout');
  });

  test('metrics arrive with the catalogue names, units and histogram buckets', () => {
    // A graph pipeline's metrics (items and the stage gauges come from stage pipelines).
    const { runDuration, runs, activeRuns, stepDuration, stepAttempts, stepRetries, tokens, telemetryDropped, persistenceDropped } = METRICS;
    for (const def of [runDuration, runs, activeRuns, stepDuration, stepAttempts, stepRetries, tokens, telemetryDropped, persistenceDropped]) {
      const metric = byName.get(def.name);
      assert.ok(metric, `${def.name} arrived`);
      assert.equal(metric.unit, def.unit, `${def.name} unit`);
      assert.ok(def.instrument === 'histogram' ? metric.histogram : metric.sum, `${def.name} is a ${def.instrument}`);
    }
    const duration = points(byName.get(METRICS.runDuration.name));
    assert.ok(duration.length > 0);
    for (const point of duration) assert.deepEqual(point.explicitBounds, [...SECONDS_BUCKETS]);
    assert.equal(byName.get('spanflow.runs')?.sum?.isMonotonic, true);
  });

  test('counters carry results, error types and export failures as attributes', () => {
    const runsOf = (result: string) =>
      points(byName.get('spanflow.runs'))
        .filter((p) => attr(p, 'cicd.pipeline.name') === 'video-render' && attr(p, 'cicd.pipeline.result') === result)
        .reduce((sum, p) => sum + value(p), 0);
    assert.equal(runsOf('success'), 2);
    assert.equal(runsOf('timeout'), 1);
    const retries = points(byName.get('spanflow.step.retries'));
    assert.ok(retries.some((p) => attr(p, 'cicd.pipeline.task.name') === 'analyze' && attr(p, 'error.type') === 'TransientError' && value(p) >= 1));
    const dropped = points(byName.get('spanflow.telemetry.dropped')).find((p) => attr(p, 'spanflow.drop.reason') === 'export_failed');
    assert.equal(dropped && value(dropped), 1, 'the one refused span is counted');
  });
});

describe('startTelemetry in a process of its own', () => {
  test('with the collector down, the showcase completes three times, memory stays bounded, and shutdown resolves', async () => {
    const closed = await receiver();
    await closed.close(); // its port is now closed
    const out = await child('down', {
      OTEL_EXPORTER_OTLP_ENDPOINT: closed.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_TIMEOUT: '500',
      OTEL_BSP_SCHEDULE_DELAY: '20',
    });
    assert.deepEqual(out.runs, Array.from({ length: 3 }, () => ['succeeded', 'succeeded', 'timed_out']));
    assert.ok((out.heapGrowth ?? Number.POSITIVE_INFINITY) < 200 * 1024 * 1024, `heap grew ${out.heapGrowth} bytes`);
    assert.equal(out.shutdown, 'resolved');
    assert.ok(
      out.messages.some((m) => m.level === 'error' && /ECONNREFUSED/.test(m.text)),
      'the failed exports were reported through diag, not thrown',
    );
  });

  test('OTEL_SERVICE_NAME wins over the option, OTEL_EXPORTER_OTLP_HEADERS are sent, OTEL_TRACES_SAMPLER is obeyed', async () => {
    const collector = await receiver();
    try {
      const out = await child('env', {
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=secret-1',
        OTEL_SERVICE_NAME: 'from-env',
        OTEL_TRACES_SAMPLER: 'always_off',
      });
      assert.deepEqual(out.runs, [['succeeded', 'succeeded', 'timed_out']]);
      assert.equal(spansOf(collector.received).length, 0, 'always_off: no span exported');
      const exports = collector.received.filter((r) => r.path === '/v1/metrics');
      assert.ok(exports.length > 0, 'metrics arrived');
      for (const r of exports) assert.equal(r.headers['x-api-key'], 'secret-1');
      assert.equal(attr(resourceOf(collector.received, '/v1/metrics'), 'service.name'), 'from-env');
      assert.ok(metricsOf(collector.received).has('spanflow.runs'));
    } finally {
      await collector.close();
    }
  });

  test('http/protobuf is the default protocol, and a signal-specific protocol variable wins for its signal', async () => {
    const collector = await receiver();
    try {
      const out = await child('env', { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json' });
      assert.deepEqual(out.runs, [['succeeded', 'succeeded', 'timed_out']]);
      const typesOf = (path: string) => new Set(collector.received.filter((r) => r.path === path).map((r) => r.headers['content-type']));
      assert.deepEqual([...typesOf('/v1/traces')], ['application/x-protobuf']);
      assert.ok(collector.received.some((r) => r.path === '/v1/traces' && r.bytes > 1000), 'the spans were sent');
      assert.deepEqual([...typesOf('/v1/metrics')], ['application/json']);
    } finally {
      await collector.close();
    }
  });

  for (const mode of ['tracer', 'meter'] as const) {
    test(`an application that registered its own ${mode} provider keeps it, and no second SDK starts`, async () => {
      const collector = await receiver();
      try {
        const out = await child(mode, { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
        assert.deepEqual(out.runs, [['succeeded', 'succeeded', 'timed_out']]);
        assert.equal(out.ownProviderKept, true);
        assert.ok(
          out.messages.some((m) => m.level === 'info' && /already registered/.test(m.text)),
          'said so through diag',
        );
        assert.equal(collector.received.length, 0, 'nothing was exported by spanflow');
        if (mode === 'tracer') {
          assert.equal(out.meterProviderRegistered, false, 'no meter provider was started either');
          assert.ok((out.ownSpans ?? 0) > 0, "the run's spans went to the application's provider");
        } else {
          assert.equal(out.tracerProviderRegistered, false, 'no tracer provider was started either');
          assert.ok(out.ownMetrics?.includes('spanflow.runs'), "the run's metrics went to the application's provider");
        }
      } finally {
        await collector.close();
      }
    });
  }
});
