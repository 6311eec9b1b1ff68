// Runs the three video render scenarios in turn and prints how each ended (`npm start`).
// Each run is stored (an embedded SQLite database in .spanflow/db, or SPANFLOW_DATABASE_URL): `npx spanflow runs` lists them.
import Table from 'cli-table3';
import { openStore, type Store } from '../../exporters/postgres/index.ts';
import { PIPELINE_META, runScenarios, type ScenarioRun } from './pipeline.ts';

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
// Stored runs are durable: `npx spanflow retry <run> --module examples/video-render/pipeline.ts` carries a failed one on.
const runs = await runScenarios({ persist: store, durable: store !== undefined, onFinish: (run) => console.log(line(run)) });
await store?.close();

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

const unexpected = runs.filter((r) => r.result.status !== r.scenario.expect);
for (const { scenario, result } of unexpected) console.error(`${scenario.name}: expected ${scenario.expect}, got ${result.status}`);
if (unexpected.length > 0) process.exitCode = 1;
