// What watching a batch live costs it: a 100,000-item stage batch (3 stages ×
// 10 workers of no-op async tasks) run plain, watched (observe: live, one SSE
// reader that reads), and stalled (observe: live, one SSE reader that never
// reads a byte). The server is in the same process, as it is in an app; each
// reader is a process of its own, as a browser is. The three are sampled in
// turns (interleaved), each ratio taken per round: throughput, and this
// process's CPU time per item (steadier on a machine shared with other work).
//
//   node bench/live.ts

import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLiveHandler, LiveRuns } from '../exporters/http/index.ts';
import { stages } from '../sdk/index.ts';
import { fmtSpread, interleaved, printJson, printTable, ratios, round, spread } from './report.ts';

const ITEMS = 100_000;
const ROUNDS = 15;
const WARMUP = 2;

const live = new LiveRuns({ keepFinished: 2 });
const server = createServer(createLiveHandler({ live }));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as AddressInfo).port;

const noop = async (value: number): Promise<number> => value;
function batchPipeline(observed: boolean) {
  let p = stages<number>('bench-live', { collectResults: false, ...(observed ? { observe: live } : {}) });
  for (let s = 0; s < 3; s++) p = p.stage(`s${s + 1}`, { workers: 10, capacity: 40, tasks: noop });
  return p;
}

function* numbers(count: number): Generator<number> {
  for (let i = 0; i < count; i++) yield i;
}

/**
 * A reader of the batch's events in a process of its own (as a browser would be), on a raw socket: one that
 * reads everything, or one that never reads a byte.
 */
const READER = `const socket = require('node:net').connect(Number(process.argv[1]), '127.0.0.1');
socket.write('GET /runs/' + process.argv[2] + '/events HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nAccept: text/event-stream\\r\\n\\r\\n');
if (process.argv[3] === 'reads') socket.on('data', () => {}); else socket.pause();
setInterval(() => {}, 1 << 30); // a paused socket does not keep a process alive: this does, until the bench kills it`;

async function reader(runId: string, reads: boolean): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', READER, String(port), runId, reads ? 'reads' : 'stalls'], { stdio: 'ignore' });
  // Measure from when the handler has the reader, not before.
  while (!live.clients().some((c) => c.runId === runId)) await new Promise((resolve) => setTimeout(resolve, 1));
  return child;
}

/** This process's CPU time per item, in µs, by case (a machine shared with other work weighs less on it than on wall time). */
const cpu: Record<'plain' | 'watched' | 'stalled', number[]> = { plain: [], watched: [], stalled: [] };

async function sample(mode: 'plain' | 'watched' | 'stalled'): Promise<number> {
  const batch = batchPipeline(mode !== 'plain').start({ expected: ITEMS });
  const child = mode === 'plain' ? undefined : await reader(batch.runId, mode === 'watched');
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  await batch.feed(numbers(ITEMS));
  const result = await batch.join();
  const used = process.cpuUsage(cpuStarted);
  const ms = performance.now() - started;
  child?.kill();
  if (result.completed !== ITEMS) throw new Error(`${mode}: ${result.completed} of ${ITEMS} items completed`);
  cpu[mode].push((used.user + used.system) / ITEMS);
  return ITEMS / (ms / 1000);
}

const cases = { plain: () => sample('plain'), watched: () => sample('watched'), stalled: () => sample('stalled') };
await interleaved(cases, WARMUP);
for (const list of Object.values(cpu)) list.length = 0;
const samples = await interleaved(cases, ROUNDS);
server.closeAllConnections();
server.close();
const stalledCpu = spread(ratios(cpu.plain, cpu.stalled));
const watchedCpu = spread(ratios(cpu.plain, cpu.watched));

const plain = spread(samples.plain);
const watched = spread(samples.watched);
const stalled = spread(samples.stalled);
const watchedRatio = spread(ratios(samples.watched, samples.plain));
const stalledRatio = spread(ratios(samples.stalled, samples.plain));
printTable(
  `${ITEMS.toLocaleString('en')}-item batch, 3 stages × 10 workers, ${ROUNDS} rounds in turns: median (min–max)`,
  ['case', 'items/s', 'throughput ratio to plain', 'CPU µs per item', 'plain CPU over its CPU'],
  [
    ['plain (no live view)', fmtSpread(plain, 0), '1', fmtSpread(spread(cpu.plain), 3), '1'],
    ['watched (one reader reading)', fmtSpread(watched, 0), fmtSpread(watchedRatio, 3), fmtSpread(spread(cpu.watched), 3), fmtSpread(watchedCpu, 3)],
    ['stalled (one reader never reading)', fmtSpread(stalled, 0), fmtSpread(stalledRatio, 3), fmtSpread(spread(cpu.stalled), 3), fmtSpread(stalledCpu, 3)],
  ],
);
console.log(
  `goal: a reader that never reads costs the batch at most 5% (stalled ratio ≥ 0.95): throughput ${stalledRatio.median >= 0.95 ? 'met' : 'NOT met'}, CPU ${stalledCpu.median >= 0.95 ? 'met' : 'NOT met'}`,
);
printJson('live', {
  items: ITEMS,
  rounds: ROUNDS,
  plain_items_per_s: round(plain.median, 0),
  watched_items_per_s: round(watched.median, 0),
  stalled_items_per_s: round(stalled.median, 0),
  watched_ratio: round(watchedRatio.median),
  stalled_ratio: round(stalledRatio.median),
  stalled_ratio_min: round(stalledRatio.min),
  stalled_ratio_max: round(stalledRatio.max),
  stalled_cpu_ratio: round(stalledCpu.median),
  stalled_cpu_ratio_min: round(stalledCpu.min),
  stalled_cpu_ratio_max: round(stalledCpu.max),
  watched_cpu_ratio: round(watchedCpu.median),
});
