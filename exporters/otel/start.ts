// startTelemetry(): the OpenTelemetry trace and metrics SDKs with OTLP/HTTP
// exporters, configured from the standard OTEL_* variables, in one call. Built
// from the SDK's pieces (tracer and meter providers, the AsyncLocalStorage
// context manager, W3C propagators, resource detectors), not the whole
// @opentelemetry/sdk-node, whose gRPC, Zipkin and Prometheus exporters and
// import-in-the-middle spanflow never uses.

import {
  type Counter,
  context,
  createNoopMeter,
  DiagConsoleLogger,
  diag,
  metrics,
  ProxyTracerProvider,
  propagation,
  trace,
} from '@opentelemetry/api';
import type { IMetricReader, MeterProvider } from '@opentelemetry/sdk-metrics';
import type { SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { ATTR, checkPeers, settleWithin } from '../../sdk/index.ts';
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
import { propagatorFromEnv, resourceFromEnv, samplerFromEnv, spanLimitsFromEnv } from './environment.ts';
import { contextAsyncHooks, core, sdkMetrics, sdkTrace } from './packages.ts';

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
  return new (sdkMetrics().PeriodicExportingMetricReader)({ exporter: otlpMetricExporter(connections, protocol), exportIntervalMillis: interval, exportTimeoutMillis: timeout });
}

/** `none` in OTEL_{TRACES,METRICS}_EXPORTER turns that signal off; any other value means OTLP here. */
function signalOff(variable: string): boolean {
  return (core().getStringFromEnv(variable) ?? '').split(',').some((name) => name.trim() === 'none');
}

/** The providers, registered as the global ones; what shutdown() stops. */
interface Sdk {
  readonly tracerProvider: TracerProvider | undefined;
  readonly meterProvider: MeterProvider | undefined;
}

/**
 * Makes and registers what @opentelemetry/sdk-node's NodeSDK did for spanflow:
 * the context manager and propagator, then a meter provider with the readers
 * (if any) and a tracer provider with the span processor (if any), both on the
 * resource from the environment. OTEL_NODE_EXPERIMENTAL_SDK_METRICS turns on
 * the SDK's own metrics, as there.
 */
function startSdk(options: TelemetryOptions, processor: SpanProcessor | undefined, readers: IMetricReader[]): Sdk {
  const { getBooleanFromEnv, getStringFromEnv, diagLogLevelFromString } = core();
  const logLevel = getStringFromEnv('OTEL_LOG_LEVEL');
  if (logLevel !== undefined) diag.setLogger(new DiagConsoleLogger(), { logLevel: diagLogLevelFromString(logLevel) });
  context.setGlobalContextManager(new (contextAsyncHooks().AsyncLocalStorageContextManager)().enable());
  const propagator = propagatorFromEnv();
  if (propagator) propagation.setGlobalPropagator(propagator);
  const resource = resourceFromEnv(options.serviceName);
  const sdkMetricsEnabled = getBooleanFromEnv('OTEL_NODE_EXPERIMENTAL_SDK_METRICS');
  let meterProvider: MeterProvider | undefined;
  if (readers.length > 0) {
    meterProvider = new (sdkMetrics().MeterProvider)({ resource, readers, sdkMetricsEnabled });
    metrics.setGlobalMeterProvider(meterProvider);
  }
  let tracerProvider: TracerProvider | undefined;
  if (processor) {
    const sampler = samplerFromEnv();
    tracerProvider = new (sdkTrace().TracerProvider)({
      resource,
      spanProcessors: [processor],
      spanLimits: spanLimitsFromEnv(),
      ...(sampler && { sampler }),
      ...(sdkMetricsEnabled && meterProvider && { meterProvider }),
    });
    trace.setGlobalTracerProvider(tracerProvider);
  }
  return { tracerProvider, meterProvider };
}

/**
 * Starts the OpenTelemetry SDK: spans through a bounded BatchSpanProcessor
 * and metrics through a periodic reader, both to OTLP/HTTP exporters configured
 * from OTEL_EXPORTER_OTLP_* (endpoint, headers, protocol http/json or
 * http/protobuf, timeout). Resource from OTEL_SERVICE_NAME and
 * OTEL_RESOURCE_ATTRIBUTES (`serviceName` is the fallback), sampler from
 * OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, propagators from
 * OTEL_PROPAGATORS (tracecontext and baggage). When the application already
 * registered a tracer or meter provider, nothing is started and the returned
 * shutdown does nothing. Throws a TelemetryConfigError, starting nothing, when
 * an OTLP protocol variable asks for a protocol other than http/protobuf or
 * http/json (gRPC is not carried), and a MissingDependencyError naming the
 * install command when the SDK packages it builds on are not installed.
 */
export function startTelemetry(options: TelemetryOptions = {}): TelemetryHandle {
  checkPeers('spanflow/otel');
  if (core().getBooleanFromEnv('OTEL_SDK_DISABLED')) {
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

  let sdk: Sdk;
  try {
    sdk = startSdk(options, processor, readers);
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
          await Promise.all([sdk.tracerProvider?.shutdown(), sdk.meterProvider?.shutdown()]);
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
