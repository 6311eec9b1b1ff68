// A long synchronous token stream persisted into the embedded database (its
// writes wait on a worker thread's answers): the store's backpressure paces the stream,
// and a deadline the user set still ends the run mid-stream, with the run
// stored as cancelled. (A run timeout used to be ignored in this set-up: a run
// went on 37 s past a 2 s timeout, to its last token; the user's own timers
// alike, as no timer fired until the stream was over.)

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { openStore } from '../../exporters/postgres/index.ts';
import { pipeline } from '../../sdk/index.ts';
import { TURN_SLICE_MS } from '../../sdk/turn.ts';
import { spin } from '../fixtures/worker-tasks.ts';
import { tempFolder } from '../support.ts';

const folder = tempFolder('graph-persisted-stream');
after(() => folder.cleanup());

describe('a persisted token stream', () => {
  it('is cancelled by a deadline timer mid-stream, before the stream is exhausted, and is stored so', { timeout: 120_000 }, async () => {
    const TOKENS = 1_000_000;
    /** Well into the stream, once the store writes at its steady pace. */
    const DEADLINE_AT = 20_000;
    const store = await openStore({ dataDir: folder.path });
    const deadline = new AbortController();
    let produced = 0;
    try {
      const p = pipeline('persisted-stream').step('generate', async function* () {
        for (let i = 0; i < TOKENS; i++) {
          if (i === DEADLINE_AT) setTimeout(() => deadline.abort(new Error('past the deadline')), 1);
          // Hold the loop past the timer and a turn's slice, twice: the deadline is due from here on, and the
          // second turn owed comes after the loop's timers phase (the first may come before it).
          if (i === DEADLINE_AT || i === 2 * DEADLINE_AT) spin({ ms: TURN_SLICE_MS + 5 });
          produced++;
          yield i;
        }
      });
      const result = await p.run(undefined, { signal: deadline.signal, persist: store });
      assert.equal(result.status, 'cancelled', `the run ended ${result.status} after ${produced} tokens`);
      assert.ok(produced < TOKENS, 'the stream ran to its last token after its deadline');
      await store.flush();
      const stored = await store.getRun(result.runId, { events: false });
      assert.equal(stored?.status, 'cancelled');
    } finally {
      await store.close();
    }
  });
});
