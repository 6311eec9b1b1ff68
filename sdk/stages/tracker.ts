// StatusTracker: a consumer of the event stream of stage pipelines. It keeps
// each item's status, a bounded history of its events and its failure, and
// calls back on item and task events. Everything it knows comes from events,
// so it works the same on a live pipeline (`onEvent`) and on replayed events; a
// pipeline's own tracker may be handed its events' fields instead (statusFeed),
// and then knows, history included, what the events would have told it (events
// its batch gives it with no user code between them may share one clock reading).

import { epochOf, now, type RunEmitter } from '../emitter.ts';
import { toErrorInfo } from '../errors.ts';
import {
  type ErrorInfo,
  type EventType,
  ITEM_STATUSES,
  type ItemStatus,
  type ItemStatusEvent,
  type SpanflowEvent,
  type StepEndStatus,
  type TaskEndEvent,
  type TaskRetryEvent,
  type TaskStartEvent,
  type TaskStatusEvent,
} from '../events.ts';
import { itemStatusEvent, type NamedFailure, type RunFields, taskEndEvent, taskRetryEvent, taskStartEvent, taskStatusEvent } from './item-events.ts';
import type { ErrorSummary, FailedItem } from './types.ts';

/** The events a tracker keeps in an item's history. */
export type TrackedEvent = ItemStatusEvent | TaskStartEvent | TaskRetryEvent | TaskEndEvent | TaskStatusEvent;

export interface StatusTrackerOptions {
  /**
   * Events kept per item for `history()`: a number bounds memory (oldest
   * dropped first; `Infinity` keeps all), `false` or 0 keeps none. Default 100.
   */
  history?: number | false;
  /** Called on every `item_status` event, after the tracker's state is updated. */
  onItemStatus?: (event: ItemStatusEvent) => void;
  /** Called when a task attempt starts. */
  onTaskStart?: (event: TaskStartEvent) => void;
  /** Called when a task ends `succeeded` (the event carries `durationMs`). */
  onTaskComplete?: (event: TaskEndEvent) => void;
  /** Called when a task attempt failed and another follows after `delayMs`. */
  onTaskRetry?: (event: TaskRetryEvent) => void;
  /** Called when a task ends with any status other than `succeeded` (failed, timed_out, cancelled, skipped). */
  onTaskFail?: (event: TaskEndEvent) => void;
}

/** Status codes in the packed status column: 0 is "no item_status seen", then ITEM_STATUSES' order plus one. */
const NO_STATUS = 0;

/** A status's code: a switch on the (interned) strings, cheaper per event than a keyed lookup. */
function codeOf(status: ItemStatus): number {
  switch (status) {
    case 'queued':
      return 1;
    case 'in_progress':
      return 2;
    case 'retrying':
      return 3;
    case 'completed':
      return 4;
    case 'failed':
      return 5;
    case 'skipped':
      return 6;
  }
}

const FAILED = codeOf('failed');
/** Each code's status, the other way round. */
const STATUS_OF: readonly (ItemStatus | undefined)[] = ITEM_STATUSES.reduce<(ItemStatus | undefined)[]>((table, status) => {
  table[codeOf(status)] = status;
  return table;
}, [undefined]);

/**
 * A batch's events handed to its tracker as fields, not built (see `statusFeed`): `status` for
 * an `item_status` event (a failure's task and attempts in `failure`, as its event carries them;
 * `error` as the batch has it), and `tasks`, when the tracker keeps a history, for task events
 * (`task` is the task's position in its stage).
 */
export interface TrackerFeed {
  /** `at` as for a task event: a reading the batch took at this moment already, else -1. */
  status(item: FedItem, stage: string, status: ItemStatus, attempt: number, error: unknown, failure: NamedFailure | undefined, at: number): void;
  readonly tasks: TaskFeed | undefined;
}

/** `at`: the performance.now() reading of the event's moment when the batch took one (for the attempt's duration), else -1. */
export interface TaskFeed {
  start(item: FedItem, task: number, attempt: number, worker: number, at: number): void;
  retry(item: FedItem, task: number, attempt: number, worker: number, error: ErrorInfo, delayMs: number, durationMs: number, at: number): void;
  end(item: FedItem, task: number, attempt: number, worker: number, status: StepEndStatus, durationMs: number, error: ErrorInfo | undefined, at: number): void;
  status(item: FedItem, task: number, attempt: number, worker: number, text: string): void;
}

/** The stages of a fed batch, by position (a fed item's `stage`), with their tasks. */
export type FedStages = readonly { readonly name: string; readonly tasks: readonly { readonly name: string }[] }[];

/** An item as a batch hands it to its tracker's feed: its id, index and stage, and where the tracker last kept it. */
export interface FedItem {
  readonly id: string;
  /** Its id, or its feed position (a number) when that is its id: the tracker keeps the number, not a string made for it. */
  readonly key: string | number;
  readonly index: number;
  /** The position of its current stage. */
  readonly stage: number;
  /** The tracker's slot for this item, once it has one (-1 before): saves a lookup by id per status change. */
  trackerSlot: number;
}

let feedOf: (tracker: StatusTracker) => ((run: RunEmitter, stages: FedStages) => TrackerFeed) | undefined;

/**
 * How to feed this tracker a batch's events as fields instead of events: given only when the
 * tracker needs nothing of them but their fields (it calls no callback), for a batch in which
 * no one else takes the types it takes. The feed numbers each event as `emit` would have, and
 * what the tracker then knows, its history included, is what the events would have given it.
 */
export function statusFeed(tracker: { readonly observe: unknown }): ((run: RunEmitter, stages: FedStages) => TrackerFeed) | undefined {
  return tracker instanceof StatusTracker ? feedOf(tracker) : undefined;
}

// History is kept as packed records, not event objects (a million items with a dozen events
// each must not be ten million objects for the collector to walk): 32 bytes a record, in one
// growable buffer seen as 4 float64s a record (time, durationMs, then 4 uint32s: code, place,
// index, seq). Each item's records are a region of it, a ring of at most `history` records; a
// region grows by doubling up to the limit, and a region left behind is reused by the next
// item that needs one of its size. The common events (those without an error or text) are
// packed; the rest, and events observed as objects, are kept as objects on the side.

/** Record kinds (the code's low 2 bits). */
const OBJECT = 0;
const PACKED_STATUS = 1;
const PACKED_START = 2;
const PACKED_END = 3;
/** What a packed code holds above the kind: status (3 bits), attempt (13 bits), worker (14 bits). */
const STATUS_SHIFT = 2;
const ATTEMPT_SHIFT = 5;
const MAX_ATTEMPT = 0x1fff;
const WORKER_SHIFT = 18;
const MAX_WORKER = 0x3fff;
const MAX_U32 = 0xffffffff;
const RECORD_BYTES = 32;
/** Address space reserved for a tracker's history records, tried largest first: 512M records, or fewer where less can be reserved. */
const RESERVED_BYTES = [2 ** 34, 2 ** 32, 2 ** 30];

function reserve(): ArrayBuffer {
  for (const maxByteLength of RESERVED_BYTES) {
    try {
      return new ArrayBuffer(0, { maxByteLength });
    } catch {
      // Not that much address space here: try less.
    }
  }
  return new ArrayBuffer(0, { maxByteLength: 2 ** 26 });
}

/** The smallest first region; the first size adapts to the histories items end up with (see `#firstRegion`). */
const FIRST_REGION = 8;
/** Items begun between two looks at how many outgrew their first region. */
const FIRST_REGION_SAMPLE = 256;

/** What a record's `place` names: its run and its stage and task (interned: a batch has few). */
interface Place extends RunFields {
  readonly stage: string;
  readonly task: string;
}

const DEFAULT_HISTORY = 100;
const UNKNOWN_ERROR: ErrorInfo = { type: 'Error', message: 'item failed' };

/**
 * Follows items through a stage pipeline from its events: pass `observe` to
 * the pipeline's `onEvent` (or call it with each event), then query.
 *
 * Items are keyed by `itemId` alone, across every batch (run) the tracker
 * sees: give items ids that are unique across those batches, or call
 * `clear()` between them. An item's status is the one of its latest
 * `item_status` event; items seen only through task events have a history
 * but no status. Events observed are kept in the history as they are; those a
 * pipeline feeds its own tracker are kept packed (about 32 bytes each), and
 * `history()` rebuilds them.
 *
 * Callbacks run after the tracker's state is updated, so a throwing callback
 * (which propagates out of `observe`; the pipeline turns it into a warning)
 * leaves the tracker consistent.
 */
export class StatusTracker {
  /**
   * The events this tracker needs, given its options: a pipeline's `tracker` option
   * listens for these alone, so events nobody takes are not even built: `item_status`
   * (whose `failed` events name the failed task), and task events for a history or a callback.
   */
  readonly types: ReadonlySet<EventType>;
  readonly #limit: number;
  readonly #options: StatusTrackerOptions;
  /**
   * Items are kept as columns, not objects (a million tracked items must not be a million
   * records for the collector to walk): `#slots` gives each item id a number (a
   * prototype-less object, not a Map: V8 keeps the usual ids, feed positions such as "42",
   * as array elements, a lookup several times cheaper than a Map's hash), and the typed
   * arrays hold its status code and when it reached that status (the tracker's own counter,
   * which `byStatus()` sorts by). Histories are packed records (see `#records`); failed
   * task_ends, when there are any, are kept by slot on the side.
   */
  #slots = StatusTracker.#noSlots();
  /**
   * Each slot's item id; an item whose id is its feed position, fed by a batch, is kept as that number
   * (the same key of `#slots` as its string, which is made only when a query returns it).
   */
  #ids: (string | number)[] = [];
  #status = new Uint8Array(1024);
  #since = new Float64Array(1024);
  /** Per slot, its history's region of the records: start, size, head (its oldest, once it is full) and count. */
  #rings: Int32Array;
  /**
   * The history records (see above), 4 float64s a record; `#words` is the same buffer as uint32s.
   * The buffer is resizable, so it grows in place (V8 reserves its address space up front and
   * commits pages as they are used): growing never copies what is there.
   */
  #buffer: ArrayBuffer | undefined;
  #records = new Float64Array(0);
  #words = new Uint32Array(0);
  /** Records handed out to regions so far. */
  #top = 0;
  /** Regions left behind as their items' grew, by size, for the next item that needs one. */
  #freeRegions = new Map<number, number[]>();
  /**
   * The size of an item's first region: doubled when most items outgrow it (a copy per item
   * saved: a pipeline of three stages gives each item 13 events).
   */
  #firstRegion = FIRST_REGION;
  /** Items begun since the last look at the first size, and how many of them outgrew it. */
  #begun = 0;
  #outgrown = 0;
  /** Events kept as objects (a record of kind OBJECT names one), and the free places in the list. */
  #objects: (TrackedEvent | undefined)[] = [];
  #freeObjects: number[] = [];
  #places: Place[] = [];
  /** Counts clear()s: a feed's places are the tracker's until the next. */
  #generation = 0;
  /** An item's last task_end that did not succeed, until a later task succeeds. */
  #lastFailedTask = new Map<number, TaskEndEvent>();
  /** Items per current status: a status change is two increments; `byStatus()` (a query) scans the column. */
  #counts = StatusTracker.#noCounts();
  #clock = 0;
  /** Items whose current status is failed, in the order they failed. */
  #failed = new Map<string, FailedItem>();

  constructor(options: StatusTrackerOptions = {}) {
    const history = options.history ?? DEFAULT_HISTORY;
    if (history !== false && !(history >= 0)) {
      throw new RangeError(`StatusTracker: history must be a number >= 0 or false, got ${String(history)}`);
    }
    this.#limit = history === false ? 0 : Math.floor(history);
    this.#options = options;
    this.#rings = this.#noRings();
    const kept = this.#limit > 0;
    const types: EventType[] = ['item_status'];
    if (kept || options.onTaskComplete || options.onTaskFail) types.push('task_end');
    if (kept || options.onTaskStart) types.push('task_start');
    if (kept || options.onTaskRetry) types.push('task_retry');
    if (kept) types.push('task_status');
    this.types = new Set(types);
  }

  /** Pass to a pipeline's `onEvent`, or call with each event. Ignores events that are not item or task events. */
  readonly observe = (event: SpanflowEvent): void => {
    switch (event.type) {
      case 'item_status': {
        const slot = this.#record(event);
        this.#statusChanged(slot, event.itemId, event.status);
        if (event.status === 'failed') {
          // Events that do not name the failed task (from before they did) take it from the item's last failed task_end.
          this.#fail(slot, event.itemId, event.index, event.stage, event.attempt, event.error, 'attempts' in event ? event : undefined);
        }
        this.#options.onItemStatus?.(event);
        return;
      }
      case 'task_start':
        this.#record(event);
        this.#options.onTaskStart?.(event);
        return;
      case 'task_retry':
        this.#record(event);
        this.#options.onTaskRetry?.(event);
        return;
      case 'task_end': {
        const slot = this.#record(event);
        if (event.status === 'succeeded') {
          if (this.#lastFailedTask.size > 0) this.#lastFailedTask.delete(slot);
          this.#options.onTaskComplete?.(event);
        } else {
          this.#lastFailedTask.set(slot, event);
          this.#options.onTaskFail?.(event);
        }
        return;
      }
      case 'task_status':
        this.#record(event);
        return;
      default:
        return;
    }
  };

  /** The item's current status, or `undefined` if no `item_status` event was seen for it. */
  status(itemId: string): ItemStatus | undefined {
    const slot = this.#slots[itemId];
    return slot === undefined ? undefined : STATUS_OF[this.#status[slot] as number];
  }

  /** Ids of the items now in `status`, in the order they reached it. */
  byStatus(status: ItemStatus): string[] {
    const code = codeOf(status);
    if (this.#counts[code] === 0) return [];
    const found: number[] = [];
    const column = this.#status;
    for (let slot = 0; slot < this.#ids.length; slot++) if (column[slot] === code) found.push(slot);
    const since = this.#since;
    return found.sort((a, b) => (since[a] as number) - (since[b] as number)).map((slot) => String(this.#ids[slot]));
  }

  /** How many items are in each status now; every status is present, with 0 when none. */
  stats(): Record<ItemStatus, number> {
    return Object.fromEntries(ITEM_STATUSES.map((status) => [status, this.#counts[codeOf(status)] as number])) as Record<ItemStatus, number>;
  }

  /**
   * The item's item_status and task events, oldest first: at most `history` of them (the newest).
   * Events a pipeline fed as fields are rebuilt at each call: equal, not the same objects.
   */
  history(itemId: string): readonly TrackedEvent[] {
    const slot = this.#slots[itemId];
    if (slot === undefined || this.#limit === 0) return [];
    const rings = this.#rings;
    const at = slot * 4;
    const start = rings[at] as number;
    const size = rings[at + 1] as number;
    const head = rings[at + 2] as number;
    const count = rings[at + 3] as number;
    const events: TrackedEvent[] = [];
    for (let i = 0; i < count; i++) {
      const offset = head + i;
      events.push(this.#eventAt(start + (offset < size ? offset : offset - size), itemId));
    }
    return events;
  }

  /**
   * Items whose current status is failed, in the order they failed. `task` and
   * the error come from the item's last failed task in that stage when the
   * `item_status` event does not carry them; `metadata` is not in events, so
   * it is `undefined`.
   */
  failed(): FailedItem[] {
    return Array.from(this.#failed.values());
  }

  /** Failed items counted by error type and by stage; `recent` is every failed item, newest last. */
  errorSummary(): ErrorSummary {
    const byType: Record<string, number> = {};
    const byStage: Record<string, number> = {};
    const recent = this.failed();
    for (const failure of recent) {
      byType[failure.error.type] = (byType[failure.error.type] ?? 0) + 1;
      byStage[failure.stage] = (byStage[failure.stage] ?? 0) + 1;
    }
    return { total: recent.length, byType, byStage, recent };
  }

  /** Forgets every item; options and callbacks stay. */
  clear(): void {
    this.#slots = StatusTracker.#noSlots();
    this.#ids = [];
    this.#status = new Uint8Array(1024);
    this.#since = new Float64Array(1024);
    this.#rings = this.#noRings();
    this.#buffer = undefined;
    this.#records = new Float64Array(0);
    this.#words = new Uint32Array(0);
    this.#top = 0;
    this.#freeRegions = new Map();
    this.#firstRegion = FIRST_REGION;
    this.#begun = 0;
    this.#outgrown = 0;
    this.#objects = [];
    this.#freeObjects = [];
    this.#places = [];
    this.#generation++;
    this.#lastFailedTask = new Map();
    this.#counts = StatusTracker.#noCounts();
    this.#failed = new Map();
  }

  static {
    feedOf = (tracker) => {
      const options = tracker.#options;
      if (options.onItemStatus || options.onTaskStart || options.onTaskComplete || options.onTaskRetry || options.onTaskFail) return undefined;
      return (run, stages) => feeding(tracker, run, stages);
    };
    const feeding = (tracker: StatusTracker, run: RunEmitter, stages: FedStages): TrackerFeed => {
      const limit = tracker.#limit;
      /** The item's slot: the one it had while it still holds its key (clear() starts the slots over). */
      const slotOf = (item: FedItem): number => {
        const key = item.key;
        let slot = item.trackerSlot;
        if (slot < 0 || tracker.#ids[slot] !== key) {
          slot = tracker.#slotOf(key);
          item.trackerSlot = slot;
        }
        return slot;
      };
      // This batch's places, by stage (item_status) and by stage and task: made at the first packed record,
      // and again after a clear() (which forgets them).
      let generation = -1;
      let stagePlaces: number[] = [];
      let taskPlaces: number[][] = [];
      const placeOf = (stage: number, task: number): number => {
        if (generation !== tracker.#generation) {
          generation = tracker.#generation;
          stagePlaces = stages.map((def) => tracker.#place(run, def.name, ''));
          taskPlaces = stages.map((def) => def.tasks.map((t) => tracker.#place(run, def.name, t.name)));
        }
        return (task < 0 ? stagePlaces[stage] : taskPlaces[stage]?.[task]) as number;
      };
      const stageOf = (item: FedItem): string => (stages[item.stage] as FedStages[number]).name;
      const taskOf = (item: FedItem, task: number): string => ((stages[item.stage] as FedStages[number]).tasks[task] as { name: string }).name;
      /** A task event's packed code, or -1 when its fields do not fit one. */
      const taskCode = (kind: number, item: FedItem, attempt: number, worker: number, seq: number): number =>
        attempt <= MAX_ATTEMPT && worker <= MAX_WORKER && item.index <= MAX_U32 && seq <= MAX_U32 ? kind | (attempt << ATTEMPT_SHIFT) | (worker << WORKER_SHIFT) : -1;
      const tasks: TaskFeed | undefined =
        limit === 0
          ? undefined
          : {
              start: (item, task, attempt, worker, at) => {
                const slot = slotOf(item);
                const seq = run.nextSeq();
                const time = at >= 0 ? epochOf(at) : now();
                const code = taskCode(PACKED_START, item, attempt, worker, seq);
                if (code >= 0) tracker.#pack(slot, code, placeOf(item.stage, task), item.index, seq, time, 0);
                else tracker.#keep(slot, taskStartEvent(run, seq, time, item.id, item.index, stageOf(item), taskOf(item, task), attempt, worker));
              },
              retry: (item, task, attempt, worker, error, delayMs, durationMs, at) => {
                const slot = slotOf(item);
                const seq = run.nextSeq();
                tracker.#keep(slot, taskRetryEvent(run, seq, at >= 0 ? epochOf(at) : now(), item.id, item.index, stageOf(item), taskOf(item, task), attempt, worker, error, delayMs, durationMs));
              },
              end: (item, task, attempt, worker, status, durationMs, error, at) => {
                const slot = slotOf(item);
                const seq = run.nextSeq();
                const time = at >= 0 ? epochOf(at) : now();
                if (status === 'succeeded') {
                  if (tracker.#lastFailedTask.size > 0) tracker.#lastFailedTask.delete(slot);
                  const code = error === undefined ? taskCode(PACKED_END, item, attempt, worker, seq) : -1;
                  if (code >= 0) {
                    tracker.#pack(slot, code, placeOf(item.stage, task), item.index, seq, time, durationMs);
                    return;
                  }
                }
                const event = taskEndEvent(run, seq, time, item.id, item.index, stageOf(item), taskOf(item, task), attempt, worker, status, durationMs, error);
                if (status !== 'succeeded') tracker.#lastFailedTask.set(slot, event);
                tracker.#keep(slot, event);
              },
              status: (item, task, attempt, worker, text) => {
                const slot = slotOf(item);
                const seq = run.nextSeq();
                tracker.#keep(slot, taskStatusEvent(run, seq, now(), item.id, item.index, stageOf(item), taskOf(item, task), attempt, worker, text));
              },
            };
      return {
        status: (item, stage, status, attempt, error, failure, at) => {
          const slot = slotOf(item);
          const seq = run.nextSeq();
          tracker.#statusChanged(slot, item.key, status);
          if (status === 'failed') tracker.#fail(slot, item.id, item.index, stage, attempt, failure?.error, failure);
          if (limit === 0) return;
          const time = at >= 0 ? epochOf(at) : now();
          if (error === undefined && failure === undefined && attempt <= MAX_ATTEMPT && item.index <= MAX_U32 && seq <= MAX_U32) {
            const code = PACKED_STATUS | (codeOf(status) << STATUS_SHIFT) | (attempt << ATTEMPT_SHIFT);
            tracker.#pack(slot, code, placeOf(item.stage, -1), item.index, seq, time, 0);
          } else {
            const info = failure === undefined && error !== undefined ? toErrorInfo(error) : undefined;
            tracker.#keep(slot, itemStatusEvent(run, seq, time, item.id, item.index, stage, status, attempt, info, failure));
          }
        },
        tasks,
      };
    };
  }

  /** The item reached `status` (perhaps again). */
  #statusChanged(slot: number, itemId: string | number, status: ItemStatus): void {
    const previous = this.#status[slot] as number;
    const code = codeOf(status);
    if (previous === code) return;
    const counts = this.#counts;
    if (previous !== NO_STATUS) {
      (counts[previous] as number)--;
      if (previous === FAILED) this.#failed.delete(String(itemId));
    }
    (counts[code] as number)++;
    this.#status[slot] = code;
    this.#since[slot] = ++this.#clock;
  }

  /** The item's slot, made at its first event. */
  #slotOf(itemId: string | number): number {
    let slot = this.#slots[itemId];
    if (slot === undefined) {
      slot = this.#ids.length;
      this.#ids.push(itemId);
      this.#slots[itemId] = slot;
      if (slot === this.#status.length) this.#grow();
    }
    return slot;
  }

  /** The item's slot, made at its first event, with `event` added to its history. */
  #record(event: TrackedEvent): number {
    const slot = this.#slotOf(event.itemId);
    if (this.#limit > 0) this.#keep(slot, event);
    return slot;
  }

  /** A place's number, made for it. */
  #place(run: RunFields, stage: string, task: string): number {
    this.#places.push({ runId: run.runId, parentRunId: run.parentRunId, pipeline: run.pipeline, stage, task });
    return this.#places.length - 1;
  }

  /** Adds a packed record to the item's history. */
  #pack(slot: number, code: number, place: number, index: number, seq: number, time: number, durationMs: number): void {
    const record = this.#nextRecord(slot);
    const records = this.#records;
    records[record * 4] = time;
    records[record * 4 + 1] = durationMs;
    const words = this.#words;
    const at = record * 8 + 4;
    words[at] = code;
    words[at + 1] = place;
    words[at + 2] = index;
    words[at + 3] = seq;
  }

  /** Adds an event to the item's history as it is. */
  #keep(slot: number, event: TrackedEvent): void {
    const record = this.#nextRecord(slot);
    let kept = this.#freeObjects.pop();
    if (kept === undefined) {
      kept = this.#objects.length;
      this.#objects.push(event);
    } else {
      this.#objects[kept] = event;
    }
    const at = record * 8 + 4;
    this.#words[at] = OBJECT;
    this.#words[at + 1] = kept;
  }

  /**
   * The record the item's next event goes in: the next of its region, in a region twice the
   * size when it is full and below the limit, else (at the limit) the oldest one's.
   */
  #nextRecord(slot: number): number {
    const rings = this.#rings;
    const at = slot * 4;
    const size = rings[at + 1] as number;
    const count = rings[at + 3] as number;
    if (count < size) {
      rings[at + 3] = count + 1;
      return (rings[at] as number) + count;
    }
    const limit = this.#limit;
    if (size < limit) {
      const grown = size === 0 ? this.#firstSize(limit) : Math.min(size * 2, limit);
      if (size !== 0 && size === this.#firstRegion) this.#outgrown++;
      const start = this.#region(grown);
      if (size > 0) {
        // (A region fills from its start until it reaches the limit: head is 0 here.)
        const old = rings[at] as number;
        // Copied as words, bit for bit (a float64 copy may not keep every bit of a NaN; copyWithin is slow here).
        const words = this.#words;
        for (let from = old * 8, to = start * 8, end = (old + size) * 8; from < end; from++, to++) words[to] = words[from] as number;
        let free = this.#freeRegions.get(size);
        if (!free) {
          free = [];
          this.#freeRegions.set(size, free);
        }
        free.push(old);
      }
      rings[at] = start;
      rings[at + 1] = grown;
      rings[at + 3] = count + 1;
      return start + count;
    }
    const head = rings[at + 2] as number;
    const record = (rings[at] as number) + head;
    rings[at + 2] = head + 1 === size ? 0 : head + 1;
    const words = this.#words;
    if (((words[record * 8 + 4] as number) & 3) === OBJECT) {
      const dropped = words[record * 8 + 5] as number;
      this.#objects[dropped] = undefined;
      this.#freeObjects.push(dropped);
    }
    return record;
  }

  /** The size of a new item's first region: the current first size, looked at again every so many items. */
  #firstSize(limit: number): number {
    if (++this.#begun === FIRST_REGION_SAMPLE) {
      const first = this.#firstRegion;
      // (Never shrunk: items that do not fill it could be told only when they are done, which nothing says.)
      if (this.#outgrown * 2 > FIRST_REGION_SAMPLE && first < limit) this.#firstRegion = first * 2;
      this.#begun = 0;
      this.#outgrown = 0;
    }
    return Math.min(this.#firstRegion, limit);
  }

  /** A region of `size` records: one left behind, or new at the top (the buffer grows by half when full). */
  #region(size: number): number {
    const reused = this.#freeRegions.get(size)?.pop();
    if (reused !== undefined) return reused;
    const start = this.#top;
    const top = start + size;
    let buffer = this.#buffer;
    if (!buffer) {
      buffer = reserve();
      this.#buffer = buffer;
      // Typed arrays on a resizable buffer, without a length: they follow its size.
      this.#records = new Float64Array(buffer);
      this.#words = new Uint32Array(buffer);
    }
    if (top * RECORD_BYTES > buffer.byteLength) {
      const wanted = Math.max(top, 1024, Math.ceil((buffer.byteLength / RECORD_BYTES) * 1.5)) * RECORD_BYTES;
      if (top * RECORD_BYTES > buffer.maxByteLength) {
        throw new RangeError(`StatusTracker: the history holds ${start} events, as many as it can; give a smaller \`history\`, or clear() it`);
      }
      buffer.resize(Math.min(wanted, buffer.maxByteLength));
    }
    this.#top = top;
    return start;
  }

  /** The event a record holds: itself (kept as an object), or rebuilt from its fields by the batch's own builders. */
  #eventAt(record: number, itemId: string): TrackedEvent {
    const words = this.#words;
    const at = record * 8 + 4;
    const code = words[at] as number;
    const kind = code & 3;
    if (kind === OBJECT) return this.#objects[words[at + 1] as number] as TrackedEvent;
    const place = this.#places[words[at + 1] as number] as Place;
    const index = words[at + 2] as number;
    const seq = words[at + 3] as number;
    const time = this.#records[record * 4] as number;
    const attempt = (code >>> ATTEMPT_SHIFT) & MAX_ATTEMPT;
    if (kind === PACKED_STATUS) {
      return itemStatusEvent(place, seq, time, itemId, index, place.stage, STATUS_OF[(code >>> STATUS_SHIFT) & 7] as ItemStatus, attempt, undefined, undefined);
    }
    const worker = code >>> WORKER_SHIFT;
    if (kind === PACKED_START) return taskStartEvent(place, seq, time, itemId, index, place.stage, place.task, attempt, worker);
    return taskEndEvent(place, seq, time, itemId, index, place.stage, place.task, attempt, worker, 'succeeded', this.#records[record * 4 + 1] as number, undefined);
  }

  #grow(): void {
    const status = new Uint8Array(this.#status.length * 2);
    status.set(this.#status);
    this.#status = status;
    const since = new Float64Array(this.#since.length * 2);
    since.set(this.#since);
    this.#since = since;
    const rings = new Int32Array(this.#rings.length * 2); // (none without a history: 0 * 2)
    rings.set(this.#rings);
    this.#rings = rings;
  }

  /**
   * The item failed: a failed `item_status` event's fields, `named` when it names the failed task
   * and the attempts (else they come from the item's last failed task_end in that stage).
   */
  #fail(
    slot: number,
    itemId: string,
    index: number,
    stage: string,
    attempt: number,
    error: ErrorInfo | undefined,
    named: { readonly task?: string | undefined; readonly attempts?: number } | undefined,
  ): void {
    const last = this.#lastFailedTask.get(slot);
    const task = last?.stage === stage ? last : undefined;
    // A repeated failed event updates the entry in place, as byStatus keeps the item's place.
    this.#failed.set(itemId, {
      itemId,
      index,
      stage,
      task: named ? named.task : task?.task,
      error: error ?? task?.error ?? UNKNOWN_ERROR,
      // Task attempts with per-task retry, passes through the stage with per-stage retry.
      attempts: named?.attempts ?? Math.max(attempt, task?.attempt ?? 0),
      metadata: undefined,
    });
  }

  /** Ring columns for the first 1024 slots, none without a history. */
  #noRings(): Int32Array {
    return new Int32Array(this.#limit > 0 ? 4 * 1024 : 0);
  }

  static #noSlots(): Record<string, number> {
    return Object.create(null) as Record<string, number>;
  }

  /** Items per status code (index 0, no status yet, stays 0). */
  static #noCounts(): Int32Array {
    return new Int32Array(ITEM_STATUSES.length + 1);
  }

}
