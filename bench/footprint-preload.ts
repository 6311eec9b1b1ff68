// Preloaded by bench/footprint.ts (`node --import ./bench/footprint-preload.ts …`): watches the main thread's
// event loop from the start and, at exit, writes the process's peak RSS, CPU time (every thread's) and longest
// event-loop stall as one JSON line to the file SPANFLOW_FOOTPRINT_OUT names.
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const out = process.env.SPANFLOW_FOOTPRINT_OUT;
if (out) {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  process.once('exit', () => {
    delay.disable();
    const usage = process.resourceUsage();
    writeFileSync(
      out,
      `${JSON.stringify({
        rssMb: (usage.maxRSS * 1024) / 2 ** 20,
        cpuS: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
        // The histogram holds each turn's delay past the 10 ms timer: the longest is the longest stall.
        maxStallMs: delay.max / 1e6,
      })}\n`,
    );
  });
}
