// The OTLP/HTTP exporters, chosen by the standard protocol variables, and the
// span-side wrappers that keep a dead collector away from the pipeline: failed
// exports are counted, never thrown, and the batch queue is bounded.

import {
  type Attributes,
  type BatchObservableCallback,
  type Context,
  type Counter,
  createNoopMeter,
  diag,
  type Meter,
  type MeterProvider,
  type MetricOptions,
  metrics,
  type Observable,
} from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import type { BatchSpanProcessor, ReadableSpan, Span, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import { METRICS, SpanflowError } from '../../sdk/index.ts';
import type { ExporterConnections } from './agent.ts';
import { core, metricsOtlpHttp, metricsOtlpProto, sdkTrace, traceOtlpHttp, traceOtlpProto } from './packages.ts';

export type OtlpProtocol = 'http/json' | 'http/protobuf';
export type Signal = 'TRACES' | 'METRICS';
const PROTOCOLS: readonly OtlpProtocol[] = ['http/protobuf', 'http/json'];

/** The telemetry set-up asks for something spanflow/otel cannot do; nothing was started. */
export class TelemetryConfigError extends SpanflowError {
  override name = 'TelemetryConfigError';
  /** The environment variable that asked for it. */
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(message);
    this.variable = variable;
  }
}

/**
 * OTEL_EXPORTER_OTLP_{TRACES,METRICS}_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL,
 * else the spec's default http/protobuf. Any other value (gRPC above all) is a
 * TelemetryConfigError: sending something else than asked would look like a
 * working set-up that exports nothing.
 */
export function protocolOf(signal: Signal): OtlpProtocol {
  const own = `OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`;
  const { getStringFromEnv } = core();
  const variable = getStringFromEnv(own) !== undefined ? own : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const raw = getStringFromEnv(variable)?.trim() ?? '';
  if (raw === '') return 'http/protobuf';
  const known = PROTOCOLS.find((protocol) => protocol === raw);
  if (known) return known;
  const grpc = raw.toLowerCase() === 'grpc';
  throw new TelemetryConfigError(
    variable,
    `spanflow/otel: ${variable}=${raw} is not supported: ${signal.toLowerCase()} are exported over OTLP/HTTP only, as http/protobuf (the default) or http/json. ` +
      (grpc
        ? 'Set it to http/protobuf and point OTEL_EXPORTER_OTLP_ENDPOINT at the collector\'s OTLP/HTTP port (4318, not gRPC\'s 4317), ' +
          'or start your own OpenTelemetry SDK with the gRPC exporters before startTelemetry() (spanflow then uses it and starts none).'
        : 'Set it to http/protobuf or http/json, or leave it unset.'),
  );
}

/**
 * The OTLP/HTTP span exporter; endpoint, headers, timeout and compression come
 * from the OTEL_EXPORTER_OTLP_* variables; its connections from `connections`.
 */
export function otlpSpanExporter(connections: ExporterConnections, protocol: OtlpProtocol): SpanExporter {
  const config = { httpAgentOptions: connections.agentFactory };
  return connections.adopt(protocol === 'http/json' ? new (traceOtlpHttp().OTLPTraceExporter)(config) : new (traceOtlpProto().OTLPTraceExporter)(config));
}

/** The OTLP/HTTP metric exporter (temporality from OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE). */
export function otlpMetricExporter(connections: ExporterConnections, protocol: OtlpProtocol): PushMetricExporter {
  const config = { httpAgentOptions: connections.agentFactory };
  return connections.adopt(protocol === 'http/json' ? new (metricsOtlpHttp().OTLPMetricExporter)(config) : new (metricsOtlpProto().OTLPMetricExporter)(config));
}

/** The longest timer Node honours: a longer delay fires after 1 ms instead. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A positive number from the environment, capped at MAX_TIMER_MS, or undefined (unset, not a number, or <= 0). */
export function positiveFromEnv(name: string): number | undefined {
  const value = core().getNumberFromEnv(name);
  return value !== undefined && Number.isFinite(value) && value > 0 ? Math.min(value, MAX_TIMER_MS) : undefined;
}

/** Why spans were dropped, as `spanflow.drop.reason` says it. */
export type DropReason = 'export_failed' | 'queue_full';

/** Counts dropped spans; a no-op until the counter exists. */
export type CountDropped = (spans: number, reason: DropReason) => void;

/** The counter of `spanflow.telemetry.dropped`, made from the catalogue on the global meter. */
export function droppedCounter(): Counter {
  const def = METRICS.telemetryDropped;
  return metrics.getMeter('spanflow').createCounter(def.name, { unit: def.unit, description: def.description });
}

/**
 * Wraps a span exporter: every span of an export that failed (or threw) is
 * counted as dropped with reason `export_failed`, and the exporter's own
 * errors never escape as exceptions.
 */
export class CountingSpanExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  readonly #dropped: CountDropped;

  constructor(inner: SpanExporter, dropped: CountDropped) {
    this.#inner = inner;
    this.#dropped = dropped;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    let done = false;
    const finish = (result: ExportResult): void => {
      if (done) return;
      done = true;
      if (result.code !== core().ExportResultCode.SUCCESS) this.#dropped(spans.length, 'export_failed');
      resultCallback(result);
    };
    try {
      this.#inner.export(spans, finish);
    } catch (error) {
      finish({ code: core().ExportResultCode.FAILED, error: error instanceof Error ? error : new Error(String(error)) });
    }
  }

  shutdown(): Promise<void> {
    return quietly(() => this.#inner.shutdown(), 'span exporter shutdown failed');
  }

  forceFlush(): Promise<void> {
    return quietly(() => this.#inner.forceFlush?.(), 'span exporter flush failed');
  }
}

/** Runs a flush or shutdown whose failure is reported through `diag`, never rejected. */
async function quietly(work: () => Promise<unknown> | undefined, what: string): Promise<void> {
  try {
    await work();
  } catch (error) {
    diag.warn(`spanflow/otel: ${what}`, error);
  }
}

export interface BatchOptions {
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
  readonly scheduledDelayMillis: number;
  readonly exportTimeoutMillis: number;
}

/** OTEL_BSP_* or the SDK's defaults: a queue of 2048 spans at most, batches of 512 every 5 s. */
export function batchOptionsFromEnv(): BatchOptions {
  const maxQueueSize = positiveFromEnv('OTEL_BSP_MAX_QUEUE_SIZE') ?? 2048;
  return {
    maxQueueSize,
    maxExportBatchSize: Math.min(positiveFromEnv('OTEL_BSP_MAX_EXPORT_BATCH_SIZE') ?? 512, maxQueueSize),
    scheduledDelayMillis: positiveFromEnv('OTEL_BSP_SCHEDULE_DELAY') ?? 5_000,
    exportTimeoutMillis: positiveFromEnv('OTEL_BSP_EXPORT_TIMEOUT') ?? 30_000,
  };
}

/**
 * The counter a span processor adds each span it is done with to, in the SDK's
 * self-observability (OpenTelemetry's semantic conventions for SDK metrics);
 * `error.type` queue_full: dropped because its queue was full.
 */
const SPANS_PROCESSED = 'otel.sdk.processor.span.processed';

/**
 * A meter whose `otel.sdk.processor.span.processed` counter also counts the
 * queue_full spans as dropped; everything else goes to the meter it wraps.
 */
class QueueDropMeter implements Meter {
  readonly #meter: Meter;
  readonly #dropped: CountDropped;

  constructor(meter: Meter, dropped: CountDropped) {
    this.#meter = meter;
    this.#dropped = dropped;
  }

  createCounter<A extends Attributes = Attributes>(name: string, options?: MetricOptions): Counter<A> {
    const counter = this.#meter.createCounter<A>(name, options);
    if (name !== SPANS_PROCESSED) return counter;
    return {
      add: (value, attributes, ctx) => {
        if (attributes?.['error.type'] === 'queue_full') this.#dropped(value, 'queue_full');
        counter.add(value, attributes, ctx);
      },
    };
  }

  createGauge<A extends Attributes = Attributes>(name: string, options?: MetricOptions) {
    return this.#meter.createGauge<A>(name, options);
  }
  createHistogram<A extends Attributes = Attributes>(name: string, options?: MetricOptions) {
    return this.#meter.createHistogram<A>(name, options);
  }
  createUpDownCounter<A extends Attributes = Attributes>(name: string, options?: MetricOptions) {
    return this.#meter.createUpDownCounter<A>(name, options);
  }
  createObservableGauge<A extends Attributes = Attributes>(name: string, options?: MetricOptions) {
    return this.#meter.createObservableGauge<A>(name, options);
  }
  createObservableCounter<A extends Attributes = Attributes>(name: string, options?: MetricOptions) {
    return this.#meter.createObservableCounter<A>(name, options);
  }
  createObservableUpDownCounter<A extends Attributes = Attributes>(name: string, options?: MetricOptions) {
    return this.#meter.createObservableUpDownCounter<A>(name, options);
  }
  addBatchObservableCallback<A extends Attributes = Attributes>(callback: BatchObservableCallback<A>, observables: Observable<A>[]): void {
    this.#meter.addBatchObservableCallback(callback, observables);
  }
  removeBatchObservableCallback<A extends Attributes = Attributes>(callback: BatchObservableCallback<A>, observables: Observable<A>[]): void {
    this.#meter.removeBatchObservableCallback(callback, observables);
  }
}

const noopMeterProvider: MeterProvider = { getMeter: () => createNoopMeter() };

/**
 * A BatchSpanProcessor whose flush and shutdown always resolve: a failed export
 * is counted by the exporter and reported through `diag`, not rejected into
 * whoever flushes (an application's shutdown, or ours). The spans it drops
 * because its queue is full are counted too: the processor reports them itself
 * (its `selfObsMeterProvider`), and its own metrics go on to the registered
 * meter provider when OTEL_NODE_EXPERIMENTAL_SDK_METRICS asks for them, as the
 * Node SDK does. Made at its first span, when the meter provider is registered.
 */
export class SafeBatchSpanProcessor implements SpanProcessor {
  readonly #make: () => BatchSpanProcessor;
  #batch: BatchSpanProcessor | undefined;

  constructor(exporter: SpanExporter, options: BatchOptions, dropped: CountDropped) {
    this.#make = () => {
      const base = core().getBooleanFromEnv('OTEL_NODE_EXPERIMENTAL_SDK_METRICS') ? metrics.getMeterProvider() : noopMeterProvider;
      const selfObsMeterProvider: MeterProvider = { getMeter: (name, version, meterOptions) => new QueueDropMeter(base.getMeter(name, version, meterOptions), dropped) };
      return new (sdkTrace().BatchSpanProcessor)({ exporter, ...options, selfObsMeterProvider });
    };
  }

  onStart(span: Span, parentContext: Context): void {
    this.#batch?.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    this.#batch ??= this.#make();
    this.#batch.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return quietly(() => this.#batch?.forceFlush(), 'spans could not be exported');
  }

  shutdown(): Promise<void> {
    return quietly(() => this.#batch?.shutdown(), 'spans could not be exported at shutdown');
  }
}
