// The ETL example (`node examples/etl/main.ts`): 10,000 orders through fetch -> parse ->
// enrich -> save, with the detailed console dashboard. On a terminal the dashboard is redrawn
// in place; piped or in CI it prints plain progress lines.
import '../../exporters/index.ts';
import { runEtl } from './pipeline.ts';

const ITEMS = 10_000;

const result = await runEtl({ items: ITEMS, dashboard: 'detailed' });

const done = result.completed + result.failed + result.skipped;
const perSecond = result.durationMs > 0 ? (done / result.durationMs) * 1000 : 0;
console.log(
  [
    `etl ${result.status}`,
    `${result.fed.toLocaleString('en-US')} fed`,
    `${result.completed.toLocaleString('en-US')} completed`,
    `${result.failed.toLocaleString('en-US')} failed`,
    `${result.skipped.toLocaleString('en-US')} skipped`,
    `${(result.durationMs / 1000).toFixed(2)} s`,
    `${Math.round(perSecond).toLocaleString('en-US')} items/s`,
    `run ${result.runId}`,
  ].join(' | '),
);
for (const failure of result.failures.slice(0, 5)) {
  console.log(`  failed ${failure.itemId} in ${failure.stage}/${failure.task} after ${failure.attempts} attempts: ${failure.error.type}: ${failure.error.message}`);
}
if (result.failures.length > 5) console.log(`  ... and ${result.failures.length - 5} more`);
console.log(`table warehouse.orders: ${result.table.size.toLocaleString('en-US')} rows`);

// Failed records are expected (the simulated customer service drops a few for good); anything
// else that keeps items from being accounted for is not.
if (result.status === 'cancelled' || done !== ITEMS || result.table.size !== result.completed) process.exitCode = 1;
