// Opt-in graceful shutdown on process signals (`shutdownOn` on a graph run or
// a stage batch). By default spanflow installs no signal listener, as a library
// should: a SIGTERM ends the process at once and a persisted run is left
// `running` (the next store to open marks it `interrupted`). With `shutdownOn`,
// the first of those signals cancels every run and batch that asked for it;
// they end `cancelled` (in-flight work settles, shutdown hooks run), their
// stores write what is left (for up to SHUTDOWN_FLUSH_MS), and then the signal
// is raised again with our listener gone, so the process ends as that signal
// would have ended it (unless the application listens for it too: then it is
// the application's to handle). A second signal while they settle ends the
// process at once.

import { constants } from 'node:os';
import { settleWithin } from './deadline.ts';
import { ShutdownSignalError } from './errors.ts';
import type { RunRecorder } from './persist.ts';

/**
 * How long the stores of the runs a signal stopped may take to write what is
 * left before the signal is raised again: 10 s, well inside the 30 s a
 * Kubernetes pod gets between SIGTERM and SIGKILL (its default grace period),
 * leaving the rest for the runs' own shutdown. A database that is away does not
 * hold the process past it: the store says what it could not write (a
 * SpanflowPersistenceWarning on stderr), and the run reads `interrupted` later.
 */
export const SHUTDOWN_FLUSH_MS = 10_000;

/** What a signal stops: one run or batch. */
export interface Stoppable {
  /** Cancels it (its signal's reason, or `shutdown(reason)`). */
  cancel(reason: ShutdownSignalError): void;
  /** Settles once it has ended, whichever way. */
  readonly ended: Promise<unknown>;
  /** Its store, if persisted: flushed before the signal is raised again. */
  readonly recorder: RunRecorder | undefined;
}

/** Signals Node cannot listen for. */
const UNCATCHABLE = new Set(['SIGKILL', 'SIGSTOP']);

/**
 * Checks a `shutdownOn` option before anything starts: undefined (or empty)
 * for none, else the signal names, each one Node can listen for.
 */
export function checkSignals(pipeline: string, option: unknown): readonly NodeJS.Signals[] | undefined {
  if (option === undefined) return undefined;
  const usage = "give signal names, such as shutdownOn: ['SIGTERM', 'SIGINT']";
  if (!Array.isArray(option)) throw new TypeError(`pipeline '${pipeline}': shutdownOn must be an array of signal names (got ${typeof option}); ${usage}`);
  for (const signal of option) {
    if (typeof signal !== 'string' || !Object.hasOwn(constants.signals, signal) || UNCATCHABLE.has(signal)) {
      const why = UNCATCHABLE.has(signal as string) ? `${signal} cannot be caught` : `${typeof signal === 'string' ? `'${signal}'` : typeof signal} is not a signal name`;
      throw new RangeError(`pipeline '${pipeline}': shutdownOn: ${why}; ${usage}`);
    }
  }
  return option.length === 0 ? undefined : [...new Set(option as NodeJS.Signals[])];
}

interface Watched extends Stoppable {
  readonly signals: readonly NodeJS.Signals[];
  cancelled: boolean;
}

/** Runs and batches watching for signals, and the one listener per signal they share. */
const watched = new Set<Watched>();
const listeners = new Map<NodeJS.Signals, () => void>();
/** The signal a shutdown is under way for. */
let received: NodeJS.Signals | undefined;

/**
 * Cancels `target` on the first of `signals` the process receives, then (once
 * every run stopped by it has ended and flushed its store) raises that signal
 * again. Listeners are shared by every watched run and removed when none is left.
 */
export function stopOnSignals(signals: readonly NodeJS.Signals[], target: Stoppable): void {
  const entry: Watched = { ...target, signals, cancelled: false };
  watched.add(entry);
  for (const signal of signals) listen(signal);
  if (received !== undefined && signals.includes(received)) cancel(entry, received);
  const release = () => {
    watched.delete(entry);
    if (received === undefined) unlistenUnused();
  };
  target.ended.then(release, release);
}

function listen(signal: NodeJS.Signals): void {
  if (listeners.has(signal)) return;
  const listener = () => onSignal(signal);
  listeners.set(signal, listener);
  process.on(signal, listener);
}

function unlisten(signal: NodeJS.Signals): void {
  const listener = listeners.get(signal);
  if (listener === undefined) return;
  listeners.delete(signal);
  process.off(signal, listener);
}

/** Removes the listeners no watched run asks for any more. */
function unlistenUnused(): void {
  for (const signal of [...listeners.keys()]) {
    if (![...watched].some((w) => w.signals.includes(signal))) unlisten(signal);
  }
}

function cancel(entry: Watched, signal: NodeJS.Signals): void {
  if (entry.cancelled) return;
  entry.cancelled = true;
  entry.cancel(new ShutdownSignalError(signal));
}

function onSignal(signal: NodeJS.Signals): void {
  if (received !== undefined) {
    // A second signal while the first one's runs settle: end now, as that signal does by default.
    raise(signal);
    return;
  }
  received = signal;
  for (const entry of watched) if (entry.signals.includes(signal)) cancel(entry, signal);
  void settle(signal);
}

/** Waits for every run the signal stopped (and any that started since) to end and flush, then raises it again. */
async function settle(signal: NodeJS.Signals): Promise<void> {
  for (;;) {
    const stopping = [...watched].filter((w) => w.cancelled);
    if (stopping.length === 0) break;
    await Promise.allSettled(stopping.map(async (w) => {
      try {
        await w.ended.catch(() => {});
        const flushed = (async () => w.recorder?.flush?.({ timeoutMs: SHUTDOWN_FLUSH_MS }))();
        // Bounded here too (a recorder may not honour timeoutMs), and held: with nothing else alive, the event loop would
        // otherwise empty while a store waits for its database, and the process end with code 0 instead of by the signal.
        await settleWithin(flushed, SHUTDOWN_FLUSH_MS, { hold: true });
      } finally {
        watched.delete(w);
      }
    }));
  }
  // One more turn of the event loop: warnings emitted meanwhile (what a store could not write) are printed before the signal ends the process.
  await new Promise<void>((resolve) => setImmediate(resolve));
  raise(signal);
}

/** Raises `signal` again with our listener gone: unless the application listens for it, its default action ends the process. */
function raise(signal: NodeJS.Signals): void {
  unlisten(signal);
  if (process.listenerCount(signal) === 0) {
    process.kill(process.pid, signal);
    return;
  }
  // The application handles this signal itself: it decides what happens next, and later runs may watch again.
  received = undefined;
  unlistenUnused();
}
