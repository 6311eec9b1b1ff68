// An application instrumented the way OpenTelemetry's docs have users do it,
// outside spanflow's own helpers: a node:http service (test/fixtures/instrumented-app)
// with the Node SDK and the http instrumentation, run in each standard set-up —
// the SDK started by the entry module, preloaded with `node --import`, and
// preloaded through NODE_OPTIONS — exporting to a real OTLP/HTTP receiver.
// Worker threads run the app's preloads again: the trace must not change.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { receiver, spanTree, spansOf } from './otel-receiver.ts';
import { freePort, HANG_GUARD } from './support.ts';

const app = (file: string) => fileURLToPath(new URL(`./fixtures/instrumented-app/${file}`, import.meta.url));
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('OTEL_') && key !== 'NODE_OPTIONS'));

interface SetUp {
  readonly name: string;
  readonly args: string[];
  readonly env: Record<string, string>;
}
const SET_UPS: readonly SetUp[] = [
  { name: 'the SDK started in the entry module', args: [app('main.ts')], env: {} },
  { name: 'node --import', args: ['--import', app('instrumentation.ts'), app('server.ts')], env: {} },
  { name: 'NODE_OPTIONS=--import', args: [app('server.ts')], env: { NODE_OPTIONS: `--import ${app('instrumentation.ts')}` } },
];

/** Starts the service, POSTs to `path` once, ends it with SIGTERM (its SDK flushes), and returns the answer and what it exported and printed. */
async function callOnce(setUp: SetUp, path: '/quote' | '/relay') {
  const collector = await receiver();
  try {
    const child = spawn(process.execPath, setUp.args, {
      env: {
        ...cleanEnv,
        ...setUp.env,
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_LOGS_EXPORTER: 'none',
        // Metrics on a Prometheus port of their own: a second SDK in a worker thread would fail to take it.
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(await freePort()),
        // The SDK's diag messages on stderr, as a user debugging this would see them.
        OTEL_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const port = await new Promise<number>((resolve, reject) => {
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        const found = /\{"port":(\d+)\}/.exec(stdout);
        if (found) resolve(Number(found[1]));
      });
      void exited.then((code) => reject(new Error(`the service ended (${code}) before it listened: ${stderr}`)));
    });
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST' });
    const answer = (await response.json()) as Record<string, unknown>;
    child.kill('SIGTERM');
    const code = await exited;
    return { answer, code, stderr, spans: spansOf(collector.received) };
  } finally {
    await collector.close();
  }
}

/** SPAN_KIND_CLIENT in OTLP (the API's SpanKind.CLIENT plus one). */
const OTLP_CLIENT = 3;

const EXPECTED = [
  'POST (@opentelemetry/instrumentation-http)',
  '  pipeline quote (spanflow)',
  '    step crunch (spanflow)',
  '      worker crunch (spanflow)',
  '        crunch numbers (crunch-lib)',
  '          sum (crunch-lib)',
  '    step price (spanflow)',
  '      GET (@opentelemetry/instrumentation-http)',
  '        GET (@opentelemetry/instrumentation-http)',
].join('\n');

describe('an instrumented service whose pipeline has a worker-thread step', () => {
  for (const setUp of SET_UPS) {
    test(`${setUp.name}: the worker's spans sit under the task span, one trace, no orphans, no second SDK in a thread`, HANG_GUARD, async () => {
      const { answer, code, stderr, spans } = await callOnce(setUp, '/quote');
      assert.deepEqual(answer, { status: 'succeeded', total: 12 });
      assert.equal(code, 0, `the service ended cleanly: ${stderr}`);
      assert.equal(spanTree(spans), EXPECTED);
      assert.equal(new Set(spans.map((s) => s.traceId)).size, 1, 'one trace');
      assert.doesNotMatch(stderr, /duplicate registration/i);
      assert.doesNotMatch(stderr, /EADDRINUSE/);
    });
  }

  for (const setUp of SET_UPS.filter((s) => s.args[0] === '--import' || s.env.NODE_OPTIONS)) {
    test(`${setUp.name}: an HTTP call the worker's code makes is a client span under the task span (the preload instrumented the thread)`, HANG_GUARD, async () => {
      const { answer, spans } = await callOnce(setUp, '/relay');
      assert.deepEqual(answer, { status: 'succeeded', prices: '[3,4,5]' });
      const task = spans.find((s) => s.name === 'worker fetchText');
      assert.ok(task, 'the task span was exported');
      const calls = spans.filter((s) => s.kind === OTLP_CLIENT);
      assert.deepEqual(
        calls.map((s) => [s.name, s.scope, s.parentSpanId === task.spanId, s.traceId === task.traceId]),
        [['GET', '@opentelemetry/instrumentation-http', true, true]],
      );
    });
  }
});
