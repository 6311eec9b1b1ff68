// Runs the three video render scenarios in turn and prints how each ended (`npm start`).
import Table from 'cli-table3';
import { PIPELINE_META, runScenarios, type ScenarioRun } from './pipeline.ts';

const ms = (value: number) => `${Math.round(value)} ms`;
const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0);

function line({ scenario, result }: ScenarioRun): string {
  const why = result.error ? `  (${result.failedNode}: ${result.error.message})` : '';
  return `${scenario.name.padEnd(16)} ${result.status.padEnd(10)} ${ms(result.durationMs).padStart(7)}  run ${result.runId}${why}`;
}

console.log(`video-render v${PIPELINE_META.version} · team ${PIPELINE_META.team} · ${PIPELINE_META.region}\n`);
const runs = await runScenarios({ onFinish: (run) => console.log(line(run)) });

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

const unexpected = runs.filter((r) => r.result.status !== r.scenario.expect);
for (const { scenario, result } of unexpected) console.error(`${scenario.name}: expected ${scenario.expect}, got ${result.status}`);
if (unexpected.length > 0) process.exitCode = 1;
