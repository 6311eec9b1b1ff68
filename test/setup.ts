// The test run's global set-up (npm test passes it to `node --test
// --test-global-setup`): a private PostgreSQL cluster for the whole run when
// no SPANFLOW_TEST_DATABASE_URL is given and the server is installed (its URL
// reaches every test process through the environment), removed at the end.
// Under CI=true a missing component fails the run here, with what to install.

import { CI, missing } from './requirements.ts';
import { type PgCluster, startCluster } from './pg-cluster.ts';

let cluster: PgCluster | undefined;

export async function globalSetup(): Promise<void> {
  const lacking = (['postgres-server', 'prometheus', 'chromium'] as const).map(missing).filter((why) => why !== undefined);
  if (CI && lacking.length > 0) throw new Error(`CI=true, and the suite cannot run in full: ${lacking.join('; ')}`);
  for (const why of lacking) process.stderr.write(`spanflow tests: ${why}; the suites that need it are skipped\n`);
  if (!process.env.SPANFLOW_TEST_DATABASE_URL && missing('postgres-server') === undefined) {
    cluster = await startCluster();
    process.env.SPANFLOW_TEST_DATABASE_URL = cluster.url();
  }
}

export async function globalTeardown(): Promise<void> {
  cluster?.destroy();
}
