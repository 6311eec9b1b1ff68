// What watching a batch live costs it: a 100,000-item stage batch (3 stages ×
// 10 workers of no-op async tasks) run plain, watched (observe: live, one SSE
// reader that reads), and stalled (observe: live, one SSE reader that never
// reads a byte). The server is in the same process, as it is in an app. The
// three are sampled in turns (interleaved), and each ratio is taken per round.
//
//   node bench/live.ts

import { createServer } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
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

/** A reader of the batch's events on a raw socket: one that reads everything, or one that never reads. */
async function reader(runId: string, reads: boolean): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.write(`GET /runs/${runId}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
  if (reads) socket.on('data', () => {});
  else socket.pause();
  // Measure from when the handler has the reader, not before.
  while (!live.clients().some((c) => c.runId === runId)) await new Promise((resolve) => setTimeout(resolve, 1));
  return socket;
}

async function sample(mode: 'plain' | 'watched' | 'stalled'): Promise<number> {
  const batch = batchPipeline(mode !== 'plain').start({ expected: ITEMS });
  const socket = mode === 'plain' ? undefined : await reader(batch.runId, mode === 'watched');
  const started = performance.now();
  await batch.feed(numbers(ITEMS));
  const result = await batch.join();
  const ms = performance.now() - started;
  socket?.destroy();
  if (result.completed !== ITEMS) throw new Error(`${mode}: ${result.completed} of ${ITEMS} items completed`);
  return ITEMS / (ms / 1000);
}

const cases = { plain: () => sample('plain'), watched: () => sample('watched'), stalled: () => sample('stalled') };
await interleaved(cases, WARMUP);
const samples = await interleaved(cases, ROUNDS);
server.closeAllConnections();
server.close();

const plain = spread(samples.plain);
const watched = spread(samples.watched);
const stalled = spread(samples.stalled);
const watchedRatio = spread(ratios(samples.watched, samples.plain));
const stalledRatio = spread(ratios(samples.stalled, samples.plain));
printTable(
  `${ITEMS.toLocaleString('en')}-item batch, 3 stages × 10 workers, ${ROUNDS} rounds in turns: median (min–max)`,
  ['case', 'items/s', 'ratio to plain (per round)'],
  [
    ['plain (no live view)', fmtSpread(plain, 0), '1'],
    ['watched (one reader reading)', fmtSpread(watched, 0), fmtSpread(watchedRatio, 3)],
    ['stalled (one reader never reading)', fmtSpread(stalled, 0), fmtSpread(stalledRatio, 3)],
  ],
);
console.log(`goal: a reader that never reads costs the batch at most 5% (stalled ratio ≥ 0.95): ${stalledRatio.median >= 0.95 ? 'met' : 'NOT met'}`);
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
});
