import type { EventInit, EventType, SpanflowEvent } from './events.ts';
import { warnUserError } from './errors.ts';
import { Channel } from './channel.ts';

export type EventListener = (event: SpanflowEvent) => void;

/** An async iterator over a run's events, with a bounded buffer. */
export type EventStream = Channel<SpanflowEvent>;

/**
 * Where the events of one run tree go: synchronous listeners (telemetry,
 * persistence, `onEvent`) and async iterators with a bounded buffer. Producers
 * that can outpace a reader (token streams, map items) await `ready()`, which
 * is how a slow reader pushes back on them.
 */
export class EventBus {
  readonly #listeners: { readonly listener: EventListener; types: ReadonlySet<EventType> | undefined }[] = [];
  /** Made when the first stream attaches, as the set of wanted types is with the first filtered listener: most runs have neither. */
  #streams: Set<EventStream> | undefined;
  /** Some listener or stream takes every event type. */
  #everything = false;
  /** The types the filtered listeners take (a set never changed once made: see `unionOf`). */
  #wanted: ReadonlySet<EventType> | undefined;
  #roomWaiters: (() => void)[] = [];
  /** Consumers that push back without a stream (a store behind on its writes): asked by `ready()`. */
  readonly #pacers: (() => Promise<void> | undefined)[] = [];
  #delivered = false;

  /** True when someone listens; emitters skip building events otherwise. */
  get active(): boolean {
    return this.#listeners.length > 0 || this.#streams !== undefined;
  }

  /** True once any event went out: a stream attached later would have missed some. */
  get started(): boolean {
    return this.#delivered;
  }

  /** An event was due but no one listened: a stream attached later would still have missed it. */
  skipped(): void {
    this.#delivered = true;
  }

  /**
   * Adds a listener; with `types`, it is given only those (and events no one
   * takes are not even built). Returns a function that changes its types, for
   * a listener whose needs change as runs come and go (telemetry's, when the
   * sampler leaves a run out).
   */
  listen(listener: EventListener, types?: ReadonlySet<EventType>): (types: ReadonlySet<EventType>) => void {
    const entry = { listener, types };
    this.#listeners.push(entry);
    if (types) this.#wanted = this.#wanted ? unionOf(this.#wanted, types) : types;
    else this.#everything = true;
    return (retuned) => {
      if (!entry.types) throw new Error('spanflow: a listener that takes every event cannot be given types later');
      entry.types = retuned;
      let wanted: ReadonlySet<EventType> | undefined;
      const listeners = this.#listeners;
      for (let i = 0; i < listeners.length; i++) {
        const taken = (listeners[i] as (typeof listeners)[number]).types;
        if (taken) wanted = wanted ? unionOf(wanted, taken) : taken;
      }
      this.#wanted = wanted;
    };
  }

  /** True when some listener or stream takes events of this type. */
  wants(type: EventType): boolean {
    return this.#everything || this.#streams !== undefined || this.#wanted?.has(type) === true;
  }

  stream(capacity: number): EventStream {
    const stream: EventStream = new Channel<SpanflowEvent>(capacity, {
      onRoom: () => this.#onRoom(),
      onDetach: () => this.#detach(stream),
    });
    this.#streams ??= new Set();
    this.#streams.add(stream);
    return stream;
  }

  deliver(event: SpanflowEvent): void {
    this.#delivered = true;
    for (const { listener, types } of this.#listeners) {
      if (types && !types.has(event.type)) continue;
      try {
        listener(event);
      } catch (error) {
        // A listener's bug must not break the pipeline, nor vanish.
        warnUserError(error, 'SpanflowListenerWarning', 'an event listener');
      }
    }
    if (this.#streams) for (const stream of this.#streams) stream.push(event);
  }

  /**
   * Adds a consumer that pushes back on producers without a stream of its own:
   * `room()` resolves when it can take more, `undefined` when it can now.
   */
  paceBy(room: () => Promise<void> | undefined): void {
    this.#pacers.push(room);
  }

  /** Resolves when every attached stream and pacer has room; `undefined` (no await needed) when they already do. */
  ready(): Promise<void> | undefined {
    if (this.#anyFull()) return new Promise((resolve) => this.#roomWaiters.push(resolve));
    for (const room of this.#pacers) {
      const waiting = room();
      if (waiting) return waiting;
    }
    return undefined;
  }

  close(): void {
    if (this.#streams) for (const stream of this.#streams) stream.close();
  }

  #anyFull(): boolean {
    if (this.#streams) for (const stream of this.#streams) if (stream.full) return true;
    return false;
  }

  /** A stream gone: the set goes with its last one (no stream, no `wants` for every type). */
  #detach(stream: EventStream): void {
    const streams = this.#streams;
    if (!streams?.delete(stream)) return;
    if (streams.size === 0) this.#streams = undefined;
    this.#onRoom();
  }

  #onRoom(): void {
    if (this.#roomWaiters.length === 0 || this.#anyFull()) return;
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

const unions = new WeakMap<ReadonlySet<EventType>, WeakMap<ReadonlySet<EventType>, ReadonlySet<EventType>>>();

/**
 * The union of two sets of event types, made once per pair: every run's telemetry listens with
 * the same few constant sets, so a run's bus does not build a set of its own (nor rebuild it
 * when telemetry retunes). The sets are never changed.
 */
function unionOf(a: ReadonlySet<EventType>, b: ReadonlySet<EventType>): ReadonlySet<EventType> {
  if (a === b) return a;
  let byB = unions.get(a);
  if (!byB) {
    byB = new WeakMap();
    unions.set(a, byB);
  }
  let union = byB.get(b);
  if (!union) {
    union = new Set([...a, ...b]);
    byB.set(b, union);
  }
  return union;
}

interface Stamped {
  runId: string;
  parentRunId: string | undefined;
  pipeline: string;
  seq: number;
  time: number;
}

/** Stamps one run's events (run id, parent, pipeline, seq, time) and hands them to the bus. */
export class RunEmitter {
  readonly bus: EventBus;
  readonly runId: string;
  readonly parentRunId: string | undefined;
  readonly pipeline: string;
  /**
   * No listener and no stream when the run began: none can come later (listeners attach with
   * the handle, a stream only before the first event), so its per-step checks end here.
   */
  readonly quiet: boolean;
  #seq: number;

  /** `lastSeq`: the seq of the run's last stored event, when a resumed run carries on its numbering. */
  constructor(bus: EventBus, runId: string, parentRunId: string | undefined, pipeline: string, lastSeq = 0) {
    this.#seq = lastSeq;
    this.bus = bus;
    this.runId = runId;
    this.parentRunId = parentRunId;
    this.pipeline = pipeline;
    this.quiet = !bus.active;
  }

  get active(): boolean {
    return this.bus.active;
  }

  /**
   * True when someone listens, so an event is worth building; else the event is counted as
   * skipped (as `emit` would) and the caller need not build it.
   */
  heard(): boolean {
    if (this.bus.active) return true;
    this.bus.skipped();
    return false;
  }

  /** True when someone takes events of this type: callers skip building the rest. */
  wants(type: EventType): boolean {
    return !this.quiet && this.bus.wants(type);
  }

  /**
   * The seq of an event its one taker is handed as fields, not built (a stage tracker's
   * feed): the number `emit` would have stamped on it, so every later event's stays the same.
   */
  nextSeq(): number {
    return ++this.#seq;
  }

  emit<T extends EventType>(init: EventInit<T>): void {
    if (!this.bus.active) {
      this.bus.skipped();
      return;
    }
    // Stamp the caller's fresh literal in place rather than copy it: emit runs per item and per task.
    const event = init as unknown as Stamped;
    event.runId = this.runId;
    event.parentRunId = this.parentRunId;
    event.pipeline = this.pipeline;
    event.seq = ++this.#seq;
    event.time = now();
    this.bus.deliver(event as unknown as SpanflowEvent);
  }
}

/** Read once: `performance.timeOrigin` is a getter, and events are stamped by the hundred thousand. */
const TIME_ORIGIN = performance.timeOrigin;

/** Epoch milliseconds with sub-millisecond precision. */
export function now(): number {
  return TIME_ORIGIN + performance.now();
}

/** The epoch time of a `performance.now()` reading, as `now()` gives it: for a moment whose reading was taken already. */
export function epochOf(reading: number): number {
  return TIME_ORIGIN + reading;
}
