// Runs kept in a database: with no URL, an embedded one in .spanflow/db (SPANFLOW_DATA_DIR
// moves it); SPANFLOW_DATABASE_URL (or openStore({ url })) names a Postgres server.
import { pipeline } from '../../sdk/index.ts';
import { openStore } from '../../exporters/postgres/index.ts';

const store = await openStore();
const nightly = pipeline<{ rows: number }>('nightly-export', { persist: store })
  .step('extract', ({ state }) => {
    state.rows = 1_250;
  }, { to: 'load' })
  .step('load', ({ state }) => `${state.rows} rows loaded`);

const result = await nightly.run({ rows: 0 });
await store.flush(); // the rows are written in batches that never hold the pipeline up
const stored = await store.getRun(result.runId);
console.log(result.status, result.outputs.load, `· stored: ${stored?.status}, ${stored?.steps.length} step attempts · npx spanflow show ${result.runId.slice(0, 8)}`);
await store.close(); // before exit: writes what is left, within closeTimeoutMs
