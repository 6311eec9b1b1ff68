// Metrics in a test: a reader whose collect() the test calls when it wants to
// look, on a MeterProvider registered as the global one (once per process:
// each test file is its own).
import { metrics } from '@opentelemetry/api';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';

export class PullReader extends MetricReader {
  protected override onShutdown = (): Promise<void> => Promise.resolve();
  protected override onForceFlush = (): Promise<void> => Promise.resolve();
}

/** Registers a global MeterProvider read by a new PullReader (and by `others`, such as a Prometheus exporter), and returns the PullReader. */
export function pullMetrics(others: readonly MetricReader[] = []): PullReader {
  const reader = new PullReader();
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader, ...others] }));
  return reader;
}
