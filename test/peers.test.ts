// loadPeer: an entry point's optional peers, loaded on first use. Installed,
// a peer is the very module `import` gives the application (one copy of a
// package with CommonJS and ESM builds); missing, it is a MissingDependencyError
// that names the package, the entry point and the command that installs what
// is missing, never ERR_MODULE_NOT_FOUND.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import { checkPeers, ENTRY_POINT_PEERS, loadPeer, MissingDependencyError, PEER_RANGES, type PeerName, SpanflowError } from '../sdk/index.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

describe("package.json's dependencies", () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, Record<string, unknown> | undefined>;

  test('the engine needs @opentelemetry/api alone; every other package is an optional peer, with the range loadPeer names', () => {
    assert.equal(pkg.dependencies, undefined, 'no dependencies: a consumer installs only what the entry points it uses need');
    const { '@opentelemetry/api': api, ...optional } = pkg.peerDependencies ?? {};
    // The range every current OpenTelemetry SDK package accepts (sdk-trace, sdk-metrics, core, resources: >=1.10.0 <1.11.0).
    assert.equal(api, '>=1.10.0 <1.11.0');
    assert.deepEqual(optional, PEER_RANGES);
    assert.deepEqual(pkg.peerDependenciesMeta, Object.fromEntries(Object.keys(PEER_RANGES).map((name) => [name, { optional: true }])));
    for (const [name, range] of Object.entries({ '@opentelemetry/api': api, ...PEER_RANGES })) {
      assert.equal(pkg.devDependencies?.[name], range, `devDependencies has ${name} at the peer range, for spanflow's own tests`);
    }
  });

  test('each entry point names only optional peers', () => {
    for (const peers of Object.values(ENTRY_POINT_PEERS)) for (const peer of peers) assert.ok(peer in PEER_RANGES, peer);
  });
});

describe('loadPeer, with the peer installed', () => {
  test('an ESM build is the module the application imports, not a second copy', async () => {
    const ours = loadPeer<typeof import('@opentelemetry/sdk-trace')>('@opentelemetry/sdk-trace', 'spanflow/otel');
    const theirs = await import('@opentelemetry/sdk-trace');
    assert.equal(ours.TracerProvider, theirs.TracerProvider);
    const logUpdate = loadPeer<typeof import('log-update')>('log-update', 'spanflow/console');
    assert.equal(logUpdate.createLogUpdate, (await import('log-update')).createLogUpdate);
  });

  test('a CommonJS package comes as its namespace: default is module.exports', async () => {
    const table = loadPeer<{ default: typeof import('cli-table3') }>('cli-table3', 'spanflow/console');
    assert.equal(table.default, (await import('cli-table3')).default);
    assert.equal(typeof table.default, 'function');
  });

  test('every peer of every entry point loads (none needs an asynchronous import)', () => {
    for (const [entryPoint, peers] of Object.entries(ENTRY_POINT_PEERS)) {
      for (const peer of peers) assert.equal(typeof loadPeer<object>(peer, entryPoint as keyof typeof ENTRY_POINT_PEERS), 'object', `${entryPoint}: ${peer}`);
    }
    for (const entryPoint of Object.keys(ENTRY_POINT_PEERS)) checkPeers(entryPoint as keyof typeof ENTRY_POINT_PEERS);
  });
});

describe('loadPeer, with the peer missing', () => {
  // spanflow's sdk/ copied into a folder whose node_modules holds only the API and kysely.
  const dir = mkdtempSync(join(tmpdir(), 'spanflow-peers-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(root, 'sdk'), join(dir, 'sdk'), { recursive: true });
  for (const name of ['@opentelemetry/api', 'kysely']) {
    const link = join(dir, 'node_modules', name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(join(root, 'node_modules', name), link, 'dir');
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'peers-missing', private: true, type: 'module' }));
  writeFileSync(
    join(dir, 'main.ts'),
    `import { checkPeers, loadPeer } from './sdk/index.ts';
const caught = (load: () => unknown) => { try { load(); return undefined; } catch (error) { return error as Error & Record<string, unknown>; } };
const describe = (error: (Error & Record<string, unknown>) | undefined) => error && ({ name: error.name, message: error.message, package: error.package, entryPoint: error.entryPoint, install: error.install, cause: (error.cause as { code?: string } | undefined)?.code, isSpanflow: error instanceof Error });
console.log(JSON.stringify({
  pg: describe(caught(() => loadPeer('pg', 'spanflow/postgres'))),
  kysely: typeof (loadPeer('kysely', 'spanflow/postgres') as { Kysely?: unknown }).Kysely,
  migration: typeof (loadPeer('kysely/migration', 'spanflow/postgres') as { Migrator?: unknown }).Migrator,
  pgSubpath: describe(caught(() => loadPeer('pg/lib/index.js', 'spanflow/postgres'))),
  kyselyNoSuchPath: describe(caught(() => loadPeer('kysely/no-such-path', 'spanflow/postgres'))),
  piscina: describe(caught(() => loadPeer('piscina', 'spanflow/workers'))),
  pgBoss: describe(caught(() => loadPeer('pg-boss', 'spanflow/distributed'))),
  check: describe(caught(() => checkPeers('spanflow/console'))),
}));
`,
  );

  test('a MissingDependencyError names the package, the entry point and the install command of everything missing there', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['main.ts'], { cwd: dir, timeout: 60_000 });
    const out = JSON.parse(stdout);
    assert.deepEqual(out.pg, {
      name: 'MissingDependencyError',
      message:
        `spanflow/postgres needs pg, which is not installed: run \`npm install pg@${PEER_RANGES.pg}\` ` +
        '(spanflow keeps what its entry points need as optional peer dependencies, installed only by those who use them)',
      package: 'pg',
      entryPoint: 'spanflow/postgres',
      install: `npm install pg@${PEER_RANGES.pg}`,
      cause: 'ERR_MODULE_NOT_FOUND',
      isSpanflow: true,
    });
    assert.equal(out.kysely, 'function', 'an installed peer of the same entry point loads');
    assert.equal(out.migration, 'function', 'a subpath the peer exports loads');
    assert.equal(out.pgSubpath.name, 'MissingDependencyError', 'a subpath of a missing peer names the peer');
    assert.equal(out.pgSubpath.package, 'pg');
    assert.notEqual(out.kyselyNoSuchPath.name, 'MissingDependencyError', 'a subpath an installed peer lacks is its own error');
    const workers = ENTRY_POINT_PEERS['spanflow/workers'].map((peer: PeerName) => `${peer}@${PEER_RANGES[peer]}`).join(' ');
    assert.equal(out.piscina.install, `npm install ${workers}`, 'every missing peer of the entry point, in one command');
    assert.match(out.piscina.message, /^spanflow\/workers needs piscina, which is not installed \(nor @opentelemetry\/context-async-hooks, @opentelemetry\/core\)/);
    assert.equal(out.pgBoss.name, 'MissingDependencyError');
    assert.equal(out.pgBoss.package, 'pg-boss');
    assert.equal(out.pgBoss.install, `npm install pg-boss@${PEER_RANGES['pg-boss']} pg@${PEER_RANGES.pg} @opentelemetry/core@${PEER_RANGES['@opentelemetry/core']}`);
    assert.match(out.pgBoss.message, /^spanflow\/distributed needs pg-boss, which is not installed/);
    assert.equal(out.check.name, 'MissingDependencyError');
    assert.equal(out.check.package, 'log-update');
    assert.equal(out.check.install, `npm install log-update@${PEER_RANGES['log-update']} cli-table3@${PEER_RANGES['cli-table3']}`);
  });

  test('it is a SpanflowError', () => {
    const error = new MissingDependencyError('pg', 'spanflow/postgres', ['pg'], undefined);
    assert.equal(error.name, 'MissingDependencyError');
    assert.ok(error instanceof SpanflowError);
  });
});
