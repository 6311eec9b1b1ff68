export { RunHandle } from './handle.ts';
export { type Graph, Pipeline, pipeline } from './pipeline.ts';
export { MapLimitError, RouteError } from './run.ts';
export {
  type Awaitable,
  type BarrierOptions,
  type CommonOptions,
  type DecideFn,
  type ErrorArgs,
  type ErrorHandler,
  type HookArgs,
  type HookFn,
  type ItemsFn,
  type MapOptions,
  type PipelineOptions,
  type RunOptions,
  type RunResult,
  STOP,
  type StepArgs,
  type StepFn,
  type StepOptions,
  type Stop,
  type SubOptions,
  Suspension,
  type SwitchOptions,
} from './types.ts';
