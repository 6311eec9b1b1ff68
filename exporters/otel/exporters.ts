// The OTLP/HTTP exporters, chosen by the standard protocol variables, and the
// span-side wrappers that keep a dead collector away from the pipeline: failed
// exports are counted, never thrown, and the batch queue is bounded.

import { type Context, type Counter, diag, metrics } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode, getNumberFromEnv, getStringFromEnv } from '@opentelemetry/core';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, type ReadableSpan, type Span, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { ATTR, METRICS, SpanflowError } from '../../sdk/index.ts';
import type { ExporterConnections } from './agent.ts';

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
  return connections.adopt(protocol === 'http/json' ? new JsonTraceExporter(config) : new ProtoTraceExporter(config));
}

/** The OTLP/HTTP metric exporter (temporality from OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE). */
export function otlpMetricExporter(connections: ExporterConnections, protocol: OtlpProtocol): PushMetricExporter {
  const config = { httpAgentOptions: connections.agentFactory };
  return connections.adopt(protocol === 'http/json' ? new JsonMetricExporter(config) : new ProtoMetricExporter(config));
}

/** The longest timer Node honours: a longer delay fires after 1 ms instead. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A positive number from the environment, capped at MAX_TIMER_MS, or undefined (unset, not a number, or <= 0). */
export function positiveFromEnv(name: string): number | undefined {
  const value = getNumberFromEnv(name);
  return value !== undefined && Number.isFinite(value) && value > 0 ? Math.min(value, MAX_TIMER_MS) : undefined;
}

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
  readonly #dropped: () => Counter | undefined;

  constructor(inner: SpanExporter, dropped: () => Counter | undefined) {
    this.#inner = inner;
    this.#dropped = dropped;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    let done = false;
    const finish = (result: ExportResult): void => {
      if (done) return;
      done = true;
      if (result.code !== ExportResultCode.SUCCESS) this.#count(spans.length);
      resultCallback(result);
    };
    try {
      this.#inner.export(spans, finish);
    } catch (error) {
      finish({ code: ExportResultCode.FAILED, error: error instanceof Error ? error : new Error(String(error)) });
    }
  }

  shutdown(): Promise<void> {
    return quietly(() => this.#inner.shutdown(), 'span exporter shutdown failed');
  }

  forceFlush(): Promise<void> {
    return quietly(() => this.#inner.forceFlush?.(), 'span exporter flush failed');
  }

  #count(spans: number): void {
    try {
      this.#dropped()?.add(spans, { [ATTR.DROP_REASON]: 'export_failed' });
    } catch {
      // Counting must not fail an export callback.
    }
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
 * A BatchSpanProcessor whose flush and shutdown always resolve: a failed export
 * is counted by the exporter and reported through `diag`, not rejected into
 * whoever flushes (an application's shutdown, or ours).
 */
export class SafeBatchSpanProcessor implements SpanProcessor {
  readonly #batch: BatchSpanProcessor;

  constructor(exporter: SpanExporter, options: BatchOptions) {
    this.#batch = new BatchSpanProcessor({ exporter, ...options });
  }

  onStart(span: Span, parentContext: Context): void {
    this.#batch.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    this.#batch.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return quietly(() => this.#batch.forceFlush(), 'spans could not be exported');
  }

  shutdown(): Promise<void> {
    return quietly(() => this.#batch.shutdown(), 'spans could not be exported at shutdown');
  }
}
