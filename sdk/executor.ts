// The one executor: every step of a graph and every task of a stage runs its
// attempts through `execute`, so retry with backoff, timeouts, cancellation
// and error handlers have exactly one implementation.

import { setTimeout as sleep } from 'node:timers/promises';
import type { StepEndStatus } from './events.ts';
import { handlerFailure, isPermanent, isTimeout, StepTimeoutError } from './errors.ts';

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
 * what it threw, the error it was handling kept as its `cause` (see `handlerFailure`).
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

/**
 * Told of each attempt's boundaries; this is where events are emitted. Each call is also given
 * the options the attempts run under, so one observer can serve many steps (the options say which).
 */
export interface AttemptObserver {
  start(attempt: number, options: ExecuteOptions): void;
  /** The attempt failed and another follows after `delayMs`. */
  retry(attempt: number, error: unknown, delayMs: number, durationMs: number, options: ExecuteOptions): void;
  /** The last attempt ended. */
  end(attempt: number, status: StepEndStatus, durationMs: number, error: unknown, options: ExecuteOptions): void;
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
  /**
   * Measure each attempt's duration (default true). A caller whose durations
   * nobody reads right now turns it off: two clock reads are a large share of
   * a no-op task's cost. Durations are then reported as 0.
   */
  readonly timed?: boolean | undefined;
  /** Wraps each call of the attempt's function (telemetry makes the attempt's span current here). */
  readonly enter?: (<R>(call: () => R) => R) | undefined;
  /**
   * The number of the first attempt (default 1): a resumed durable run carries
   * on its stored count, and the attempts before count against the retry policy.
   */
  readonly firstAttempt?: number | undefined;
  /**
   * Where a pending attempt waits for `signal`'s abort, instead of the signal's shared set: an
   * `AbortLink`, for a caller that runs one attempt at a time under it (a stage worker); or a
   * caller's own set that it runs itself when it aborts `signal` (a graph run: no listener on
   * its signal), calling each dependent while it is still in the set.
   */
  readonly link?: Dependents | undefined;
  /**
   * Makes an untimed attempt's context (called as a method of the options), for a caller whose
   * attempt arguments are the context itself (a graph step's); default: an `UntimedContext`.
   */
  readonly attemptContext?: ((attempt: number) => UntimedContext) | undefined;
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

/**
 * The retry policy's verdict on a failed attempt: another one, or not. The
 * in-place loop below and a stage's per-stage retry (the item goes back
 * through its stage) both ask here.
 */
export function shouldRetry(policy: RetryPolicy, error: unknown, attempt: number): boolean {
  return attempt < Math.max(1, policy.attempts ?? 1) && !isPermanent(error) && (policy.retryIf?.(error, attempt) ?? true);
}

/**
 * An attempt's code. It is also given the options it runs under, so a caller that runs many
 * steps can pass one function for all of them (the options say which step), not a closure each.
 */
export type AttemptFn<T, O extends ExecuteOptions = ExecuteOptions> = (context: AttemptContext, options: O) => T | Promise<T>;

/** Takes an outcome that came later; given the options too, so one function can serve every step. */
export type Settle<T, O extends ExecuteOptions = ExecuteOptions> = (outcome: Outcome<T>, options: O) => void;

/**
 * Runs `fn` until it succeeds or the retry policy and error handler give up.
 * Never throws. The first attempt runs without an async frame of its own, so
 * a task that succeeds at once costs no promise beyond its own; the result is
 * then an `Outcome` rather than a promise of one.
 */
export function execute<T, O extends ExecuteOptions>(fn: AttemptFn<T, O>, options: O): Outcome<T> | Promise<Outcome<T>> {
  let resolve: ((outcome: Outcome<T>) => void) | undefined;
  const now = executeInto(fn, options, (outcome) => (resolve as (outcome: Outcome<T>) => void)(outcome));
  if (now) return now;
  // executeInto calls back from a later microtask at the earliest: resolve is set by then.
  return new Promise<Outcome<T>>((settle) => {
    resolve = settle;
  });
}

/**
 * `execute` for a caller that takes the outcome by callback: returns it at once when
 * the first attempt settles synchronously (a task that returns a value or throws),
 * else returns `undefined` and calls `settle` with it (and `options`) exactly once. A
 * stage worker and a graph run run their steps this way: an untimed attempt that
 * succeeds costs the task's own promise and one reaction on it, no promise of the
 * executor's and no await.
 */
export function executeInto<T, O extends ExecuteOptions>(fn: AttemptFn<T, O>, options: O, settle: Settle<T, O>): Outcome<T> | undefined {
  const signal = options.signal;
  const first = options.firstAttempt ?? 1;
  if (signal.aborted) return cancelledBefore(first, options);
  options.observer?.start(first, options);
  const started = options.timed === false ? -1 : performance.now();
  if (options.timeoutMs !== undefined) {
    runAttempt(fn, first, options)
      .then((result) => afterAttempt(fn, options, first, result, started))
      .then((outcome) => settle(outcome, options));
    return undefined;
  }
  const sink = new FirstAttempt(fn, options, first, started, settle);
  const now = attemptUntimedInto(fn, first, options, sink);
  if (now === PENDING) return undefined;
  const outcome = afterAttempt(fn, options, first, now, started);
  if (outcome instanceof Promise) {
    outcome.then((later) => settle(later, options));
    return undefined;
  }
  return outcome;
}

/**
 * For a caller that ran attempt `n` itself, untimed and without a context, and saw it
 * throw or reject with `error` (or its signal abort while it ran: `error` is then
 * ignored): the rest of `executeInto` from that failed attempt — the attempt's end or
 * retry, the retry policy, the handler, the next attempts — resolving with the outcome.
 * A stage worker's fast path runs a task's first attempt without the executor's
 * per-attempt objects and hands its failures here, so retries have one implementation.
 */
export function afterFailedAttempt<T, O extends ExecuteOptions>(fn: AttemptFn<T, O>, options: O, n: number, error: unknown, durationMs: number): Promise<Outcome<T>> {
  return retryLoop(fn, options, n, failure(error, options.signal) as AttemptResult<T> & { ok: false }, durationMs);
}

/** Where the first attempt's result goes when it comes later: the outcome made of it, to `settle`. */
class FirstAttempt<T, O extends ExecuteOptions> implements AttemptSink<T> {
  readonly #fn: AttemptFn<T, O>;
  readonly #options: O;
  readonly #n: number;
  readonly #started: number;
  readonly #settle: Settle<T, O>;

  constructor(fn: AttemptFn<T, O>, options: O, n: number, started: number, settle: Settle<T, O>) {
    this.#fn = fn;
    this.#options = options;
    this.#n = n;
    this.#started = started;
    this.#settle = settle;
  }

  /** The attempt succeeded: the outcome, with no result object in between. */
  succeeded(value: T): Outcome<T> {
    const durationMs = this.#started < 0 ? 0 : performance.now() - this.#started;
    this.#options.observer?.end(this.#n, 'succeeded', durationMs, undefined, this.#options);
    return { status: 'succeeded', value, attempts: this.#n };
  }

  fulfilled(value: T): void {
    this.#settle(this.succeeded(value), this.#options);
  }

  rejected(result: AttemptResult<T>, aborted: boolean): void {
    const ended = afterAttempt(this.#fn, this.#options, this.#n, result, this.#started);
    // An abort runs inside whoever aborted (a batch's shutdown, mid-way through its own work): the
    // attempt ends now, and its caller goes on from a microtask of its own, not within the aborter.
    if (aborted) queueMicrotask(() => this.#deliver(ended));
    else this.#deliver(ended);
  }

  #deliver(ended: Outcome<T> | Promise<Outcome<T>>): void {
    if (ended instanceof Promise) ended.then((outcome) => this.#settle(outcome, this.#options));
    else this.#settle(ended, this.#options);
  }
}

function attempt<T, O extends ExecuteOptions>(fn: AttemptFn<T, O>, n: number, options: O): AttemptResult<T> | Promise<AttemptResult<T>> {
  return options.timeoutMs === undefined ? attemptUntimed(fn, n, options) : runAttempt(fn, n, options);
}

function clock(options: ExecuteOptions): number {
  return options.timed === false ? 0 : performance.now();
}

/** Cancelled before attempt `n` started: the step ends on its last attempt that ran (0 if none did). */
function cancelledBefore(n: number, options: ExecuteOptions): Outcome<never> {
  options.observer?.end(n - 1, 'cancelled', 0, options.signal.reason, options);
  return { status: 'cancelled', error: options.signal.reason, attempts: n - 1 };
}

function afterAttempt<T, O extends ExecuteOptions>(
  fn: AttemptFn<T, O>,
  options: O,
  n: number,
  result: AttemptResult<T>,
  started: number,
): Outcome<T> | Promise<Outcome<T>> {
  const durationMs = started < 0 ? 0 : performance.now() - started;
  if (result.ok) {
    options.observer?.end(n, 'succeeded', durationMs, undefined, options);
    return { status: 'succeeded', value: result.value, attempts: n };
  }
  return retryLoop(fn, options, n, result, durationMs);
}

/** From a failed attempt on: ask the policy and the handler, wait, try again. */
async function retryLoop<T, O extends ExecuteOptions>(
  fn: AttemptFn<T, O>,
  options: O,
  failedAttempt: number,
  failed: AttemptResult<T> & { ok: false },
  failedMs: number,
): Promise<Outcome<T>> {
  const policy = normalizeRetry(options.retry);
  const { signal, observer } = options;
  let result: AttemptResult<T> = failed;
  let durationMs = failedMs;
  for (let n = failedAttempt; ; ) {
    if (result.ok) {
      observer?.end(n, 'succeeded', durationMs, undefined, options);
      return { status: 'succeeded', value: result.value, attempts: n };
    }
    const { error, status } = result;
    if (status === 'cancelled') {
      observer?.end(n, 'cancelled', durationMs, error, options);
      return { status, error, attempts: n };
    }

    let action: ErrorAction;
    if (shouldRetry(policy, error, n)) {
      action = 'retry';
    } else if (options.onError) {
      try {
        action = await options.onError(error, n);
      } catch (thrown) {
        // The step fails with what the handler threw, and the error it was handling stays its cause.
        const failed = isTimeout(thrown) ? 'timed_out' : 'failed';
        const handlerError = handlerFailure(options.name, error, thrown);
        observer?.end(n, failed, durationMs, handlerError, options);
        return { status: failed, error: handlerError, attempts: n };
      }
    } else {
      action = 'fail';
    }

    if (action === 'skip' || action === 'stop') {
      observer?.end(n, 'skipped', durationMs, error, options);
      return { status: 'skipped', action, error, attempts: n };
    }
    if (action !== 'retry') {
      observer?.end(n, status, durationMs, error, options);
      return { status, error, attempts: n };
    }

    const delayMs = backoffDelay(policy, n);
    observer?.retry(n, error, delayMs, durationMs, options);
    if (delayMs > 0) {
      try {
        await sleep(delayMs, undefined, { signal });
      } catch {
        // Cancelled while waiting: reported just below.
      }
    }
    n++;
    if (signal.aborted) return cancelledBefore(n, options);
    observer?.start(n, options);
    const started = clock(options);
    const next = attempt(fn, n, options);
    result = next instanceof Promise ? await next : next;
    durationMs = clock(options) - started;
  }
}

type AttemptResult<T> = { ok: true; value: T } | { ok: false; error: unknown; status: 'failed' | 'timed_out' | 'cancelled' };

async function runAttempt<T, O extends ExecuteOptions>(fn: AttemptFn<T, O>, attempt: number, options: O): Promise<AttemptResult<T>> {
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
    const context: AttemptContext = { attempt, signal: controller.signal };
    const work = options.enter ? options.enter(() => fn(context, options)) : fn(context, options);
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

/**
 * The context of an attempt with no timeout of its own. Its signal is made on
 * first use only (most no-op and CPU tasks never touch it); it is still the
 * attempt's own, so listeners a task forgets to remove die with the attempt
 * instead of piling up on the long-lived parent signal.
 */
export class UntimedContext implements AttemptContext {
  readonly attempt: number;
  readonly #parent: AbortSignal;
  #own: AbortController | undefined;
  #unlink: (() => void) | undefined;

  constructor(attempt: number, parent: AbortSignal) {
    this.attempt = attempt;
    this.#parent = parent;
  }

  get signal(): AbortSignal {
    if (!this.#own) {
      const own = new AbortController();
      const parent = this.#parent;
      this.#own = own;
      this.#unlink = onAbortOf(parent, () => own.abort(parent.reason));
    }
    return this.#own.signal;
  }

  dispose(): void {
    this.#unlink?.();
  }
}

function failure(error: unknown, parent: AbortSignal): AttemptResult<never> {
  if (parent.aborted) return { ok: false, error: parent.reason, status: 'cancelled' };
  return { ok: false, error, status: isTimeout(error) ? 'timed_out' : 'failed' };
}

/** What `attemptUntimedInto` returns when the attempt is still running: its result goes to its sink later. */
const PENDING: unique symbol = Symbol('pending');

/** Where an untimed attempt's result goes when its promise settles, or its parent aborts first. */
interface AttemptSink<T> {
  fulfilled(value: T): void;
  /** `aborted`: the parent's abort ended the attempt, and this runs inside whoever aborted. */
  rejected(result: AttemptResult<T>, aborted: boolean): void;
}

/** The sink of a retry's attempt: its result as a promise (an abort's a microtask later, as a first attempt's). */
class Deferred<T> implements AttemptSink<T> {
  resolve: ((result: AttemptResult<T>) => void) | undefined;

  fulfilled(value: T): void {
    (this.resolve as (result: AttemptResult<T>) => void)({ ok: true, value });
  }

  rejected(result: AttemptResult<T>, aborted: boolean): void {
    const resolve = this.resolve as (result: AttemptResult<T>) => void;
    if (aborted) queueMicrotask(() => resolve(result));
    else resolve(result);
  }
}

/** An attempt with no timeout, for the retry loop: its result now for a synchronous task, else a promise of it. */
function attemptUntimed<T, O extends ExecuteOptions>(fn: AttemptFn<T, O>, attempt: number, options: O): AttemptResult<T> | Promise<AttemptResult<T>> {
  const sink = new Deferred<T>();
  const now = attemptUntimedInto(fn, attempt, options, sink);
  if (now !== PENDING) return now;
  // The task's promise settles on a later microtask at the earliest, and an abort cannot run in between: resolve is set first.
  return new Promise<AttemptResult<T>>((resolve) => {
    sink.resolve = resolve;
  });
}

/**
 * An attempt with no timeout. For a synchronous task its result is returned at once and
 * no promise is made; else `PENDING` is returned and `sink` is told of it exactly once,
 * when the task's promise settles or the parent aborts, whichever comes first. No
 * promise is made beyond the task's own and its one reaction.
 */
function attemptUntimedInto<T, O extends ExecuteOptions>(fn: AttemptFn<T, O>, attempt: number, options: O, sink: AttemptSink<T>): AttemptResult<T> | typeof PENDING {
  const parent = options.signal;
  // A function that takes no context is given none (nothing to make, nothing to dispose).
  const context = options.attemptContext ? options.attemptContext(attempt) : fn.length === 0 ? undefined : new UntimedContext(attempt, parent);
  let work: T | Promise<T>;
  try {
    work = options.enter ? options.enter(() => fn(context as AttemptContext, options)) : fn(context as AttemptContext, options);
  } catch (error) {
    context?.dispose();
    return failure(error, parent);
  }
  if (!(work instanceof Promise)) {
    context?.dispose();
    return { ok: true, value: work };
  }
  if (parent.aborted) {
    work.catch(() => {});
    context?.dispose();
    return failure(undefined, parent);
  }
  const dependents: Dependents = options.link ?? dependentsOf(parent);
  // Whichever comes first, the task's promise or the parent's abort, settles the attempt.
  const abort = () => {
    if (!dependents.delete(abort, key)) return;
    context?.dispose();
    sink.rejected(failure(undefined, parent), true);
  };
  const key = dependents.add(abort);
  work.then(
    (value) => {
      if (!dependents.delete(abort, key)) return;
      context?.dispose();
      sink.fulfilled(value);
    },
    (error: unknown) => {
      if (!dependents.delete(abort, key)) return;
      context?.dispose();
      sink.rejected(failure(error, parent), false);
    },
  );
  return PENDING;
}

/** Called when their signal aborts; each removes itself once it has run or its attempt settled. */
export type Dependent = () => void;

/** Where a pending attempt waits for its parent's abort: the signal's shared set, or a caller's own link. */
export interface Dependents {
  /** Returns a key, which `delete` is given back with the dependent (a set ignores it). */
  add(dependent: Dependent): unknown;
  delete(dependent: Dependent, key?: unknown): boolean;
}

/**
 * A standing link from one caller to a signal, for callers that run one
 * attempt at a time under it (a stage worker runs thousands). It joins the
 * signal's dependents once; each attempt then arms and disarms it, instead of
 * joining and leaving a set shared by every worker: less work, and no churn
 * of short-lived entries through a long-lived set.
 */
export class AbortLink implements Dependents {
  #armed: Dependent | undefined;

  constructor(signal: AbortSignal) {
    dependentsOf(signal).add(() => this.#armed?.());
  }

  add(dependent: Dependent): void {
    this.#armed = dependent;
  }

  delete(dependent: Dependent): boolean {
    if (this.#armed !== dependent) return false;
    this.#armed = undefined;
    return true;
  }
}

/**
 * A caller's own dependents of a signal it aborts itself (a graph run's steps in flight, a map's
 * items): see `ExecuteOptions.link`. Its owner calls `abort()` right after aborting the signal.
 * Dependents sit in numbered slots, the number their key, so one joins and leaves without a hash
 * of a fresh closure or a set's table churning as thousands pass through a few slots; freed
 * slots are reused, so it holds no more than the most that were ever in flight at once.
 */
export class OwnDependents implements Dependents {
  readonly #slots: (Dependent | undefined)[] = [];
  /** Slots freed, to reuse. */
  readonly #free: number[] = [];

  add(dependent: Dependent): number {
    const slot = this.#free.length > 0 ? (this.#free.pop() as number) : this.#slots.length;
    this.#slots[slot] = dependent;
    return slot;
  }

  delete(dependent: Dependent, key?: unknown): boolean {
    const slots = this.#slots;
    // Without its key (or with a stale one), a dependent is looked for.
    const slot = typeof key === 'number' && slots[key] === dependent ? key : slots.indexOf(dependent);
    if (slot < 0) return false;
    slots[slot] = undefined;
    this.#free.push(slot);
    return true;
  }

  /** Ends every attempt still waiting (each frees its slot as it runs). */
  abort(): void {
    const slots = this.#slots;
    // Attempts start no more once the signal has aborted: only those already in the slots are ended.
    for (let slot = 0, n = slots.length; slot < n; slot++) slots[slot]?.();
  }
}

const dependents = new WeakMap<AbortSignal, Set<Dependent>>();

/**
 * What hangs off a signal: one abort listener per signal however many attempts
 * depend on it (a map's items all share one), so linking and unlinking an
 * attempt are O(1) instead of a walk of the signal's listener list.
 */
function dependentsOf(parent: AbortSignal): Set<Dependent> {
  let set = dependents.get(parent);
  if (!set) {
    const fresh = new Set<Dependent>();
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
  return set;
}

/** Calls `fn` when `parent` aborts (at once if it has). Returns the unlink. */
function onAbortOf(parent: AbortSignal, fn: () => void): () => void {
  if (parent.aborted) {
    fn();
    return () => {};
  }
  const dependent: Dependent = () => fn();
  const set = dependentsOf(parent);
  set.add(dependent);
  return () => {
    set.delete(dependent);
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
