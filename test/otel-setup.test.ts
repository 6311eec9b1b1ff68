// What startTelemetry() registers besides its exporters, now that it builds the
// SDK from its pieces instead of @opentelemetry/sdk-node: the context manager
// (the active span survives an await), the propagators OTEL_PROPAGATORS names
// (W3C trace context and baggage by default), the sampler from
// OTEL_TRACES_SAMPLER / _ARG, and span limits from OTEL_SPAN_*_LIMIT. Each case
// is a child process (the global providers last for a whole process).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';

const otel = fileURLToPath(new URL('../exporters/otel/index.ts', import.meta.url));
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('OTEL_')));

const SCRIPT = `
const { context, propagation, trace } = await import('@opentelemetry/api');
const { startTelemetry } = await import(${JSON.stringify(otel)});
const telemetry = startTelemetry({ serviceName: 'setup', shutdownTimeout: 200 });
const tracer = trace.getTracer('setup');
const out = {};
await tracer.startActiveSpan('outer', async (span) => {
  await new Promise((resolve) => setTimeout(resolve, 1));
  out.activeAfterAwait = trace.getActiveSpan() === span;
  out.recording = span.isRecording();
  for (let i = 0; i < 5; i++) span.setAttribute('a' + i, i);
  out.attributes = Object.keys(span.attributes ?? {}).length;
  const headers = {};
  const withBaggage = propagation.setBaggage(context.active(), propagation.createBaggage({ tenant: { value: 'acme' } }));
  propagation.inject(withBaggage, headers);
  out.headers = Object.keys(headers).sort();
  span.end();
});
await telemetry.shutdown();
console.log(JSON.stringify(out));
`;

async function child(env: Record<string, string>): Promise<{ activeAfterAwait: boolean; recording: boolean; attributes: number; headers: string[] }> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', SCRIPT], {
    // Nothing listens on the discard port: exports fail at once, and nothing here depends on them.
    env: { ...cleanEnv, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_METRICS_EXPORTER: 'none', ...env },
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
}

describe('startTelemetry() registers the SDK pieces the OTEL_* variables choose', () => {
  test('by default: the active span survives an await; traceparent and baggage are propagated; every span is sampled', async () => {
    const out = await child({});
    assert.deepEqual(out, { activeAfterAwait: true, recording: true, attributes: 5, headers: ['baggage', 'traceparent'] });
  });

  test('OTEL_PROPAGATORS=tracecontext propagates the trace only; none propagates nothing', async () => {
    assert.deepEqual((await child({ OTEL_PROPAGATORS: 'tracecontext' })).headers, ['traceparent']);
    assert.deepEqual((await child({ OTEL_PROPAGATORS: 'none' })).headers, []);
  });

  test('OTEL_TRACES_SAMPLER=traceidratio with OTEL_TRACES_SAMPLER_ARG=0 records no span; OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT caps attributes', async () => {
    assert.equal((await child({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' })).recording, false);
    assert.equal((await child({ OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '2' })).attributes, 2);
  });
});
