// startTelemetry(): the OpenTelemetry Node SDK with OTLP/HTTP trace and metric
// exporters, configured from the standard OTEL_* variables, in one call.

import { type Counter, createNoopMeter, diag, metrics, ProxyTracerProvider, trace } from '@opentelemetry/api';
import { ATTR, settleWithin } from '../../sdk/index.ts';
import { getBooleanFromEnv, getStringFromEnv } from '@opentelemetry/core';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { type IMetricReader, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import {
  batchOptionsFromEnv,
  type CountDropped,
  CountingSpanExporter,
  droppedCounter,
  MAX_TIMER_MS,
  otlpMetricExporter,
  type OtlpProtocol,
  otlpSpanExporter,
  positiveFromEnv,
  protocolOf,
  SafeBatchSpanProcessor,
} from './exporters.ts';
import { ExporterConnections } from './agent.ts';

export interface TelemetryOptions {
  /** service.name when neither OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES names the service. */
  readonly serviceName?: string;
  /** Metric export interval in ms. Default: OTEL_METRIC_EXPORT_INTERVAL, else 10,000. */
  readonly metricInterval?: number;
  /**
   * The longest shutdown may take, in ms (default 5,000). With the collector
   * down, the exporters' own timeouts and retries could hold an app's exit for
   * twenty seconds or more; past this, what is not exported is given up.
   */
  readonly shutdownTimeout?: number;
}

export interface TelemetryHandle {
  /** Flushes spans, then metrics, and shuts the SDK down. Idempotent; never rejects. */
  shutdown(): Promise<void>;
}

const SCOPE = 'spanflow';
const DEFAULT_METRIC_INTERVAL_MS = 10_000;
const DEFAULT_METRIC_TIMEOUT_MS = 30_000;
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 5_000;
/** After a shutdown gave up and released the exporters, how long their failing exports may take to unwind. */
const RELEASED_SETTLE_MS = 1_000;
const noopMeterClass = createNoopMeter().constructor;
const nothingToShutDown: TelemetryHandle = { shutdown: () => Promise.resolve() };
/** Set while an SDK this module started is up. */
let started = false;

/** A tracer provider is registered when the global one is not the API's proxy without a delegate. */
function tracerProviderRegistered(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegateTracer(SCOPE) !== undefined;
}

/** A meter provider is registered when its meters are not the API's no-op meter. */
function meterProviderRegistered(): boolean {
  return metrics.getMeterProvider().getMeter(SCOPE).constructor !== noopMeterClass;
}

function metricReader(options: TelemetryOptions, connections: ExporterConnections, protocol: OtlpProtocol): IMetricReader {
  const interval =
    options.metricInterval !== undefined && options.metricInterval > 0
      ? Math.min(options.metricInterval, MAX_TIMER_MS)
      : (positiveFromEnv('OTEL_METRIC_EXPORT_INTERVAL') ?? DEFAULT_METRIC_INTERVAL_MS);
  const timeout = Math.min(positiveFromEnv('OTEL_METRIC_EXPORT_TIMEOUT') ?? DEFAULT_METRIC_TIMEOUT_MS, interval);
  return new PeriodicExportingMetricReader({ exporter: otlpMetricExporter(connections, protocol), exportIntervalMillis: interval, exportTimeoutMillis: timeout });
}

/** `none` in OTEL_{TRACES,METRICS}_EXPORTER turns that signal off; any other value means OTLP here. */
function signalOff(variable: string): boolean {
  return (getStringFromEnv(variable) ?? '').split(',').some((name) => name.trim() === 'none');
}

/**
 * Starts the OpenTelemetry Node SDK: spans through a bounded BatchSpanProcessor
 * and metrics through a periodic reader, both to OTLP/HTTP exporters configured
 * from OTEL_EXPORTER_OTLP_* (endpoint, headers, protocol http/json or
 * http/protobuf, timeout). Resource from OTEL_SERVICE_NAME and
 * OTEL_RESOURCE_ATTRIBUTES (`serviceName` is the fallback), sampler from
 * OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG. When the application already
 * registered a tracer or meter provider, nothing is started and the returned
 * shutdown does nothing. Throws a TelemetryConfigError, starting nothing, when
 * an OTLP protocol variable asks for a protocol other than http/protobuf or
 * http/json (gRPC is not carried).
 */
export function startTelemetry(options: TelemetryOptions = {}): TelemetryHandle {
  if (getBooleanFromEnv('OTEL_SDK_DISABLED')) {
    diag.info('spanflow/otel: OTEL_SDK_DISABLED is set; telemetry not started');
    return nothingToShutDown;
  }
  if (started) {
    diag.info('spanflow/otel: startTelemetry() already started the SDK; this call starts nothing');
    return nothingToShutDown;
  }
  const tracing = tracerProviderRegistered();
  const metering = meterProviderRegistered();
  if (tracing || metering) {
    const what = tracing && metering ? 'tracer and meter providers' : tracing ? 'a tracer provider' : 'a meter provider';
    diag.info(`spanflow/otel: the application already registered ${what}; spanflow uses them and starts no SDK of its own`);
    return nothingToShutDown;
  }

  // Both protocols first: a set-up that cannot be honoured starts nothing (TelemetryConfigError).
  const tracesProtocol = signalOff('OTEL_TRACES_EXPORTER') ? undefined : protocolOf('TRACES');
  const metricsProtocol = signalOff('OTEL_METRICS_EXPORTER') ? undefined : protocolOf('METRICS');
  let dropped: Counter | undefined;
  const countDropped: CountDropped = (spans, reason) => {
    try {
      dropped?.add(spans, { [ATTR.DROP_REASON]: reason });
    } catch {
      // Counting must not fail an export or a span's end.
    }
  };
  const connections = new ExporterConnections();
  const processor: SpanProcessor | undefined = tracesProtocol
    ? new SafeBatchSpanProcessor(new CountingSpanExporter(otlpSpanExporter(connections, tracesProtocol), countDropped), batchOptionsFromEnv(), countDropped)
    : undefined;
  const readers = metricsProtocol ? [metricReader(options, connections, metricsProtocol)] : [];

  // The fallback service name sits under whatever the detectors find in the environment.
  const base = options.serviceName ? defaultResource().merge(resourceFromAttributes({ 'service.name': options.serviceName })) : defaultResource();
  const sdk = new NodeSDK({
    resource: base,
    spanProcessors: processor ? [processor] : [],
    metricReaders: readers,
    // spanflow emits no logs: no log exporter unless OTEL_LOGS_EXPORTER asks for one (NodeSDK then reads it).
    ...(getStringFromEnv('OTEL_LOGS_EXPORTER') === undefined ? { logRecordProcessors: [] } : {}),
  });
  try {
    sdk.start();
  } catch (error) {
    diag.error('spanflow/otel: the OpenTelemetry SDK did not start', error);
    return nothingToShutDown;
  }
  started = true;
  if (readers.length > 0) dropped = droppedCounter();

  let shutdown: Promise<void> | undefined;
  return {
    shutdown() {
      const flushAndStop = async () => {
        // Spans first, so exports that fail now are counted in the metrics flushed next.
        await processor?.forceFlush();
        try {
          await sdk.shutdown();
        } catch (error) {
          diag.warn('spanflow/otel: telemetry shutdown did not complete cleanly', error);
        }
      };
      const limit = Math.min(Math.max(0, options.shutdownTimeout ?? DEFAULT_SHUTDOWN_TIMEOUT_MS), MAX_TIMER_MS);
      shutdown ??= (async () => {
        const stopped = flushAndStop();
        // The wait itself holds nothing: the exports under way do, until released below.
        if (await settleWithin(stopped, limit)) return;
        diag.warn(`spanflow/otel: shutdown gave up after ${limit} ms; telemetry not yet exported is dropped`);
        // Nothing left of telemetry may keep the process alive now: released, the exports under way fail
        // at once and the SDK's shutdown ends; shutdown returns when it has (or after a last moment).
        await settleWithin(Promise.all([stopped, connections.release()]), RELEASED_SETTLE_MS);
      })();
      return shutdown;
    },
  };
}
