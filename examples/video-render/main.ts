// Runs the three video render scenarios in turn and prints how each ended (`npm start`).
// Each run is stored (an embedded SQLite database in .spanflow/db, or SPANFLOW_DATABASE_URL): `npx spanflow runs` lists them.
// With --serve (`npm start -- --serve`, or --serve=<port>), the runs are shown live at the URL it prints, until Ctrl-C.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Table from 'cli-table3';
import { createLiveHandler, LiveRuns } from '../../exporters/http/index.ts';
import { openStore, type Store } from '../../exporters/postgres/index.ts';
import { PIPELINE_META, runScenarios, type ScenarioRun } from './pipeline.ts';

const serveFlag = process.argv.slice(2).find((arg) => arg === '--serve' || arg.startsWith('--serve='));
const port = serveFlag?.startsWith('--serve=') ? Number(serveFlag.slice('--serve='.length)) : 4319;
if (!(Number.isInteger(port) && port >= 0 && port <= 65_535)) {
  console.error(`--serve=${serveFlag?.slice('--serve='.length)}: give a port, a whole number from 0 to 65535 (0 picks a free one), or --serve alone for 4319`);
  process.exit(2);
}

const ms = (value: number) => `${Math.round(value)} ms`;
const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0);

function line({ scenario, result }: ScenarioRun): string {
  const why = result.error ? `  (${result.failedNode}: ${result.error.message})` : '';
  return `${scenario.name.padEnd(16)} ${result.status.padEnd(10)} ${ms(result.durationMs).padStart(7)}  run ${result.runId}${why}`;
}

console.log(`video-render v${PIPELINE_META.version} · team ${PIPELINE_META.team} · ${PIPELINE_META.region}\n`);
// The runs go on without a store if it cannot be opened (a folder another process holds, a server that is down).
const store: Store | undefined = await openStore().catch((error: unknown) => {
  console.error(`runs not stored: ${error instanceof Error ? error.message : String(error)}`);
  return undefined;
});
// The live view: this process's runs as they run (observe: live), and the store's older ones beside them.
const live = serveFlag ? new LiveRuns() : undefined;
const server = live && createServer(createLiveHandler({ live, store }));
if (server) {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  console.log(`watch the runs live: http://127.0.0.1:${(server.address() as AddressInfo).port}/\n`);
}
// Stored runs are durable: `npx spanflow retry <run> --module examples/video-render/pipeline.ts` carries a failed one on.
const runs = await runScenarios({ persist: store, durable: store !== undefined, observe: live, onFinish: (run) => console.log(line(run)) });

const table = new Table({
  head: ['scenario', 'status', 'duration', 'attempts', 'retries', 'tokens', 'run id'],
  colAligns: ['left', 'left', 'right', 'right', 'right', 'right', 'left'],
  style: { head: [], border: [], compact: true },
});
for (const { scenario, result, retries } of runs) {
  const attempts = sum(Object.values(result.metrics.steps).map((s) => s.attempts));
  const tokens = sum(Object.values(result.metrics.tokens));
  table.push([scenario.name, result.status, ms(result.durationMs), attempts, retries, tokens, result.runId]);
}
console.log(`\n${table.toString()}`);
if (store) console.log(`runs stored in ${store.location} · npx spanflow runs`);

if (server) {
  console.log('\nthe live view keeps serving these runs: Ctrl-C stops');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  server.closeAllConnections();
  server.close();
}
await store?.close();

const unexpected = runs.filter((r) => r.result.status !== r.scenario.expect);
for (const { scenario, result } of unexpected) console.error(`${scenario.name}: expected ${scenario.expect}, got ${result.status}`);
if (unexpected.length > 0) process.exitCode = 1;
