// Live observers (spanflow/http's live view) consume a run's events as it
// runs, like stores do: the engine declares what an observer must do and
// attaches the one the user passes (`observe: live`), a value the type
// checker sees, with no registration behind the user's back.

import type { EventBus, EventListener } from './emitter.ts';
import type { EventType } from './events.ts';
import { describe } from './options.ts';
import type { PipelineDescription } from './persist.ts';
import type { PipelineSnapshot } from './stages/types.ts';

/** What the engine lends an observer about one run tree (a graph run with its sub-pipelines, or a stage batch). */
export interface ObservedRun {
  readonly runId: string;
  readonly pipeline: PipelineDescription;
  /** A stage batch's snapshot now (cheap: counters it keeps anyway); undefined for a graph run, whose events say it all. */
  readonly snapshot: (() => PipelineSnapshot) | undefined;
  /** Cancels the run tree (a graph run: as its signal would; a batch: `shutdown()`). */
  readonly cancel: (reason?: unknown) => void;
}

/** How an observer takes one run tree's events. */
export interface Observation {
  /** Called synchronously with each event of the run (and its sub-pipelines). Must not throw nor block. */
  readonly listener: EventListener;
  /** Only these event types (the engine does not build the others for it). All when absent. */
  readonly types?: ReadonlySet<EventType>;
}

/** Watches runs as they happen: `observe` on a pipeline, a run or a batch. `spanflow/http`'s `LiveRuns` is one. */
export interface RunObserver {
  /** Called once as a run tree starts, before its first event. */
  observe(run: ObservedRun): Observation;
}

/** The observer an `observe` option names, checked, or undefined. */
export function checkObserver(pipeline: string, option: unknown): RunObserver | undefined {
  if (option === undefined) return undefined;
  if (typeof option !== 'object' || option === null || typeof (option as RunObserver).observe !== 'function') {
    throw new TypeError(`pipeline '${pipeline}': observe must be an observer with an observe() method, such as new LiveRuns() from spanflow/http (got ${describe(option)})`);
  }
  return option as RunObserver;
}

/** Attaches an observer to a run tree's bus (after telemetry and the store, so trace ids exist when it reads events). */
export function attachObserver(bus: EventBus, observer: RunObserver, run: ObservedRun): void {
  const observation = observer.observe(run);
  bus.listen(observation.listener, observation.types);
}
