// The package as a new user gets it: `npm pack`'s tarball installed from the
// npm registry into a fresh folder with @opentelemetry/api alone. The install
// is small (what `npm ls` lists), a graph and a stage pipeline run on Node 22,
// 24 and 26, every entry point imports with its optional peers absent and fails
// at first use with a MissingDependencyError naming the install command (the
// CLI with one line), and installing what spanflow/postgres's error names makes it work.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { nodeBin, OTHER_NODES, unless } from './requirements.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const QUIET = ['--no-audit', '--no-fund', '--loglevel', 'error'];

// Plain JavaScript: Node strips types only outside node_modules, and this is the app, not the package.
const PIPELINES = `import { pipeline, stages } from 'spanflow';

const graph = await pipeline('order')
  .step('validate', ({ state }) => { state.valid = state.amount > 0; }, { to: 'price' })
  .step('price', ({ state }) => { state.total = state.amount * 2; })
  .run({ amount: 21 });
const batch = await stages('double').stage('double', { tasks: (n) => n * 2 }).stage('inc', { tasks: (n) => n + 1 }).run([1, 2, 3]);
console.log(JSON.stringify({ node: process.versions.node, graph: graph.status, total: graph.state.total, batch: batch.status, results: batch.results }));
`;

// Each entry point imports; its first use throws. One JSON line: entry point -> what happened.
const FIRST_USE = `const out = {};
const attempt = async (name, use) => {
  try {
    const module = await import(name);
    await use(module);
    out[name] = { used: true };
  } catch (error) {
    out[name] = { name: error.name, code: error.code, message: error.message, package: error.package, entryPoint: error.entryPoint, install: error.install };
  }
};
await attempt('spanflow', (m) => m.pipeline('p').step('s', () => {}).run({}));
await attempt('spanflow/otel', (m) => m.startTelemetry());
await attempt('spanflow/workers', (m) => m.workerTask(new URL('./work.mjs', import.meta.url), 'work'));
await attempt('spanflow/console', (m) => m.fullDashboard());
// spanflow/http has no peers: it runs from the tarball as it is, its page (a file beside the code) included.
await attempt('spanflow/http', async (m) => {
  const { createServer } = await import('node:http');
  const live = new m.LiveRuns();
  const server = createServer(m.createLiveHandler({ live }));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = \`http://127.0.0.1:\${server.address().port}\`;
  const { pipeline } = await import('spanflow');
  const run = await pipeline('watched').step('s', () => 1).run({}, { observe: live });
  const page = await (await fetch(\`\${base}/\`)).text();
  const view = await (await fetch(\`\${base}/runs/\${run.runId}\`)).json();
  server.close();
  if (!page.includes('<title>spanflow') || view.status !== 'succeeded') throw new Error(\`page or view missing: \${view.status}\`);
});
await attempt('spanflow/postgres', async (m) => { const store = await m.openStore({ url: process.env.STORE_URL }); await store.close(); });
await attempt('spanflow/distributed', (m) => m.createDispatcher({ connectionString: 'postgres://app@127.0.0.1:5432/app' }));
console.log(JSON.stringify(out));
`;

const WORK = 'export function work(n) { return n * 2; }\n';

/** Hang guards only: an online npm install of the tarball and its peers may take a while on a slow network. */
const INSTALL_GUARD = { timeout: 300_000 };
const CHILD_GUARD = { timeout: 120_000 };

const skip = unless('npm-registry');
describe('the package from its tarball, installed with @opentelemetry/api alone', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'spanflow-consumer-'));
  const app = join(dir, 'app');
  let tarball = '';
  after(() => rmSync(dir, { recursive: true, force: true }));

  before(async () => {
    await run(npm, ['pack', '--pack-destination', dir, '--loglevel', 'error'], { cwd: root, timeout: 150_000 });
    const name = readdirSync(dir).find((file) => file.endsWith('.tgz'));
    assert.ok(name, 'npm pack made a tarball');
    tarball = join(dir, name);
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    writeFileSync(join(app, 'pipelines.mjs'), PIPELINES);
    writeFileSync(join(app, 'first-use.mjs'), FIRST_USE);
    writeFileSync(join(app, 'work.mjs'), WORK);
    // The API at the range spanflow asks for, as npm's own peer resolution would pick it.
    await run(npm, ['install', ...QUIET, tarball, '@opentelemetry/api'], { cwd: app, timeout: 240_000 });
  }, INSTALL_GUARD);

  test('npm ls lists spanflow and at most 3 other packages: @opentelemetry/api alone', CHILD_GUARD, async () => {
    const { stdout } = await run(npm, ['ls', '--all', '--omit=dev', '--parseable'], { cwd: app, timeout: 60_000 });
    const packages = stdout
      .trim()
      .split('\n')
      .slice(1) // the app itself
      .map((path) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length))
      .filter((name) => name !== 'spanflow');
    assert.ok(packages.length <= 3, packages.join(', '));
    assert.deepEqual(packages, ['@opentelemetry/api']);
  });

  test('it ships LICENSE, and source maps with the TypeScript inline', () => {
    const installed = join(app, 'node_modules', 'spanflow');
    assert.ok(readdirSync(installed).includes('LICENSE'));
    const maps = readdirSync(join(installed, 'dist', 'sdk')).filter((file) => file.endsWith('.js.map'));
    assert.ok(maps.includes('index.js.map'), maps.join(', '));
  });

  for (const node of ['this', ...Object.keys(OTHER_NODES)] as const) {
    const bin = node === 'this' ? process.execPath : nodeBin(node as keyof typeof OTHER_NODES);
    const label = node === 'this' ? `Node ${process.versions.node.split('.')[0]} (this one)` : `Node ${OTHER_NODES[node as keyof typeof OTHER_NODES]}`;
    test(`a graph and a stage pipeline run on ${label}`, { ...CHILD_GUARD, skip: node === 'this' ? false : unless(node as keyof typeof OTHER_NODES) }, async () => {
      assert.ok(bin, `${label} is installed`);
      const { stdout } = await run(bin, ['pipelines.mjs'], { cwd: app, timeout: 60_000 });
      const out = JSON.parse(stdout.trim());
      assert.deepEqual({ ...out, node: undefined }, { node: undefined, graph: 'succeeded', total: 42, batch: 'succeeded', results: [3, 5, 7] });
      if (node !== 'this') assert.equal(out.node.split('.')[0], String(OTHER_NODES[node as keyof typeof OTHER_NODES]));
    });
  }

  test('every entry point imports without its optional peers, and its first use names what to install', CHILD_GUARD, async () => {
    const { stdout } = await run(process.execPath, ['first-use.mjs'], { cwd: app, timeout: 60_000 });
    const out = JSON.parse(stdout.trim());
    assert.deepEqual(out.spanflow, { used: true });
    assert.deepEqual(out['spanflow/http'], { used: true }, 'spanflow/http needs no peer');
    const expected = {
      'spanflow/otel': '@opentelemetry/context-async-hooks',
      'spanflow/workers': 'piscina',
      'spanflow/console': 'log-update',
      'spanflow/postgres': 'kysely',
      'spanflow/distributed': 'pg-boss',
    };
    for (const [entryPoint, first] of Object.entries(expected)) {
      const got = out[entryPoint];
      assert.equal(got.name, 'MissingDependencyError', `${entryPoint}: ${got.message}`);
      assert.equal(got.entryPoint, entryPoint);
      assert.equal(got.package, first);
      assert.match(got.install, /^npm install (\S+@\S+ ?)+$/);
      assert.ok(got.message.includes(got.install), got.message);
    }
    assert.match(out['spanflow/postgres'].install, /^npm install kysely@\S+ pg@\S+$/);
    assert.match(out['spanflow/distributed'].install, /^npm install pg-boss@\S+ pg@\S+ @opentelemetry\/core@\S+$/);
  });

  test('the spanflow command without its peers: one line naming the install command, exit 1', CHILD_GUARD, async () => {
    const failed = await run(process.execPath, [join('node_modules', '.bin', 'spanflow'), 'runs'], { cwd: app, timeout: 60_000 }).then(
      () => assert.fail('the command ran'),
      (error: { code?: number; stderr?: string }) => error,
    );
    assert.equal(failed.code, 1);
    const lines = (failed.stderr ?? '').trim().split('\n');
    assert.equal(lines.length, 1, failed.stderr);
    assert.match(lines[0] ?? '', /^spanflow: the spanflow command needs commander, which is not installed \(nor cli-table3, kysely\): run `npm install commander@\S+ cli-table3@\S+ kysely@\S+`/);
  });

  test("installing what spanflow/postgres's error names makes it work", { ...INSTALL_GUARD, skip: unless('postgres') }, async () => {
    const before = JSON.parse((await run(process.execPath, ['first-use.mjs'], { cwd: app, timeout: 60_000 })).stdout.trim());
    const install: string = before['spanflow/postgres'].install;
    const [command, ...args] = install.split(' ');
    assert.equal(command, 'npm');
    await run(npm, [...args, ...QUIET], { cwd: app, timeout: 240_000 });
    const env = { ...process.env, STORE_URL: process.env.SPANFLOW_TEST_DATABASE_URL };
    const after = JSON.parse((await run(process.execPath, ['first-use.mjs'], { cwd: app, env, timeout: 60_000 })).stdout.trim());
    assert.deepEqual(after['spanflow/postgres'], { used: true });
  });
});
