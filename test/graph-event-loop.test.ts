// Producers that never wait (a map over a synchronous worker, a generator that
// yields tokens without awaiting I/O) give the event loop a turn as they run:
// step and run timeouts, cancellation and the user's own timers fire mid-run
// instead of after the last item. No test here reads a duration: each holds the
// event loop (as CPU-bound work does) long enough that the timer is surely due,
// then counts what happened before the producer was done.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pipeline, RunTimeoutError, StepTimeoutError } from '../sdk/index.ts';
import { TURN_SLICE_MS } from '../sdk/turn.ts';
import { spin } from './fixtures/worker-tasks.ts';
import { range } from './support.ts';

/** Longer than a turn's slice and than every timer below: once held this long, the timers are due and a turn is owed. */
const HOLD_MS = TURN_SLICE_MS + 5;

/**
 * At the first item and again halfway, keeps the event loop busy for `HOLD_MS`, as a synchronous CPU-bound
 * step would. The turn owed after the first hold may come before the loop reaches its timers (when the run
 * started from a timer or an I/O callback); the one owed after the second comes after they ran, so the
 * timers below surely fire while the producer runs, however fast the machine.
 */
function holdAt(position: number, total: number): void {
  if (position === 0 || position === total >> 1) spin({ ms: HOLD_MS });
}

/** A `setInterval` of 1 ms; `ticks()` counts how often it has fired so far. */
function ticking(): { ticks: () => number; stop: () => void } {
  let ticks = 0;
  const interval = setInterval(() => ticks++, 1);
  return { ticks: () => ticks, stop: () => clearInterval(interval) };
}

describe('long producers give the event loop its turns', () => {
  it('a 300,000-item map of a synchronous worker ends timed_out when its step timeout passes mid-map', async () => {
    const ITEMS = 300_000;
    let processed = 0;
    const p = pipeline('long-map')
      .map('fan', () => range(ITEMS), { worker: 'square', timeout: 1 })
      .step<number>('square', ({ item }) => {
        holdAt(item, ITEMS);
        processed++;
        return item * item;
      });
    const result = await p.run(undefined);
    assert.equal(result.status, 'timed_out', `the map ended ${result.status} after ${processed} items`);
    assert.equal(result.failedNode, 'fan');
    assert.ok(result.error instanceof StepTimeoutError, String(result.error));
    assert.ok(processed < ITEMS, `the map went on to its last item (${processed}) after it timed out`);
  });

  it('a setInterval ticks during a long map of a synchronous worker', async () => {
    const ITEMS = 100_000;
    const timer = ticking();
    let ticksAtLastItem = -1;
    const p = pipeline('ticking-map')
      .map('fan', () => range(ITEMS), { worker: 'square' })
      .step<number>('square', ({ item }) => {
        holdAt(item, ITEMS);
        if (item === ITEMS - 1) ticksAtLastItem = timer.ticks();
        return item * item;
      });
    try {
      const result = await p.run(undefined);
      assert.equal(result.status, 'succeeded');
      assert.equal((result.outputs.fan as number[]).length, ITEMS);
    } finally {
      timer.stop();
    }
    assert.ok(ticksAtLastItem > 0, 'the interval never fired while the map ran');
  });

  it('a setInterval ticks during a long synchronous token stream', async () => {
    const TOKENS = 100_000;
    const timer = ticking();
    let ticksAtLastToken = -1;
    const p = pipeline('ticking-stream').step('generate', async function* () {
      for (let i = 0; i < TOKENS; i++) {
        holdAt(i, TOKENS);
        if (i === TOKENS - 1) ticksAtLastToken = timer.ticks();
        yield i;
      }
    });
    try {
      const result = await p.run(undefined);
      assert.equal(result.status, 'succeeded');
      assert.equal(result.metrics.tokens.generate, TOKENS);
    } finally {
      timer.stop();
    }
    assert.ok(ticksAtLastToken > 0, 'the interval never fired while the stream ran');
  });

  it('a run timeout ends a 1,000,000-token stream timed_out before the stream is exhausted', async () => {
    const TOKENS = 1_000_000;
    let produced = 0;
    const p = pipeline('timed-stream').step('generate', async function* () {
      for (let i = 0; i < TOKENS; i++) {
        holdAt(i, TOKENS);
        produced++;
        yield i;
      }
    });
    const result = await p.run(undefined, { timeout: 1 });
    assert.equal(result.status, 'timed_out', `the run ended ${result.status} after ${produced} tokens`);
    assert.ok(result.error instanceof RunTimeoutError, String(result.error));
    assert.ok(produced < TOKENS, 'the stream ran to its last token after the run timed out');
  });

  it('an AbortSignal cancels a 1,000,000-token stream before it is exhausted', async () => {
    const TOKENS = 1_000_000;
    const controller = new AbortController();
    let produced = 0;
    const p = pipeline('cancelled-stream').step('generate', async function* () {
      for (let i = 0; i < TOKENS; i++) {
        // The cancel comes from outside the stream (a closed request, a signal handler): on a later turn of the loop.
        if (i === 0) setImmediate(() => controller.abort(new Error('the user cancelled')));
        holdAt(i, TOKENS);
        produced++;
        yield i;
      }
    });
    const result = await p.run(undefined, { signal: controller.signal });
    assert.equal(result.status, 'cancelled', `the run ended ${result.status} after ${produced} tokens`);
    assert.ok(produced < TOKENS, 'the stream ran to its last token after the run was cancelled');
  });
});
