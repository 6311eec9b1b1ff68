// From the built package: `npm pack` (which builds dist/ first), the tarball
// unpacked into a fresh project's node_modules as npm would, and a pipeline with
// a worker step run from there, its trace crossing the thread, its types
// checked against the package's declarations. The package's dependencies are
// linked from this repo's node_modules: an offline `npm install` of the tarball
// would resolve their version ranges anew, against whatever the npm cache holds.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

const WORK = `import { trace } from '@opentelemetry/api';

export function square(input: { n: number }): { n: number } {
  return trace.getTracer('app').startActiveSpan('multiply', (span) => {
    span.end();
    return { n: input.n * input.n };
  });
}
`;

const MAIN = `import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { pipeline, stages } from 'spanflow';
import { defaultPool, workerTask } from 'spanflow/workers';
import type { square as squareFn } from './work.ts';

const exporter = new InMemorySpanExporter();
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }));

const square = workerTask<typeof squareFn>(new URL('./work.ts', import.meta.url), 'square');
const result = await pipeline<{ n: number }>('app').step('square', square).run({ n: 7 });
const batch = await stages<{ n: number }>('batch').stage('square', { tasks: square }).run([{ n: 2 }, { n: 3 }]);
const output: { n: number } | undefined = result.outputs.square as { n: number } | undefined;
await defaultPool().close();
const spans = exporter.getFinishedSpans();
const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
const parentOf = (name: string) => byId.get(spans.find((s) => s.name === name)?.parentSpanContext?.spanId ?? '')?.name;
console.log(JSON.stringify({
  status: result.status,
  output,
  results: batch.results,
  workers: import.meta.resolve('spanflow/workers'),
  engine: import.meta.resolve('spanflow'),
  parents: { multiply: parentOf('multiply'), worker: parentOf('worker square') },
}));
`;

// Every entry point's declarations, so the type-check reads them all.
const TYPES = `import type { MissingDependencyError, PipelineSnapshot } from 'spanflow';
import type { compactDashboard, detailedDashboard, fullDashboard, progressBar } from 'spanflow/console';
import type { startTelemetry, TelemetryConfigError } from 'spanflow/otel';
import type { openStore, Store } from 'spanflow/postgres';
import type { transfer, WorkerPool } from 'spanflow/workers';

export type Everything = [MissingDependencyError, PipelineSnapshot, typeof compactDashboard, typeof detailedDashboard, typeof fullDashboard, typeof progressBar,
  typeof startTelemetry, TelemetryConfigError, typeof openStore, Store, typeof transfer, WorkerPool];
`;

/** @types/node majors the declarations must type-check against: devDependencies @types/node22 and @types/node26 are npm aliases. */
const TYPES_NODE = { 22: '@types/node22', 24: '@types/node', 26: '@types/node26' } as const;

const TSCONFIG = {
  compilerOptions: {
    target: 'es2024',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    types: ['node'],
    strict: true,
    skipLibCheck: false,
    noEmit: true,
    allowImportingTsExtensions: true,
    verbatimModuleSyntax: true,
  },
  include: ['*.ts'],
};

/** Hang guards only, per hook and test: npm pack builds the package (tsc); each test runs node or tsc with a 60 s limit of its own. */
const BUILD_GUARD = { timeout: 180_000 };
const CHILD_GUARD = { timeout: 120_000 };

describe('the built package', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spanflow-package-'));
  const app = join(dir, 'app');
  after(() => rmSync(dir, { recursive: true, force: true }));

  before(async () => {
    await run(npm, ['pack', '--pack-destination', dir, '--loglevel', 'error'], { cwd: root, timeout: 150_000 });
    const tarball = readdirSync(dir).find((name) => name.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack made a tarball');
    const installed = join(app, 'node_modules', 'spanflow');
    mkdirSync(installed, { recursive: true });
    await run('tar', ['xzf', join(dir, tarball), '-C', installed, '--strip-components=1']);
    const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { dependencies?: object; peerDependencies: object };
    for (const name of [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies), '@types/node']) {
      const link = join(app, 'node_modules', name);
      mkdirSync(dirname(link), { recursive: true });
      symlinkSync(join(root, 'node_modules', name), link, 'dir');
    }
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    writeFileSync(join(app, 'work.ts'), WORK);
    writeFileSync(join(app, 'main.ts'), MAIN);
    writeFileSync(join(app, 'types.ts'), TYPES);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(TSCONFIG));
  }, BUILD_GUARD);

  test('holds the built JavaScript and declarations, not the TypeScript sources', () => {
    const installed = join(app, 'node_modules', 'spanflow');
    const top = readdirSync(installed).sort();
    assert.ok(top.includes('dist') && !top.includes('sdk') && !top.includes('worker-threads'), top.join(', '));
    const workers = readdirSync(join(installed, 'dist', 'worker-threads'));
    for (const file of ['index.js', 'index.d.ts', 'entry.js', 'pool.js']) assert.ok(workers.includes(file), file);
  });

  test('a pipeline with a worker step runs from node_modules, its worker spans under its task span', CHILD_GUARD, async () => {
    const { stdout } = await run(process.execPath, ['main.ts'], { cwd: app, timeout: 60_000 });
    const out = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
    assert.equal(out.status, 'succeeded');
    assert.deepEqual(out.output, { n: 49 });
    assert.deepEqual(out.results, [{ n: 4 }, { n: 9 }]);
    assert.match(out.workers, /\/app\/node_modules\/spanflow\/dist\/worker-threads\/index\.js$/);
    assert.match(out.engine, /\/app\/node_modules\/spanflow\/dist\/sdk\/index\.js$/);
    assert.deepEqual(out.parents, { multiply: 'worker square', worker: 'step square' });
  });

  test('its spanflow command runs from node_modules', CHILD_GUARD, async () => {
    const { stdout } = await run(process.execPath, [join(app, 'node_modules', 'spanflow', 'cli', 'spanflow.js'), '--help'], { cwd: app, timeout: 60_000 });
    assert.match(stdout, /Usage: spanflow/);
    for (const command of ['runs', 'show', 'timeline', 'compare', 'export', 'replay', 'stats', 'cleanup', 'graph', 'migrate']) assert.match(stdout, new RegExp(`\\n  ${command}\\b`));
  });

  test('its declarations type-check an app that uses every entry point, with skipLibCheck off, against @types/node 22, 24 and 26', CHILD_GUARD, async () => {
    const tsc = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'tsc.cmd' : 'tsc');
    const link = join(app, 'node_modules', '@types', 'node');
    for (const [major, alias] of Object.entries(TYPES_NODE)) {
      const types = join(root, 'node_modules', alias);
      const version = (JSON.parse(readFileSync(join(types, 'package.json'), 'utf8')) as { version: string }).version;
      assert.equal(version.split('.')[0], major, `${alias} is @types/node ${major}`);
      unlinkSync(link);
      symlinkSync(types, link, 'dir');
      const { stdout } = await run(tsc, ['-p', app], { cwd: app, timeout: 60_000 }).catch((error: { stdout?: string }) => {
        assert.fail(`tsc found errors against @types/node ${version}:\n${error.stdout ?? String(error)}`);
      });
      assert.equal(stdout.trim(), '', `@types/node ${version}`);
    }
  });
});
