// The one executor: every step of a graph and every task of a stage runs its
// attempts through `execute`, so retry with backoff, timeouts, cancellation
// and error handlers have exactly one implementation.

import { setTimeout as sleep } from 'node:timers/promises';
import type { StepEndStatus } from './events.ts';
import { isPermanent, isTimeout, StepTimeoutError } from './errors.ts';

export interface RetryPolicy {
  /** Attempts in all, the first included. Default 1 (no retry). */
  readonly attempts?: number;
  /** Delay before the second attempt, in ms. Default 100. */
  readonly initialDelayMs?: number;
  /** Each later delay is the previous one times this. Default 2. */
  readonly factor?: number;
  /** No delay is longer than this, in ms. Default 30 000. */
  readonly maxDelayMs?: number;
  /**
   * Fraction of each delay that is random, from 0 (exact delays) to 1 (anywhere
   * between 0 and the delay). Default 0.5. Spreads out retries that failed together.
   */
  readonly jitter?: number;
  /** Which errors are worth another attempt. Default: all but cancellations and errors no attempt can fix (`RouteError`, `MapLimitError`). */
  readonly retryIf?: (error: unknown, attempt: number) => boolean;
}

/** A number is shorthand for `{ attempts: n }`. */
export type RetryOption = number | RetryPolicy;

/**
 * What an error handler decides once retries are exhausted:
 * `retry` runs another attempt; `skip` ends the step `skipped` and the run goes
 * on past it; `stop` ends the step `skipped` and ends its branch (nothing after
 * it runs); `fail` fails the step. A handler that throws fails the step with
 * what it threw.
 */
export type ErrorAction = 'retry' | 'skip' | 'stop' | 'fail';

export interface AttemptContext {
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Fires on timeout of this attempt and on cancellation of what contains it. */
  readonly signal: AbortSignal;
}

export type Outcome<T> =
  | { readonly status: 'succeeded'; readonly value: T; readonly attempts: number }
  | { readonly status: 'skipped'; readonly action: 'skip' | 'stop'; readonly error: unknown; readonly attempts: number }
  | { readonly status: 'failed' | 'timed_out' | 'cancelled'; readonly error: unknown; readonly attempts: number };

/** Told of each attempt's boundaries; this is where events are emitted. */
export interface AttemptObserver {
  start(attempt: number): void;
  /** The attempt failed and another follows after `delayMs`. */
  retry(attempt: number, error: unknown, delayMs: number, durationMs: number): void;
  /** The last attempt ended. */
  end(attempt: number, status: StepEndStatus, durationMs: number, error: unknown): void;
}

export interface ExecuteOptions {
  /** Names the step or task in timeout errors. */
  readonly name: string;
  readonly retry?: RetryOption | undefined;
  /** Per attempt, in ms. */
  readonly timeoutMs?: number | undefined;
  /** Cancellation of the run or stage this attempt belongs to. */
  readonly signal: AbortSignal;
  readonly onError?: ((error: unknown, attempt: number) => ErrorAction | Promise<ErrorAction>) | undefined;
  readonly observer?: AttemptObserver | undefined;
}

const NO_RETRY: RetryPolicy = { attempts: 1 };

export function normalizeRetry(retry: RetryOption | undefined): RetryPolicy {
  if (retry === undefined) return NO_RETRY;
  return typeof retry === 'number' ? { attempts: retry } : retry;
}

/** The delay before attempt `attempt + 1`, with jitter applied. */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const initial = policy.initialDelayMs ?? 100;
  const factor = policy.factor ?? 2;
  const max = policy.maxDelayMs ?? 30_000;
  const jitter = Math.min(1, Math.max(0, policy.jitter ?? 0.5));
  const delay = Math.min(max, initial * factor ** (attempt - 1));
  return Math.round(delay * (1 - jitter * random()));
}

/** Runs `fn` until it succeeds or the retry policy and error handler give up. Never throws. */
export async function execute<T>(fn: (context: AttemptContext) => T | Promise<T>, options: ExecuteOptions): Promise<Outcome<T>> {
  const policy = normalizeRetry(options.retry);
  const maxAttempts = Math.max(1, policy.attempts ?? 1);
  const { signal, observer } = options;
  for (let attempt = 1; ; attempt++) {
    if (signal.aborted) {
      // Cancelled before this attempt started: the step ends on its last attempt that ran (0 if none did).
      observer?.end(attempt - 1, 'cancelled', 0, signal.reason);
      return { status: 'cancelled', error: signal.reason, attempts: attempt - 1 };
    }
    observer?.start(attempt);
    const started = performance.now();
    const result = await runAttempt(fn, attempt, options);
    const durationMs = performance.now() - started;
    if (result.ok) {
      observer?.end(attempt, 'succeeded', durationMs, undefined);
      return { status: 'succeeded', value: result.value, attempts: attempt };
    }
    const { error, status } = result;
    if (status === 'cancelled') {
      observer?.end(attempt, 'cancelled', durationMs, error);
      return { status, error, attempts: attempt };
    }

    let action: ErrorAction;
    if (attempt < maxAttempts && !isPermanent(error) && (policy.retryIf?.(error, attempt) ?? true)) {
      action = 'retry';
    } else if (options.onError) {
      try {
        action = await options.onError(error, attempt);
      } catch (thrown) {
        observer?.end(attempt, isTimeout(thrown) ? 'timed_out' : 'failed', durationMs, thrown);
        return { status: isTimeout(thrown) ? 'timed_out' : 'failed', error: thrown, attempts: attempt };
      }
    } else {
      action = 'fail';
    }

    if (action === 'retry') {
      const delayMs = backoffDelay(policy, attempt);
      observer?.retry(attempt, error, delayMs, durationMs);
      if (delayMs > 0) {
        try {
          await sleep(delayMs, undefined, { signal });
        } catch {
          // Cancelled while waiting: the loop's next turn reports it.
        }
      }
      continue;
    }
    if (action === 'skip' || action === 'stop') {
      observer?.end(attempt, 'skipped', durationMs, error);
      return { status: 'skipped', action, error, attempts: attempt };
    }
    observer?.end(attempt, status, durationMs, error);
    return { status, error, attempts: attempt };
  }
}

type AttemptResult<T> = { ok: true; value: T } | { ok: false; error: unknown; status: 'failed' | 'timed_out' | 'cancelled' };

async function runAttempt<T>(
  fn: (context: AttemptContext) => T | Promise<T>,
  attempt: number,
  options: ExecuteOptions,
): Promise<AttemptResult<T>> {
  const parent = options.signal;
  const controller = new AbortController();
  // Only the parent and the timer abort this controller, so they also end the
  // race with the step's promise: no second listener per attempt.
  let abandon: ((reason: unknown) => void) | undefined;
  const abort = (reason: unknown) => {
    controller.abort(reason);
    abandon?.(controller.signal.reason);
  };
  const unlink = onAbortOf(parent, () => abort(parent.reason));
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => abort(new StepTimeoutError(options.name, options.timeoutMs ?? 0)), options.timeoutMs);
  try {
    const work = fn({ attempt, signal: controller.signal });
    const value =
      work instanceof Promise && !controller.signal.aborted
        ? await new Promise<T>((resolve, reject) => {
            abandon = reject;
            work.then(resolve, reject);
          })
        : await untilAborted(work, controller.signal);
    return { ok: true, value };
  } catch (error) {
    if (controller.signal.aborted) {
      const reason: unknown = controller.signal.reason;
      const timedOut = reason instanceof StepTimeoutError && !parent.aborted;
      return { ok: false, error: reason, status: timedOut ? 'timed_out' : 'cancelled' };
    }
    return { ok: false, error, status: isTimeout(error) ? 'timed_out' : 'failed' };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    unlink();
  }
}

const dependents = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `fn` when `parent` aborts. One listener per parent signal however many
 * attempts hang off it (a map's items all share one), so linking and unlinking
 * are O(1) instead of a walk of the signal's listener list.
 */
function onAbortOf(parent: AbortSignal, fn: () => void): () => void {
  if (parent.aborted) {
    fn();
    return () => {};
  }
  let set = dependents.get(parent);
  if (!set) {
    const fresh = new Set<() => void>();
    dependents.set(parent, fresh);
    parent.addEventListener(
      'abort',
      () => {
        for (const dependent of [...fresh]) dependent();
        fresh.clear();
      },
      { once: true },
    );
    set = fresh;
  }
  const own = set;
  own.add(fn);
  return () => {
    own.delete(fn);
  };
}

/**
 * Settles with `work`, or rejects with the signal's reason as soon as it fires:
 * a step that ignores its signal still ends on time (its promise is abandoned).
 */
export function untilAborted<T>(work: T | Promise<T>, signal: AbortSignal): Promise<T> {
  if (!(work instanceof Promise)) return Promise.resolve(work);
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
