// Traces and metrics over OTLP/HTTP in one call, configured by the usual OTEL_*
// variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, …).
// An application that registered its own OpenTelemetry SDK skips this: spanflow uses it.
import { startTelemetry } from '../../exporters/otel/index.ts';
import { pipeline } from '../../sdk/index.ts';

const telemetry = startTelemetry({ serviceName: 'quote-service' });

const quote = pipeline<{ skus: string[]; total?: number }>('quote')
  .map('price-skus', ({ state }) => state.skus, { worker: 'price', concurrency: 4, to: 'sum' })
  .step<string>('price', async ({ item }) => (item.startsWith('A') ? 10 : 25), { retry: 3, timeout: 2_000 })
  .step('sum', ({ state, output }) => {
    state.total = (output<number[]>('price-skus') ?? []).reduce((a, b) => a + b, 0);
  });

const result = await quote.run({ skus: ['A-1', 'B-2', 'B-3'] });
console.log(result.status, `total ${result.state.total}`, `run ${result.runId}`);
await telemetry.shutdown(); // flushes; gives up after shutdownTimeout (5 s) if the collector is down
