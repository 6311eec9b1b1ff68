import type { ErrorInfo, HookPhase } from './events.ts';

/** Base class of every error spanflow raises itself. */
export class SpanflowError extends Error {
  override name = 'SpanflowError';
}

/** A pipeline definition is wrong. Lists every problem found, each with its fix. */
export class DefinitionError extends SpanflowError {
  override name = 'DefinitionError';
  readonly problems: readonly string[];
  constructor(pipeline: string, problems: readonly string[]) {
    super(
      problems.length === 1
        ? `pipeline '${pipeline}': ${problems[0]}`
        : `pipeline '${pipeline}' has ${problems.length} problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.problems = problems;
  }
}

/** Base of the timeouts, so a step or run that ran out of time is told apart from one that failed. */
export class SpanflowTimeoutError extends SpanflowError {
  override name = 'SpanflowTimeoutError';
  readonly timeoutMs: number;
  constructor(message: string, timeoutMs: number) {
    super(message);
    this.timeoutMs = timeoutMs;
  }
}

export class StepTimeoutError extends SpanflowTimeoutError {
  override name = 'StepTimeoutError';
  readonly node: string;
  constructor(node: string, timeoutMs: number) {
    super(`step '${node}' timed out after ${timeoutMs} ms`, timeoutMs);
    this.node = node;
  }
}

export class RunTimeoutError extends SpanflowTimeoutError {
  override name = 'RunTimeoutError';
  constructor(pipeline: string, timeoutMs: number) {
    super(`run of pipeline '${pipeline}' timed out after ${timeoutMs} ms`, timeoutMs);
  }
}

export class BarrierTimeoutError extends SpanflowTimeoutError {
  override name = 'BarrierTimeoutError';
  readonly node: string;
  readonly missing: readonly string[];
  readonly arrived: readonly string[];
  constructor(node: string, timeoutMs: number, arrived: readonly string[], missing: readonly string[]) {
    super(
      `barrier '${node}' timed out after ${timeoutMs} ms: ${missing.join(', ')} never arrived (arrived: ${arrived.join(', ') || 'none'})`,
      timeoutMs,
    );
    this.node = node;
    this.arrived = arrived;
    this.missing = missing;
  }
}

/** The run was cancelled through its AbortSignal. `cause` holds the signal's reason. */
export class CancelledError extends SpanflowError {
  override name = 'CancelledError';
  constructor(what: string, reason: unknown) {
    const why = reason instanceof Error ? reason.message : reason === undefined ? undefined : String(reason);
    super(`${what} was cancelled${why ? `: ${why}` : ''}`, { cause: reason });
  }
}

/** A startup or shutdown hook threw. Names the hook. */
export class HookError extends SpanflowError {
  override name = 'HookError';
  readonly hook: string;
  readonly phase: HookPhase;
  constructor(hook: string, phase: HookPhase, cause: unknown) {
    super(`${phase} hook '${hook}' failed: ${messageOf(cause)}`, { cause });
    this.hook = hook;
    this.phase = phase;
  }
}

/** A step failed for good (retries exhausted, no handler saved it). `cause` is the last attempt's error. */
export class StepFailedError extends SpanflowError {
  override name = 'StepFailedError';
  readonly node: string;
  readonly attempts: number;
  /** The item's position, when a map worker failed. */
  readonly index: number | undefined;
  constructor(node: string, attempts: number, cause: unknown, index?: number) {
    const which = index === undefined ? `step '${node}'` : `step '${node}' (item ${index})`;
    super(`${which} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${messageOf(cause)}`, { cause });
    this.node = node;
    this.attempts = attempts;
    this.index = index;
  }
}

/** A map's producer gave more items than its `maxItems`. Never retried: the same producer would do it again. */
export class MapLimitError extends SpanflowError {
  override name = 'MapLimitError';
}

/** A switch returned a route it does not have. Never retried: the same state picks the same route. */
export class RouteError extends SpanflowError {
  override name = 'RouteError';
}

/** Some items of a stage batch failed: the batch's error (each item's own error is in its failure). */
export class ItemsFailedError extends SpanflowError {
  override name = 'ItemsFailedError';
  readonly failed: number;
  constructor(failed: number, fed: number, firstMessage: string) {
    super(`${failed} of ${fed} items failed; first: ${firstMessage}`);
    this.failed = failed;
  }
}

/** Errors that another attempt cannot fix; the executor does not retry them whatever the policy says. */
export function isPermanent(error: unknown): boolean {
  return error instanceof RouteError || error instanceof MapLimitError || error instanceof DefinitionError;
}

/**
 * Reports a bug in user code that must neither break the pipeline nor vanish
 * (a throwing listener, callback or dashboard): a process warning of `type`.
 */
export function warnUserError(error: unknown, type: string, where: string): void {
  const message = `${where} threw: ${messageOf(error)}`;
  process.emitWarning(message, { type, detail: error instanceof Error ? error.stack : undefined });
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** An error's class name: the `error.type` of telemetry and stored rows. */
export function errorTypeOf(error: unknown): string {
  if (error instanceof Error) return error.name !== 'Error' ? error.name : (error.constructor?.name ?? 'Error');
  return typeof error;
}

export function toErrorInfo(error: unknown): ErrorInfo {
  return {
    type: errorTypeOf(error),
    message: messageOf(error),
    stack: error instanceof Error ? error.stack : undefined,
  };
}

/** True for an error that means "ran out of time", ours or the platform's (`AbortSignal.timeout`). */
export function isTimeout(error: unknown): boolean {
  return error instanceof SpanflowTimeoutError || (error instanceof Error && error.name === 'TimeoutError');
}
