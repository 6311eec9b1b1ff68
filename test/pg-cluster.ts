// Private, throwaway PostgreSQL clusters for the tests: initdb into a temporary
// folder, a free loopback port, password authentication over TCP (so a wrong
// password is refused as on a real server), run as the `postgres` OS user when
// the tests run as root (initdb refuses root). Never the machine's shared
// cluster: tests may stop, restart or break these at will.

import { type SpawnOptions, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './support.ts';

/** The role and database the tests use, as `.ci/run` made them on a shared server before. */
export const TEST_ROLE = 'spanflow';
export const TEST_PASSWORD = 'spanflow';
export const TEST_DATABASE = 'spanflow_test';
const SUPERUSER = 'postgres';
const SUPERUSER_PASSWORD = 'postgres-superuser';

/** The folder holding initdb, pg_ctl and postgres: SPANFLOW_PG_BIN, else PATH, then Debian's /usr/lib/postgresql/<newest>/bin. */
export function postgresBin(): string | undefined {
  const given = process.env.SPANFLOW_PG_BIN;
  // A folder given is the only one looked in (SPANFLOW_PG_BIN=/nowhere: as if PostgreSQL were not installed).
  if (given) return existsSync(join(given, 'initdb')) && existsSync(join(given, 'pg_ctl')) ? given : undefined;
  const candidates: string[] = [];
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir) candidates.push(dir);
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const version of versions) candidates.push(join(debian, version, 'bin'));
  }
  candidates.push('/usr/local/pgsql/bin');
  return candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')));
}

/** How to get PostgreSQL's server, for the line a skipped suite prints. */
export const POSTGRES_HOWTO =
  'install PostgreSQL\'s server (Debian: apt-get install postgresql; `bash .ci/run` does), or point SPANFLOW_TEST_DATABASE_URL at a database';

/** The OS user the server runs as: `postgres` when we are root, else ourselves. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) {
    throw new Error('the tests run as root, and initdb refuses root: create a `postgres` OS user (Debian\'s postgresql package does)');
  }
  return { uid: Number(uid), gid: Number(gid) };
}

function run(file: string, args: string[], options: SpawnOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${file} ${args.join(' ')} exited with ${code}: ${output.trim()}`))));
  });
}

export interface PgCluster {
  readonly port: number;
  readonly dataDir: string;
  /** A URL on this cluster; by default the test role on the test database. */
  url(options?: { database?: string; user?: string; password?: string }): string;
  /** The superuser's URL (on database `postgres`). */
  readonly adminUrl: string;
  /** Runs SQL as the superuser on `database` (default the test database). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[], database?: string): Promise<R[]>;
  /** Starts the server again after `stop()` (same port, same data). */
  start(): Promise<void>;
  /** Stops the server: `fast` ends sessions and shuts down cleanly; `immediate` is a crash (recovery on next start). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Stops the server (if it runs) and removes its folder. Idempotent. */
  destroy(): void;
}

/** Live clusters of this process, removed on exit if nothing destroyed them. */
const live = new Set<PgCluster>();
let exitHook = false;

export interface ClusterOptions {
  /**
   * Keep PostgreSQL's default durability (fsync, synchronous commit, full page
   * writes), as a real server has it: for benchmarks. Default false: tests
   * need no crash safety from a throwaway cluster, and run faster without.
   */
  readonly durable?: boolean;
}

/**
 * Starts a new cluster with the test role and database in it. Throws, naming
 * what to install, when PostgreSQL's server binaries are not here.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<PgCluster> {
  const bin = postgresBin();
  if (!bin) throw new Error(`PostgreSQL's server binaries (initdb, pg_ctl) are not installed: ${POSTGRES_HOWTO}`);
  const user = serverUser();
  const as: SpawnOptions = user ? { uid: user.uid, gid: user.gid, env: { ...process.env, LC_ALL: 'C' } } : { env: { ...process.env, LC_ALL: 'C' } };
  const root = mkdtempSync(join(tmpdir(), 'spanflow-pg-'));
  if (user) chownSync(root, user.uid, user.gid);
  const dataDir = join(root, 'data');
  const pwfile = join(root, 'superuser-password');
  writeFileSync(pwfile, SUPERUSER_PASSWORD);
  if (user) chownSync(pwfile, user.uid, user.gid);
  await run(
    join(bin, 'initdb'),
    ['-D', dataDir, '-U', SUPERUSER, `--pwfile=${pwfile}`, '--auth-local=trust', '--auth-host=scram-sha-256', '--encoding=UTF8', '--no-sync'],
    as,
  );
  const port = await freePort();
  // Loopback only, sockets in our own folder; unless durable, no fsync (a test cluster need not survive a power cut).
  const fast = options.durable ? '' : ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off';
  const serverOptions = `-p ${port} -c listen_addresses=127.0.0.1 -k ${root} -c max_connections=200${fast}`;
  const pgCtl = (args: string[]) => run(join(bin, 'pg_ctl'), ['-D', dataDir, '-w', '-t', '60', ...args], as);
  let running = false;
  const start = async () => {
    await pgCtl(['-o', serverOptions, '-l', join(root, 'server.log'), 'start']);
    running = true;
  };
  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    if (!running) return;
    await pgCtl(['-m', mode, 'stop']);
    running = false;
  };
  const url = ({ database = TEST_DATABASE, user: role = TEST_ROLE, password = TEST_PASSWORD } = {}) =>
    `postgres://${encodeURIComponent(role)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  const adminUrl = url({ database: 'postgres', user: SUPERUSER, password: SUPERUSER_PASSWORD });
  const query = async <R extends pg.QueryResultRow>(text: string, values: unknown[] = [], database = TEST_DATABASE): Promise<R[]> => {
    const client = new pg.Client({ connectionString: url({ database, user: SUPERUSER, password: SUPERUSER_PASSWORD }) });
    await client.connect();
    try {
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end();
    }
  };
  const cluster: PgCluster = {
    port,
    dataDir,
    url,
    adminUrl,
    query,
    start,
    stop,
    destroy() {
      if (!live.delete(cluster)) return;
      // Synchronous, so it also runs from an 'exit' handler.
      if (running) spawnSync(join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], { ...as, stdio: 'ignore' });
      running = false;
      rmSync(root, { recursive: true, force: true });
    },
  };
  live.add(cluster);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of [...live]) c.destroy();
    });
  }
  try {
    await start();
    await query(`create role ${TEST_ROLE} login password '${TEST_PASSWORD}'`, [], 'postgres');
    await query(`create database ${TEST_DATABASE} owner ${TEST_ROLE}`, [], 'postgres');
  } catch (error) {
    cluster.destroy();
    throw error;
  }
  return cluster;
}
