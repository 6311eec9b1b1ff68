// spanflow/otel: one call starts the OpenTelemetry Node SDK with OTLP/HTTP exporters
// configured from the standard OTEL_* variables; the engine's spans and metrics flow to it.
export { TelemetryConfigError } from './exporters.ts';
export { type TelemetryHandle, type TelemetryOptions, startTelemetry } from './start.ts';
