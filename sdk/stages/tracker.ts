// StatusTracker: a consumer of the event stream of stage pipelines. It keeps
// each item's status, a bounded history of its events and its failure, and
// calls back on item and task events. Everything it knows comes from events,
// so it works the same on a live pipeline (`onEvent`) and on replayed events.

import {
  type ErrorInfo,
  type EventType,
  ITEM_STATUSES,
  type ItemStatus,
  type ItemStatusEvent,
  type SpanflowEvent,
  type TaskEndEvent,
  type TaskRetryEvent,
  type TaskStartEvent,
  type TaskStatusEvent,
} from '../events.ts';
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

/** A history ring: up to `limit` events; `head` is the oldest once it is full. */
interface Ring {
  readonly events: TrackedEvent[];
  head: number;
}

/**
 * A batch's status changes handed to its tracker without an event (see `statusFeed`): an
 * `item_status` event's fields, a failure's task and attempts in `failure` (as its event carries them).
 */
export type StatusFeed = (
  item: FedItem,
  stage: string,
  status: ItemStatus,
  attempt: number,
  failure: { readonly task: string | undefined; readonly attempts: number; readonly error: ErrorInfo } | undefined,
) => void;

/** An item as a batch hands it to its tracker's feed: its id and index, and where the tracker last kept it. */
export interface FedItem {
  readonly id: string;
  /** Its id, or its feed position (a number) when that is its id: the tracker keeps the number, not a string made for it. */
  readonly key: string | number;
  readonly index: number;
  /** The tracker's slot for this item, once it has one (-1 before): saves a lookup by id per status change. */
  trackerSlot: number;
}

let feedOf: (tracker: StatusTracker) => StatusFeed | undefined;

/**
 * The feed a batch may call instead of building `item_status` events for this tracker: given
 * only when the tracker needs nothing of those events but their fields (it keeps no history,
 * calls no callback, takes no other event), for a batch in which no one else takes them.
 * What the tracker then knows, and every query, is what the events would have given it.
 */
export function statusFeed(tracker: { readonly observe: unknown }): StatusFeed | undefined {
  return tracker instanceof StatusTracker ? feedOf(tracker) : undefined;
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
 * but no status.
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
   * which `byStatus()` sorts by). Histories and failed task_ends, when there are any, are
   * kept by slot on the side.
   */
  #slots = StatusTracker.#noSlots();
  /**
   * Each slot's item id; an item whose id is its feed position, fed by a batch, is kept as that number
   * (the same key of `#slots` as its string, which is made only when a query returns it).
   */
  #ids: (string | number)[] = [];
  #status = new Uint8Array(1024);
  #since = new Float64Array(1024);
  #rings = new Map<number, Ring>();
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

  /** The item's item_status and task events, oldest first: at most `history` of them (the newest). */
  history(itemId: string): readonly TrackedEvent[] {
    const slot = this.#slots[itemId];
    const ring = slot === undefined ? undefined : this.#rings.get(slot);
    if (!ring) return [];
    const { events, head } = ring;
    return head === 0 ? events.slice() : events.slice(head).concat(events.slice(0, head));
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
    this.#rings = new Map();
    this.#lastFailedTask = new Map();
    this.#counts = StatusTracker.#noCounts();
    this.#failed = new Map();
  }

  static {
    feedOf = (tracker) => {
      if (tracker.#limit > 0 || tracker.#options.onItemStatus || tracker.types.size !== 1) return undefined;
      return (item, stage, status, attempt, failure) => {
        const key = item.key;
        let slot = item.trackerSlot;
        // The slot is the item's while it still holds its key (clear() starts the slots over).
        if (slot < 0 || tracker.#ids[slot] !== key) {
          slot = tracker.#slotOf(key);
          item.trackerSlot = slot;
        }
        tracker.#statusChanged(slot, key, status);
        if (status === 'failed') tracker.#fail(slot, item.id, item.index, stage, attempt, failure?.error, failure);
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
    const limit = this.#limit;
    if (limit > 0) {
      let ring = this.#rings.get(slot);
      if (!ring) {
        ring = { events: [], head: 0 };
        this.#rings.set(slot, ring);
      }
      const { events } = ring;
      if (events.length < limit) {
        events.push(event);
      } else {
        events[ring.head] = event;
        ring.head = ring.head + 1 === limit ? 0 : ring.head + 1;
      }
    }
    return slot;
  }

  #grow(): void {
    const status = new Uint8Array(this.#status.length * 2);
    status.set(this.#status);
    this.#status = status;
    const since = new Float64Array(this.#since.length * 2);
    since.set(this.#since);
    this.#since = since;
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

  static #noSlots(): Record<string, number> {
    return Object.create(null) as Record<string, number>;
  }

  /** Items per status code (index 0, no status yet, stays 0). */
  static #noCounts(): Int32Array {
    return new Int32Array(ITEM_STATUSES.length + 1);
  }

}
