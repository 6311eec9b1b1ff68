// Waiting for something with a time limit: the one way spanflow's parts do it
// (a store's close and flush, the shutdown on a signal, the telemetry SDK's
// shutdown), so each deadline behaves alike: it never rejects, it settles by
// its limit, and it holds the process open only when asked.

import { setTimeout as sleep } from 'node:timers/promises';

/** The longest delay a Node timer takes: a longer one would fire at once, with a warning. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * For spanflow's own parts (stores, exporters, shutdown), not a general API:
 * whether `work` settles (resolves or rejects) within `ms`. Resolves `true` as
 * soon as it does, `false` once `ms` have passed; never rejects (`work`'s own
 * outcome is the caller's to read). With `hold`, the time limit keeps the
 * process alive while it runs, so a top-level `await` of it cannot see the
 * event loop empty (Node would end the process with exit code 13); without,
 * it holds nothing.
 */
export async function settleWithin(work: Promise<unknown>, ms: number, { hold = false }: { readonly hold?: boolean } = {}): Promise<boolean> {
  const limit = new AbortController();
  const settled = work.then(
    () => true,
    () => true,
  );
  const delay = Math.min(MAX_TIMER_MS, Math.max(0, Number.isNaN(ms) ? 0 : ms));
  try {
    return await Promise.race([settled, sleep(delay, false, { signal: limit.signal, ref: hold })]);
  } finally {
    // The timer goes as soon as either is done (its rejection is Promise.race's, handled).
    limit.abort();
  }
}
