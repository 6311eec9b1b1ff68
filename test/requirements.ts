// What the suite needs from the machine (PostgreSQL's server, Prometheus) and
// what happens when a piece is missing: the suites that need it are skipped
// with one line that says what is missing and how to get it, except under
// CI=true, where a missing piece fails the run (test/setup.ts).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { POSTGRES_HOWTO, postgresBin } from './pg-cluster.ts';

/** True under CI (CI=true or CI=1): nothing may be skipped for want of a component. */
export const CI = process.env.CI === 'true' || process.env.CI === '1';

/** The Prometheus binary: SPANFLOW_PROMETHEUS, else `prometheus` on PATH; undefined when there is none (or the one named is not there). */
export function prometheusBin(): string | undefined {
  const given = process.env.SPANFLOW_PROMETHEUS;
  if (given) return existsSync(given) ? given : undefined;
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, 'prometheus'))) return join(dir, 'prometheus');
  return undefined;
}

export const PROMETHEUS_HOWTO = "install Prometheus (Debian: apt-get install prometheus; `bash .ci/run` does), or point SPANFLOW_PROMETHEUS at a prometheus binary";

/** Why a component is missing, or undefined when it is here. */
export function missing(component: 'postgres' | 'postgres-server' | 'prometheus'): string | undefined {
  switch (component) {
    case 'postgres':
      // A database the tests may use: one given, or a private cluster they can start.
      if (process.env.SPANFLOW_TEST_DATABASE_URL || postgresBin()) return undefined;
      return `PostgreSQL is not installed and SPANFLOW_TEST_DATABASE_URL is not set: ${POSTGRES_HOWTO}`;
    case 'postgres-server':
      // Clusters the tests start, stop and break themselves: the server's binaries are needed.
      return postgresBin() ? undefined : `PostgreSQL's server (initdb, pg_ctl) is not installed: ${POSTGRES_HOWTO}`;
    case 'prometheus':
      return prometheusBin() ? undefined : `Prometheus is not installed: ${PROMETHEUS_HOWTO}`;
  }
}

/**
 * The `skip` option for a suite that needs `component`: false when it is
 * here (or under CI, where the run must fail instead), else the reason,
 * which the test runner prints on the skipped suite's line.
 */
export function unless(component: 'postgres' | 'postgres-server' | 'prometheus'): string | false {
  const why = missing(component);
  return why === undefined || CI ? false : `skipped: ${why}`;
}
