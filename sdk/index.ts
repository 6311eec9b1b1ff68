// spanflow: the engine. Depends on @opentelemetry/api only.

export {
  BarrierTimeoutError,
  CancelledError,
  DefinitionError,
  ErrorHandlerError,
  errorTypeOf,
  HookError,
  ItemsFailedError,
  MapLimitError,
  messageOf,
  ResumeError,
  type ResumeRefusal,
  CheckpointError,
  RouteError,
  RunTimeoutError,
  ShutdownSignalError,
  SpanflowError,
  SpanflowTimeoutError,
  StepFailedError,
  StepTimeoutError,
  toErrorInfo,
} from './errors.ts';
export * from './events.ts';
export { Channel } from './channel.ts';
export { settleWithin } from './deadline.ts';
export type { EventListener, EventStream } from './emitter.ts';
export { type ErrorAction, type RetryOption, type RetryPolicy, backoffDelay, untilAborted } from './executor.ts';
export * from './graph/index.ts';
export { Meta, type MetaScopes } from './meta.ts';
export type { Observation, ObservedRun, RunObserver } from './observe.ts';
export { checkPeers, type EntryPoint, ENTRY_POINT_PEERS, loadPeer, MissingDependencyError, PEER_RANGES, type PeerName, type PeerSpecifier } from './peers.ts';
export {
  type CheckpointStore,
  type StoredCheckpoint,
  type StoredRunCheckpoints,
  type DropReason,
  type PersistOption,
  type PipelineDescription,
  type Recording,
  type RecordingContext,
  type RunRecorder,
  registerDefaultRecorder,
} from './persist.ts';
export { safeJson, safeText, storableJson } from './serialize.ts';
export * from './stages/index.ts';
export { ATTR, configureTelemetry, currentTracer, failSpan, IdleGauges, type Instrument, type MetricDef, type MetricKey, METRICS, metricOptions, type PayloadOptions, payloadShown, SECONDS_BUCKETS, TELEMETRY_SCOPE, type TelemetryOptions, w3cPropagator } from './telemetry/index.ts';
export { collectRun, type CollectedRun } from './testing.ts';
