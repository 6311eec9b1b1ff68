// What the suite needs from the machine (PostgreSQL's server, Prometheus, Chromium) and
// what happens when a piece is missing: the suites that need it are skipped
// with one line that says what is missing and how to get it, except under
// CI=true, where a missing piece fails the run (test/setup.ts).

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
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

/** Chromium for the browser test: SPANFLOW_CHROMIUM, else Debian's (`chromium` on PATH); undefined when there is none. */
export function chromiumBin(): string | undefined {
  const given = process.env.SPANFLOW_CHROMIUM;
  if (given) return existsSync(given) ? given : undefined;
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, 'chromium'))) return join(dir, 'chromium');
  return existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined;
}

export const CHROMIUM_HOWTO = "install Chromium (Debian: apt-get install chromium; `bash .ci/run` does), or point SPANFLOW_CHROMIUM at a chromium binary";

/** The Node majors the built package is tested on besides this one, each installed as .ci/run does. */
export const OTHER_NODES = { node22: 22, node26: 26 } as const;

/** The `node` binary of an installed major: ~/.cache/node<major> (`npm install --prefix ~/.cache/node22 node@22`), or undefined. */
export function nodeBin(component: keyof typeof OTHER_NODES): string | undefined {
  const bin = join(homedir(), '.cache', component, 'node_modules', '.bin', 'node');
  return existsSync(bin) ? bin : undefined;
}

let registry: string | undefined | null = null;
/** Why the npm registry cannot be reached (`npm ping`), or undefined; asked once per process. */
function registryProblem(): string | undefined {
  if (registry !== null) return registry;
  try {
    execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['ping', '--loglevel', 'error'], { stdio: 'ignore', timeout: 30_000 });
    registry = undefined;
  } catch {
    registry = 'the npm registry is unreachable (`npm ping` failed): the test installs the package and its peers from it';
  }
  return registry;
}

export type Component = 'postgres' | 'postgres-server' | 'prometheus' | 'chromium' | 'npm-registry' | keyof typeof OTHER_NODES;

/** Why a component is missing, or undefined when it is here. */
export function missing(component: Component): string | undefined {
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
    case 'chromium':
      return chromiumBin() ? undefined : `Chromium is not installed: ${CHROMIUM_HOWTO}`;
    case 'npm-registry':
      return registryProblem();
    case 'node22':
    case 'node26':
      return nodeBin(component)
        ? undefined
        : `Node ${OTHER_NODES[component]} is not installed in ~/.cache/${component}: npm install --prefix ~/.cache/${component} node@${OTHER_NODES[component]} (\`bash .ci/run\` does)`;
  }
}

/**
 * The `skip` option for a suite that needs `component`: false when it is
 * here (or under CI, where the run must fail instead), else the reason,
 * which the test runner prints on the skipped suite's line.
 */
export function unless(component: Component): string | false {
  const why = missing(component);
  return why === undefined || CI ? false : `skipped: ${why}`;
}
