import type { ErrorInfo, HookPhase, StepEndStatus } from './events.ts';
import { safeJson } from './serialize.ts';

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
    const why = reason === undefined ? undefined : messageOf(reason);
    super(`${what} was cancelled${why ? `: ${why}` : ''}`, { cause: reason });
  }
}

/** The process received a signal a run or batch was told to stop on (`shutdownOn`): the reason it was cancelled. */
export class ShutdownSignalError extends SpanflowError {
  override name = 'ShutdownSignalError';
  readonly signal: NodeJS.Signals;
  constructor(signal: NodeJS.Signals) {
    super(`the process received ${signal} (shutdownOn)`);
    this.signal = signal;
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

/** A step's `onError` handler threw a value that cannot carry the error it was handling: `cause` is that error, `thrown` what the handler threw. */
export class ErrorHandlerError extends SpanflowError {
  override name = 'ErrorHandlerError';
  readonly node: string;
  readonly thrown: unknown;
  constructor(node: string, original: unknown, thrown: unknown) {
    super(`onError handler of step '${node}' threw ${messageOf(thrown)} while handling: ${messageOf(original)}`, { cause: original });
    this.node = node;
    this.thrown = thrown;
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

/** A durable run's step gave a value its checkpoint cannot store as it is. Never retried: the same step gives the same kind of value. */
export class CheckpointError extends SpanflowError {
  override name = 'CheckpointError';
  readonly node: string;
  constructor(node: string, what: string, cause: unknown) {
    super(
      `step '${node}' of a durable run: its ${what} cannot be stored as a checkpoint: ${messageOf(cause)}. ` +
        'Durable runs keep outputs and state as JSON: use plain objects, arrays, strings, finite numbers, booleans and null (an ISO string for a Date, a string for a bigint)',
      { cause },
    );
    this.node = node;
  }
}

/** Why a stored run cannot be resumed or retried. */
export type ResumeRefusal = 'unknown-run' | 'not-durable' | 'wrong-pipeline' | 'wrong-status' | 'claimed' | 'changed' | 'already-retried' | 'no-store';

/** `resume()` or `retry()` refused: `reason` says why, the message what to do. */
export class ResumeError extends SpanflowError {
  override name = 'ResumeError';
  readonly reason: ResumeRefusal;
  readonly runId: string;
  constructor(reason: ResumeRefusal, runId: string, message: string) {
    super(message);
    this.reason = reason;
    this.runId = runId;
  }
}

/** Errors that another attempt cannot fix; the executor does not retry them whatever the policy says. */
export function isPermanent(error: unknown): boolean {
  return error instanceof RouteError || error instanceof MapLimitError || error instanceof DefinitionError || error instanceof CheckpointError;
}

/**
 * Reports a bug in user code that must neither break the pipeline nor vanish
 * (a throwing listener, callback or dashboard): a process warning of `type`.
 */
export function warnUserError(error: unknown, type: string, where: string): void {
  const message = `${where} threw: ${messageOf(error)}`;
  process.emitWarning(message, { type, detail: error instanceof Error ? error.stack : undefined });
}

/**
 * What a thrown value says, for messages, never empty and never `[object
 * Object]`: an Error's message (one without a message, such as the
 * AggregateError of a refused connection, by what it holds: its errors, its
 * `code`, its name); a string as it is; an object's own `message` when it has
 * one, else its JSON (`throw { code: 1 }` reads `{"code":1}`), safe on cycles
 * and bigints. Long JSON is cut; the value itself stays where it was (a
 * `cause`, an outcome's `error`). The one describer: events, stored rows,
 * warnings and the CLI all say an error this way.
 */
export function messageOf(error: unknown): string {
  if (error instanceof Error) {
    if (error.message) return error.message;
    if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(messageOf).join('; ');
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${error.name} ${code}` : error.name;
  }
  if (typeof error === 'string') return error;
  if (typeof error === 'function') return `function ${error.name || '(anonymous)'}`;
  if (typeof error !== 'object' || error === null) return String(error);
  const own = (error as { message?: unknown }).message;
  if (typeof own === 'string' && own) return own;
  const json = safeJson(error);
  return json.length > MAX_DESCRIPTION ? `${json.slice(0, MAX_DESCRIPTION)}… (${json.length} characters in all)` : json;
}

/** The longest JSON of a thrown value kept in a message. */
const MAX_DESCRIPTION = 2_000;

/** An error's class name: the `error.type` of telemetry and stored rows (`typeof` for a thrown non-Error, `null` for null). */
export function errorTypeOf(error: unknown): string {
  if (error instanceof Error) return error.name !== 'Error' ? error.name : (error.constructor?.name ?? 'Error');
  return error === null ? 'null' : typeof error;
}

/** Causes followed into an ErrorInfo: enough for a handler's error, the step's, and what that one wrapped. */
const MAX_CAUSES = 4;

/** What events, results and stored rows say about an error, its `cause` chain included (so a wrapped error is never hidden). */
export function toErrorInfo(error: unknown): ErrorInfo {
  return errorInfo(error, [error]);
}

/** The error's own stack is kept; its causes are told by type and message (a batch's thousand cancelled items would store each stack twice). */
function errorInfo(error: unknown, seen: unknown[]): ErrorInfo {
  const stack = seen.length === 1 && error instanceof Error ? error.stack : undefined;
  const info: ErrorInfo = { type: errorTypeOf(error), message: messageOf(error), stack };
  // An own `cause` counts even when it is undefined: a step that threw `undefined` still names it.
  if (!(error instanceof Error) || !Object.hasOwn(error, 'cause') || seen.length > MAX_CAUSES) return info;
  const cause: unknown = error.cause;
  if (seen.includes(cause)) return info;
  seen.push(cause);
  return { ...info, cause: errorInfo(cause, seen) };
}

/**
 * What an attempt that ended with `status` failed with: nothing when it
 * succeeded, else the thrown value described, even when it was `undefined`
 * (a failure is never left without its error).
 */
export function attemptError(status: StepEndStatus, error: unknown): ErrorInfo | undefined {
  return status === 'succeeded' ? undefined : toErrorInfo(error);
}

/** True for an error that means "ran out of time", ours or the platform's (`AbortSignal.timeout`). */
export function isTimeout(error: unknown): boolean {
  return error instanceof SpanflowTimeoutError || (error instanceof Error && error.name === 'TimeoutError');
}

/**
 * The error a step fails with when its `onError` handler throws, so that the
 * error it was handling is never lost: the handler's own error, with the
 * original as its `cause` when it had none; else an `ErrorHandlerError` that
 * names both. A handler that rethrows the original (or an error caused by it)
 * gives it back as it is.
 */
export function handlerFailure(node: string, original: unknown, thrown: unknown): unknown {
  if (thrown === original) return thrown;
  for (let at: unknown = thrown, depth = 0; at instanceof Error && depth <= MAX_CAUSES; at = at.cause, depth++) {
    if (at.cause === original) return thrown;
  }
  if (thrown instanceof Error && thrown.cause === undefined && Object.isExtensible(thrown)) {
    try {
      // As `new Error(message, { cause })` would have it: own, non-enumerable.
      Object.defineProperty(thrown, 'cause', { value: original, writable: true, configurable: true, enumerable: false });
      return thrown;
    } catch {
      // A cause that cannot be set (a getter without a setter on its class): wrapped below.
    }
  }
  return new ErrorHandlerError(node, original, thrown);
}
