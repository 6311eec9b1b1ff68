// Giving the event loop a turn. A producer that never waits (a map over a
// synchronous source whose worker returns at once, a generator that yields
// tokens without awaiting I/O, a stage batch of synchronous tasks) would
// otherwise run on microtasks alone: no timer fires (timeouts, heartbeats,
// dashboards), no I/O completes, no signal handler runs, until it is done.
// Such loops ask `turnDue()` per item and await `nextTurn()` when it says so.
// This is the one implementation; every loop that can starve the loop uses it.

/** How long work may hold the event loop before it gives timers and I/O a turn, in ms. */
export const TURN_SLICE_MS = 4;

/** The clock is read once per this many calls (a power of two): reading it per item would cost more than the work. */
const CHECK_EVERY = 32;

let calls = 0;
let sliceStart = 0;
/**
 * The turn asked for and not yet taken. Every loop waits for this same one: were each to
 * take a turn of its own, each would then run a slice, and N loops would hold the event
 * loop for N slices between timers.
 */
let pending: Promise<void> | undefined;

/**
 * True when the current stretch of work has held the event loop for longer
 * than `TURN_SLICE_MS`: the caller should `await nextTurn()` before going on.
 * Cheap enough to call per item (a counter; the clock every 32nd call).
 */
export function turnDue(): boolean {
  if (pending !== undefined) return true;
  if ((++calls & (CHECK_EVERY - 1)) !== 0) return false;
  const now = performance.now();
  if (now - sliceStart < TURN_SLICE_MS) return false;
  // A stale start (the loop was idle since the last turn) also lands here: one extra turn, then a fresh slice.
  sliceStart = now;
  return true;
}

/**
 * Resolves after timers, I/O and signal handlers that were due have had their turn (a
 * macrotask: `setImmediate`). Loops that ask while a turn is pending share it; until it
 * comes, `turnDue()` says true to every loop, so all of them stop for it.
 */
export function nextTurn(): Promise<void> {
  pending ??= new Promise<void>((resolve) => {
    setImmediate(() => {
      pending = undefined;
      sliceStart = performance.now();
      resolve();
    });
  });
  return pending;
}
