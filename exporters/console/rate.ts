// Items per second between successive snapshots, over a sliding window.
import type { PipelineSnapshot } from '../../sdk/index.ts';

export interface RateMeter {
  /** Add a snapshot; returns items/s over the window, or undefined until two snapshots are apart in time. */
  update(snapshot: PipelineSnapshot): number | undefined;
}

/** `windowMs`: how far back the rate looks (default 5 s), so it follows changes without jumping on each update. */
export function rateMeter(windowMs = 5000): RateMeter {
  const samples: { time: number; done: number }[] = [];
  return {
    update(snapshot) {
      const { stats } = snapshot;
      const done = stats.completed + stats.failed + stats.skipped;
      const time = snapshot.timestamp;
      const last = samples.at(-1);
      if (last && time <= last.time) {
        last.done = done;
      } else {
        samples.push({ time, done });
      }
      while (samples.length > 2 && time - (samples[1]?.time ?? time) >= windowMs) samples.shift();
      const first = samples[0];
      if (!first || time <= first.time) return undefined;
      return Math.max(0, ((done - first.done) / (time - first.time)) * 1000);
    },
  };
}
