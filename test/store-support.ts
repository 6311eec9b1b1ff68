// Helpers for the store tests: the test database (a real PostgreSQL: the one
// SPANFLOW_TEST_DATABASE_URL names, else a private cluster that test/setup.ts
// starts for the whole run, or this process starts when a file runs alone),
// a fresh schema per test file, embedded folders, and both engines for the
// suites that run on each.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { runScenarios, type ScenarioRun } from '../examples/video-render/pipeline.ts';
import { type EngineKind, openStore, redact, type Store, type StoreOptions } from '../exporters/postgres/index.ts';
import type { SpanflowEvent } from '../sdk/index.ts';
import { startCluster } from './pg-cluster.ts';
import { missing, unless } from './requirements.ts';

import { tempFolder } from './support.ts';

export { captureWarnings, tempFolder } from './support.ts';

/** The test database's URL: given, or a private cluster's (started here when this file runs without test/setup.ts). */
async function testDatabaseUrl(): Promise<string> {
  if (process.env.SPANFLOW_TEST_DATABASE_URL) return process.env.SPANFLOW_TEST_DATABASE_URL;
  if (missing('postgres-server') !== undefined) return 'postgres://spanflow:spanflow@127.0.0.1:5432/spanflow_test';
  const cluster = await startCluster(); // removed when this process exits
  process.env.SPANFLOW_TEST_DATABASE_URL = cluster.url();
  return cluster.url();
}

export const TEST_DATABASE_URL = await testDatabaseUrl();

/** `skip` for suites on the test database: the line saying what is missing, or false (see requirements.ts). */
export const NEEDS_POSTGRES = unless('postgres');

/** Runs SQL on the test database directly (not through a store). Fails, saying what to do, when it is unreachable. */
export async function adminQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    assert.fail(
      `cannot reach the test database at ${redact(TEST_DATABASE_URL)} (${error instanceof Error ? error.message : String(error)}). ` +
        (missing('postgres') ?? 'Is the server SPANFLOW_TEST_DATABASE_URL names up, with its role and database?'),
    );
  }
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** A store on the test database in a schema of its own, emptied first (each test file names its own, so files run in parallel). */
export async function testStore(schema: string, options: StoreOptions = {}): Promise<Store> {
  await adminQuery(`drop schema if exists "${schema}" cascade`);
  return openStore({ url: TEST_DATABASE_URL, schema, ...options });
}

/** Embedded folders made by this process, removed on exit. */
const folders: { cleanup: () => void }[] = [];
process.once('exit', () => {
  for (const folder of folders) folder.cleanup();
});

/** A store on the embedded database in a new folder of its own (removed when this process exits). */
export async function embeddedStore(schema = 'spanflow', options: StoreOptions = {}): Promise<Store> {
  const folder = tempFolder('store');
  folders.push(folder);
  return openStore({ dataDir: folder.path, schema, ...options });
}

/** An engine a suite runs on: a new, empty store on it, or why the suite is skipped there. */
export interface TestEngine {
  readonly kind: EngineKind;
  /** For test names. */
  readonly name: string;
  readonly skip: string | false;
  /** A new, empty store in `schema` (a schema of its own on PostgreSQL, a folder of its own embedded). */
  readonly open: (schema: string, options?: StoreOptions) => Promise<Store>;
}

/** Both engines: PostgreSQL (the test database) and the embedded SQLite database. */
export const ENGINES: readonly TestEngine[] = [
  { kind: 'postgres', name: 'PostgreSQL', skip: NEEDS_POSTGRES, open: testStore },
  { kind: 'sqlite', name: 'the embedded database (SQLite)', skip: false, open: embeddedStore },
];

const DOOMED = fileURLToPath(new URL('./fixtures/store-crash-child.ts', import.meta.url));

/**
 * Starts a process that persists a run (into a Postgres URL or an embedded folder, and a schema) and hangs
 * in its second step; resolves once the run is stored and running, with the process and the run id.
 */
export async function startDoomedRun(where: string, schema: string): Promise<{ child: ChildProcess; runId: string }> {
  const child = spawn(process.execPath, [DOOMED, where, schema], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout?.setEncoding('utf8');
  let out = '';
  const runId = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (chunk: string) => {
      out += chunk;
      const found = /running ([0-9a-f-]{36})/.exec(out);
      if (found?.[1]) resolve(found[1]);
    });
    child.once('exit', (code) => reject(new Error(`the child exited (${code}) before its run started: ${out}`)));
  });
  return { child, runId };
}

/** Starts a doomed run (startDoomedRun) and kills its process with SIGKILL mid-run. Returns the run id. */
export async function killMidRun(where: string, schema: string): Promise<string> {
  const { child, runId } = await startDoomedRun(where, schema);
  child.kill('SIGKILL');
  await once(child, 'exit');
  return runId;
}

export interface Showcase {
  readonly runs: readonly ScenarioRun[];
  /** Every event of each run (sub-pipeline runs included), by run id. */
  readonly events: ReadonlyMap<string, SpanflowEvent[]>;
  /** The run id of a scenario by name. */
  readonly id: (scenario: 'quick-promo' | 'feature-film' | 'deadline-crunch') => string;
}

/** Runs the showcase's three scenarios into `store` and writes them out. */
export async function persistShowcase(store: Store): Promise<Showcase> {
  const events = new Map<string, SpanflowEvent[]>();
  const runs = await runScenarios({
    persist: store,
    onEvent: (event) => {
      const list = events.get(event.runId) ?? [];
      list.push(event);
      events.set(event.runId, list);
    },
  });
  await store.flush();
  const id = (name: string) => {
    const run = runs.find((r) => r.scenario.name === name);
    if (!run) throw new Error(`no scenario ${name}`);
    return run.result.runId;
  };
  return { runs, events, id };
}

/** An event as JSON keeps it (undefined fields gone), without its time (stored to the microsecond), for comparing with what a store gives back. */
export const plain = ({ time: _time, ...event }: SpanflowEvent): unknown => JSON.parse(JSON.stringify(event));
