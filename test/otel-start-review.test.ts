// startTelemetry() under the OTEL_* variables test/otel-export.test.ts does not cover:
// OTEL_SDK_DISABLED, exporters set to none, an invalid endpoint, a signal-specific
// endpoint, a tiny batch queue in front of a collector that never answers, and
// starting and shutting down more than once. Each case runs in a child process of its
// own (test/fixtures/otel-review-child.ts), since OpenTelemetry globals last a process.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { type Received, receiver, spansOf } from './otel-receiver.ts';

/** What test/fixtures/otel-review-child.ts prints. */
interface ChildOut {
  readonly threw: false | string;
  readonly tracing: boolean;
  readonly metering: boolean;
  readonly statuses: string[];
  readonly heapGrowth: number;
  readonly shutdown: string;
  readonly shutdownAgain?: string;
  readonly sameHandle?: boolean;
  /** process.getActiveResourcesInfo() the moment shutdown returned. */
  readonly active?: string[];
  readonly messages: { level: string; text: string }[];
}

const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('OTEL_') && !key.startsWith('REVIEW_')));
const fixture = fileURLToPath(new URL('./fixtures/otel-review-child.ts', import.meta.url));
/** Readable bodies and spans sent soon; the exporters' timeouts stay at their defaults, so nothing sent to a live collector is lost to a stall. */
const JSON_SOON = { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '20' };
/** For a collector that is silent or refuses, where nothing is to arrive: exports give up after 300 ms, metrics are exported every 100 ms. */
const FAST = { ...JSON_SOON, OTEL_EXPORTER_OTLP_TIMEOUT: '300', REVIEW_METRIC_INTERVAL: '100' };
/** The kill is a hang guard only: under load the 2000-run child takes seconds. */
const HANG_GUARD_MS = 60_000;

async function child(mode: 'once' | 'twice', env: Record<string, string>): Promise<ChildOut> {
  const { stdout } = await promisify(execFile)(process.execPath, [fixture, mode], { env: { ...cleanEnv, ...env }, timeout: HANG_GUARD_MS });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as ChildOut;
}
const paths = (received: readonly Received[]) => new Set(received.map((r) => r.path));
const spanIds = (received: readonly Received[]) => spansOf(received).map((span) => span.spanId);

describe('startTelemetry honours the OTEL_* switches', () => {
  test('OTEL_SDK_DISABLED=true starts no SDK, sends nothing, pipelines run, and shutdown resolves', async () => {
    const collector = await receiver();
    try {
      const out = await child('once', { ...JSON_SOON, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_SDK_DISABLED: 'true' });
      assert.equal(out.threw, false);
      assert.deepEqual(out.statuses, ['succeeded', 'succeeded', 'succeeded']);
      assert.equal(out.tracing, false, 'no tracer provider registered');
      assert.equal(out.metering, false, 'no meter provider registered');
      assert.equal(out.shutdown, 'resolved');
      assert.equal(collector.received.length, 0);
      assert.ok(out.messages.some((m) => /OTEL_SDK_DISABLED/.test(m.text)), 'said so through diag');
    } finally {
      await collector.close();
    }
  });

  test('OTEL_TRACES_EXPORTER=none and OTEL_METRICS_EXPORTER=none: nothing is sent, nothing crashes', async () => {
    const collector = await receiver();
    try {
      const out = await child('once', { ...JSON_SOON, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none' });
      assert.equal(out.threw, false);
      assert.deepEqual(out.statuses, ['succeeded', 'succeeded', 'succeeded']);
      assert.equal(out.shutdown, 'resolved');
      assert.equal(collector.received.length, 0);
      assert.deepEqual(out.messages.filter((m) => m.level === 'error'), []);
    } finally {
      await collector.close();
    }
  });

  test('OTEL_TRACES_EXPORTER=none turns off spans only; OTEL_METRICS_EXPORTER=none turns off metrics only', async () => {
    for (const [variable, kept, gone] of [
      ['OTEL_TRACES_EXPORTER', '/v1/metrics', '/v1/traces'],
      ['OTEL_METRICS_EXPORTER', '/v1/traces', '/v1/metrics'],
    ] as const) {
      const collector = await receiver();
      try {
        const out = await child('once', { ...JSON_SOON, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, [variable]: 'none' });
        assert.deepEqual(out.statuses, ['succeeded', 'succeeded', 'succeeded']);
        assert.equal(out.shutdown, 'resolved');
        assert.ok(paths(collector.received).has(kept), `${variable}=none: ${kept} still exported`);
        assert.ok(!paths(collector.received).has(gone), `${variable}=none: nothing sent to ${gone}`);
      } finally {
        await collector.close();
      }
    }
  });

  test('a signal-specific endpoint is used as given, the general one gets /v1/<signal> appended', async () => {
    const collector = await receiver();
    try {
      const out = await child('once', {
        ...JSON_SOON,
        OTEL_EXPORTER_OTLP_ENDPOINT: `${collector.url}/base`,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector.url}/custom/spans`,
      });
      assert.deepEqual(out.statuses, ['succeeded', 'succeeded', 'succeeded']);
      assert.deepEqual([...paths(collector.received)].sort(), ['/base/v1/metrics', '/custom/spans']);
      assert.ok(spanIds(collector.received).length > 0, 'the spans arrived at the traces endpoint');
    } finally {
      await collector.close();
    }
  });
});

describe('startTelemetry refuses an OTLP protocol it cannot send', () => {
  const refused = async (env: Record<string, string>) => {
    const collector = await receiver();
    try {
      const out = await child('once', { ...JSON_SOON, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, ...env });
      assert.deepEqual(out.statuses, ['succeeded', 'succeeded', 'succeeded'], 'pipelines still run');
      assert.equal(out.tracing, false, 'no tracer provider was started');
      assert.equal(out.metering, false, 'no meter provider was started');
      assert.equal(collector.received.length, 0, 'nothing was sent over another protocol');
      return String(out.threw);
    } finally {
      await collector.close();
    }
  };

  test('OTEL_EXPORTER_OTLP_PROTOCOL=grpc: a TelemetryConfigError naming the variable, the supported values and what to do; nothing starts', async () => {
    const threw = await refused({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
    assert.match(threw, /^TelemetryConfigError: spanflow\/otel: OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported/);
    assert.match(threw, /http\/protobuf \(the default\) or http\/json/);
    assert.match(threw, /4318/, "it says which port OTLP/HTTP listens on");
    assert.match(threw, /your own OpenTelemetry SDK with the gRPC exporters/);
  });

  test('a signal-specific protocol variable is checked for its signal, and names itself', async () => {
    const threw = await refused({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'grpc' });
    assert.match(threw, /^TelemetryConfigError: spanflow\/otel: OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=grpc is not supported: metrics are exported/);
    const unknown = await refused({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/proto' });
    assert.match(unknown, /OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http\/proto is not supported: traces .* Set it to http\/protobuf or http\/json, or leave it unset/);
  });

  test('grpc in the general variable is no problem where each signal names its own protocol or is off', async () => {
    const envs: Record<string, string>[] = [
      { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json' },
      { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json', OTEL_METRICS_EXPORTER: 'none' },
    ];
    for (const env of envs) {
      const collector = await receiver();
      try {
        const out = await child('once', { ...JSON_SOON, ...env, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url });
        assert.equal(out.threw, false);
        assert.deepEqual(out.statuses, ['succeeded', 'succeeded', 'succeeded']);
        assert.equal(spanIds(collector.received).length, 3 * 3, 'the spans arrived over http/json');
      } finally {
        await collector.close();
      }
    }
  });
});

describe('startTelemetry never hurts the application', () => {
  test('an invalid OTEL_EXPORTER_OTLP_ENDPOINT: no throw, pipelines run, the problem is reported through diag, shutdown resolves', async () => {
    const out = await child('once', { ...FAST, OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' });
    assert.equal(out.threw, false);
    assert.deepEqual(out.statuses, ['succeeded', 'succeeded', 'succeeded']);
    assert.equal(out.shutdown, 'resolved');
    assert.ok(out.messages.some((m) => m.level === 'warn' && /not a url/.test(m.text)), 'the bad endpoint was reported');
  });

  test('a collector that never answers behind OTEL_BSP_MAX_QUEUE_SIZE=10: every run completes, memory stays bounded, shutdown resolves', async () => {
    const collector = await receiver({ silent: true });
    try {
      const out = await child('once', {
        ...FAST,
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_BSP_MAX_QUEUE_SIZE: '10',
        REVIEW_RUNS: '2000',
      });
      assert.equal(out.threw, false);
      assert.equal(out.statuses.length, 2000);
      assert.ok(out.statuses.every((s) => s === 'succeeded'));
      assert.ok(out.heapGrowth < 100 * 1024 * 1024, `heap grew ${out.heapGrowth} bytes`);
      assert.equal(out.shutdown, 'resolved');
      const batches = collector.received.filter((p) => p.path === '/v1/traces');
      assert.ok(batches.length > 0, 'span exports were attempted');
      for (const batch of batches) assert.ok(spanIds([batch]).length <= 10, `an export carried ${spanIds([batch]).length} spans`);
      assert.ok(spanIds(batches).length < 3 * 2000, 'spans beyond the queue were dropped, not buffered');
    } finally {
      await collector.close();
    }
  });

  test('with a collector that never answers and the default exporter timeouts, shutdown gives up at shutdownTimeout instead of holding the exit', async () => {
    const collector = await receiver({ silent: true });
    try {
      const out = await child('once', { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, REVIEW_SHUTDOWN_TIMEOUT: '300', REVIEW_SHUTDOWN_BOUND: '5000' });
      assert.deepEqual(out.statuses, ['succeeded', 'succeeded', 'succeeded']);
      assert.equal(out.shutdown, 'resolved');
      assert.ok(out.messages.some((m) => m.level === 'warn' && /shutdown gave up after 300 ms/.test(m.text)), 'the give-up was reported');
    } finally {
      await collector.close();
    }
  });

  for (const [how, makeCollector] of [
    ['refuses connections', async () => ({ url: 'http://127.0.0.1:1', close: async () => {} })],
    ['never answers', () => receiver({ silent: true })],
  ] as const) {
    test(`with a collector that ${how}, nothing of telemetry is left the moment shutdown gave up, and the process ends on its own`, async () => {
      const collector = await makeCollector();
      try {
        // A hang guard only: the child must end by itself (REVIEW_NATURAL_EXIT), or it is killed and this fails.
        const { stdout } = await promisify(execFile)(process.execPath, [fixture, 'once'], {
          env: { ...cleanEnv, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, REVIEW_METRIC_INTERVAL: '100', REVIEW_SHUTDOWN_TIMEOUT: '300', REVIEW_NATURAL_EXIT: '1' },
          timeout: HANG_GUARD_MS,
        });
        const out = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as ChildOut;
        assert.deepEqual(out.statuses, ['succeeded', 'succeeded', 'succeeded']);
        assert.equal(out.shutdown, 'resolved');
        assert.ok(out.messages.some((m) => /shutdown gave up after 300 ms/.test(m.text)), 'shutdown gave up');
        // Only the child's stdio may hold it: no exporter's timer (a retry's wait, an export's timeout), socket or request.
        assert.deepEqual(out.active?.filter((resource) => resource !== 'PipeWrap' && resource !== 'TTYWrap'), []);
      } finally {
        await collector.close();
      }
    });
  }

  test('intervals and timeouts beyond what a timer holds (1e12 ms) do not turn into 1 ms: spans and metrics still arrive', async () => {
    const collector = await receiver();
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [fixture, 'once'], {
        env: { ...cleanEnv, ...JSON_SOON, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_METRIC_EXPORT_INTERVAL: '1e12', OTEL_BSP_EXPORT_TIMEOUT: '1e12' },
        timeout: HANG_GUARD_MS,
      });
      const out = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as ChildOut;
      assert.deepEqual(out.statuses, ['succeeded', 'succeeded', 'succeeded']);
      assert.equal(out.shutdown, 'resolved');
      assert.doesNotMatch(stderr, /TimeoutOverflowWarning/);
      assert.equal(spanIds(collector.received).length, 3 * 3, 'every span arrived');
      assert.ok(paths(collector.received).has('/v1/metrics'), 'the metrics arrived');
    } finally {
      await collector.close();
    }
  });

  test('a second startTelemetry is a no-op; shutdowns, concurrent or repeated, resolve and spans go out once', async () => {
    const collector = await receiver();
    try {
      const out = await child('twice', { ...JSON_SOON, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url });
      assert.equal(out.threw, false);
      assert.deepEqual(out.statuses, ['succeeded', 'succeeded', 'succeeded']);
      assert.equal(out.shutdown, 'resolved');
      assert.equal(out.shutdownAgain, 'resolved');
      assert.ok(out.messages.some((m) => m.level === 'info' && /already started/.test(m.text)), 'the second call said so');
      const ids = spanIds(collector.received.filter((p) => p.path === '/v1/traces'));
      assert.equal(ids.length, 3 * 3, 'a run span and two step spans per run, each once');
      assert.equal(new Set(ids).size, ids.length, 'no span exported twice');
      assert.ok(paths(collector.received).has('/v1/metrics'), 'the shutdown flushed the metrics');
    } finally {
      await collector.close();
    }
  });
});
