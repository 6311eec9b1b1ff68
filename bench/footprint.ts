// What `npm start` costs a machine: the showcase's process (what `npm start` runs after its Node check) on the
// embedded default store and with a Postgres URL (a private cluster with PostgreSQL's default durability, or
// SPANFLOW_BENCH_DATABASE_URL), each its peak RSS, CPU seconds (all threads) and longest main-thread event-loop
// stall (monitorEventLoopDelay, preloaded, printed at exit); and the wall time of a CLI command (`spanflow runs`)
// on the embedded store the run before wrote. Each embedded run starts from an empty folder, as a first
// `npm start` does. Five rounds, the cases interleaved; the median with min–max.
//   node bench/footprint.ts
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type PgCluster, startCluster } from '../test/pg-cluster.ts';
import { fmtSpread, interleaved, printJson, printTable, round, type Spread, spread } from './report.ts';

const ROUNDS = 5;
const root = fileURLToPath(new URL('..', import.meta.url));
const preload = fileURLToPath(new URL('./footprint-preload.ts', import.meta.url));
const showcase = join(root, 'examples', 'video-render', 'main.ts');
const cli = join(root, 'cli', 'spanflow.js');
const work = mkdtempSync(join(tmpdir(), 'spanflow-footprint-'));
const cluster: PgCluster | undefined = process.env.SPANFLOW_BENCH_DATABASE_URL ? undefined : await startCluster({ durable: true });
const databaseUrl = process.env.SPANFLOW_BENCH_DATABASE_URL ?? (cluster as PgCluster).url();

/** The environment without a database named, so the store is the embedded one unless `extra` names one. */
function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  const { SPANFLOW_DATABASE_URL: _url, DATABASE_URL: _other, SPANFLOW_DATA_DIR: _dir, NODE_OPTIONS: _options, ...rest } = process.env;
  return { ...rest, ...extra };
}

/** Runs node with `args`, its output discarded; resolves with its wall time in seconds; rejects on a failure, with its output. */
function node(args: string[], environment: NodeJS.ProcessEnv): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: work, env: environment, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve((performance.now() - started) / 1000);
      else reject(new Error(`node ${args.join(' ')} exited with ${code}:\n${output.trim()}`));
    });
  });
}

interface Footprint {
  readonly rssMb: number;
  readonly cpuS: number;
  readonly maxStallMs: number;
}

const footprints = { embedded: [] as Footprint[], postgres: [] as Footprint[] };
let lastFolder: string | undefined;
let runs = 0;

/** One `npm start` (the showcase under the preload) with `extra` in its environment. */
async function showcaseRun(kind: keyof typeof footprints, extra: Record<string, string>): Promise<number> {
  const out = join(work, `footprint-${runs++}.json`);
  const wall = await node(['--import', preload, showcase], env({ ...extra, SPANFLOW_FOOTPRINT_OUT: out }));
  footprints[kind].push(JSON.parse(readFileSync(out, 'utf8')) as Footprint);
  return wall;
}

const walls = await interleaved(
  {
    embedded: () => {
      lastFolder = join(work, `db-${runs}`);
      return showcaseRun('embedded', { SPANFLOW_DATA_DIR: lastFolder });
    },
    postgres: () => showcaseRun('postgres', { SPANFLOW_DATABASE_URL: databaseUrl }),
    // The embedded store the latest embedded run wrote (the first round's order puts that run first).
    cli: () => node([cli, 'runs'], env({ SPANFLOW_DATA_DIR: lastFolder ?? join(work, 'none') })),
  },
  ROUNDS,
);
cluster?.destroy();
rmSync(work, { recursive: true, force: true });

const of = (kind: keyof typeof footprints, key: keyof Footprint): Spread => spread(footprints[kind].map((f) => f[key]));
const embedded = { rss: of('embedded', 'rssMb'), cpu: of('embedded', 'cpuS'), stall: of('embedded', 'maxStallMs'), wall: spread(walls.embedded) };
const postgres = { rss: of('postgres', 'rssMb'), cpu: of('postgres', 'cpuS'), stall: of('postgres', 'maxStallMs'), wall: spread(walls.postgres) };
const cliRuns = spread(walls.cli);

printTable(
  `npm start (the video-render showcase's process), median (min–max) of ${ROUNDS} interleaved runs`,
  ['store', 'peak RSS MiB', 'CPU s', 'longest stall ms', 'wall s'],
  [
    ['embedded (fresh folder)', fmtSpread(embedded.rss, 0), fmtSpread(embedded.cpu), fmtSpread(embedded.stall, 0), fmtSpread(embedded.wall)],
    ['postgres:// URL', fmtSpread(postgres.rss, 0), fmtSpread(postgres.cpu), fmtSpread(postgres.stall, 0), fmtSpread(postgres.wall)],
  ],
);
printTable('', ['CLI command', 'wall s'], [['spanflow runs (embedded store)', fmtSpread(cliRuns)]]);
printJson('footprint', {
  embedded_rss_mb: round(embedded.rss.median, 1),
  embedded_cpu_s: round(embedded.cpu.median, 2),
  embedded_max_stall_ms: round(embedded.stall.median, 1),
  cli_runs_s: round(cliRuns.median, 2),
  postgres_rss_mb: round(postgres.rss.median, 1),
  postgres_cpu_s: round(postgres.cpu.median, 2),
  postgres_max_stall_ms: round(postgres.stall.median, 1),
});
