// The OpenTelemetry SDK packages spanflow/otel builds on: optional peers,
// loaded when startTelemetry() first needs them (MissingDependencyError if one
// is not installed). Only their types are imported at the top.

import { loadPeer } from '../../sdk/index.ts';

type ContextAsyncHooks = typeof import('@opentelemetry/context-async-hooks');
type Core = typeof import('@opentelemetry/core');
type Resources = typeof import('@opentelemetry/resources');
type SdkMetrics = typeof import('@opentelemetry/sdk-metrics');
type SdkTrace = typeof import('@opentelemetry/sdk-trace');
type MetricsOtlpHttp = typeof import('@opentelemetry/exporter-metrics-otlp-http');
type MetricsOtlpProto = typeof import('@opentelemetry/exporter-metrics-otlp-proto');
type TraceOtlpHttp = typeof import('@opentelemetry/exporter-trace-otlp-http');
type TraceOtlpProto = typeof import('@opentelemetry/exporter-trace-otlp-proto');

const ENTRY = 'spanflow/otel';

export const contextAsyncHooks = (): ContextAsyncHooks => loadPeer('@opentelemetry/context-async-hooks', ENTRY);
export const core = (): Core => loadPeer('@opentelemetry/core', ENTRY);
export const resources = (): Resources => loadPeer('@opentelemetry/resources', ENTRY);
export const sdkMetrics = (): SdkMetrics => loadPeer('@opentelemetry/sdk-metrics', ENTRY);
export const sdkTrace = (): SdkTrace => loadPeer('@opentelemetry/sdk-trace', ENTRY);
export const metricsOtlpHttp = (): MetricsOtlpHttp => loadPeer('@opentelemetry/exporter-metrics-otlp-http', ENTRY);
export const metricsOtlpProto = (): MetricsOtlpProto => loadPeer('@opentelemetry/exporter-metrics-otlp-proto', ENTRY);
export const traceOtlpHttp = (): TraceOtlpHttp => loadPeer('@opentelemetry/exporter-trace-otlp-http', ENTRY);
export const traceOtlpProto = (): TraceOtlpProto => loadPeer('@opentelemetry/exporter-trace-otlp-proto', ENTRY);
