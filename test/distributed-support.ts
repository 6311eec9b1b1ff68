// Remote workers for the distributed tests: `spanflow worker` child processes
// (the CLI, as users start them) on a pg-boss schema of the test's own, and the
// jobs left in it.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { RENDER_QUEUE } from '../compose/demo/round.ts';
import { createDispatcher, type Dispatcher, startWorker } from '../distributed/index.ts';
import { missing } from './requirements.ts';
import { TEST_DATABASE_URL } from './store-support.ts';

export { NEEDS_POSTGRES, TEST_DATABASE_URL } from './store-support.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(root, 'cli', 'spanflow.js');

export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything it printed. */
  output(): string;
  /** Resolves with its exit code (or signal) once it exited. */
  readonly exited: Promise<number | NodeJS.Signals | null>;
}

/** Starts `spanflow worker` on `queue`; resolves when it says it is ready. */
export function startWorkerProcess(queue: string, schema: string, options: { concurrency?: number; env?: NodeJS.ProcessEnv } = {}): Promise<WorkerProcess> {
  const args = [CLI, 'worker', '--database-url', TEST_DATABASE_URL, '--queue', queue, '--queue-schema', schema, '--concurrency', String(options.concurrency ?? 1), '--poll-interval', '500', '--grace', '5000', '--root', root];
  // The test runner's variables and the test's own OpenTelemetry set-up stay here: the worker gets only the given ones.
  const inherited = Object.entries(process.env).filter(([key]) => !key.startsWith('NODE_TEST') && !key.startsWith('OTEL_'));
  const env = { ...Object.fromEntries(inherited), ...options.env };
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('; ready')) resolve({ child, pid: child.pid as number, output: () => output, exited });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    exited.then((code) => reject(new Error(`spanflow worker exited (${code}) before it was ready:\n${output}`)));
  });
}

/** Stops a worker as a service manager would (SIGTERM) and waits for it to exit. */
export async function stopWorkerProcess(worker: WorkerProcess): Promise<number | NodeJS.Signals | null> {
  if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGTERM');
  return worker.exited;
}

/** Jobs of the schema by state: `{ completed: 3, cancelled: 1 }`. */
export async function jobStates(schema: string): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ state: string; n: number }>(`SELECT state, count(*)::int AS n FROM "${schema}".job GROUP BY state`);
    return Object.fromEntries(rows.map((row) => [row.state, row.n]));
  } finally {
    await client.end();
  }
}

/** Drops the test's pg-boss schema. */
export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** Resolves with the file's text once it exists (a worker wrote it). The test's own time limit is the hang guard. */
export async function fileWritten(path: string): Promise<string> {
  while (!existsSync(path)) await new Promise((resolve) => setTimeout(resolve, 20));
  // Written in one call: an empty read means the write is under way.
  for (;;) {
    const text = readFileSync(path, 'utf8');
    if (text !== '') return text;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Resolves once `check` holds (polled), for what arrives from another process at its own pace. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>): Promise<T> {
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A worker of the demo's render queue in this process and a dispatcher that
 * sends to it, on a pg-boss schema of their own: for tests that need the
 * distributed queue metrics (demoRound({ remote })). Undefined without Postgres.
 */
export async function renderQueue(schema: string): Promise<{ dispatcher: Dispatcher; close(): Promise<void> } | undefined> {
  if (missing('postgres') !== undefined) return undefined;
  await dropSchema(schema);
  const worker = await startWorker({ connectionString: TEST_DATABASE_URL, schema, queue: RENDER_QUEUE, concurrency: 4, root });
  const dispatcher = createDispatcher({ connectionString: TEST_DATABASE_URL, schema });
  return {
    dispatcher,
    close: async () => {
      await dispatcher.close();
      await worker.stop();
      await dropSchema(schema);
    },
  };
}
