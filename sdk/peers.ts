// What spanflow's entry points need besides @opentelemetry/api: optional peer
// dependencies, installed by the user for the entry points they use, loaded on
// first use. A missing one is a MissingDependencyError that names the package,
// the entry point and the install command, never Node's ERR_MODULE_NOT_FOUND
// at import time. The ranges are package.json's peerDependencies (a test keeps
// the two equal).

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { isModuleNamespaceObject } from 'node:util/types';
import { SpanflowError } from './errors.ts';

/** Each optional peer and the range spanflow is built and tested against. */
export const PEER_RANGES = {
  '@opentelemetry/context-async-hooks': '^3.1.0',
  '@opentelemetry/core': '^3.1.0',
  '@opentelemetry/exporter-metrics-otlp-http': '^0.301.0',
  '@opentelemetry/exporter-metrics-otlp-proto': '^0.301.0',
  '@opentelemetry/exporter-trace-otlp-http': '^0.301.0',
  '@opentelemetry/exporter-trace-otlp-proto': '^0.301.0',
  '@opentelemetry/resources': '^3.1.0',
  '@opentelemetry/sdk-metrics': '^3.1.0',
  '@opentelemetry/sdk-trace': '^3.1.0',
  'cli-table3': '^0.6.5',
  commander: '^15.1.0',
  kysely: '^0.29.9',
  'log-update': '^8.0.0',
  pg: '^8.23.1',
  'pg-boss': '^12.38.1',
  piscina: '^5.3.2',
} as const;

export type PeerName = keyof typeof PEER_RANGES;

/** A peer, or a subpath it exports (`kysely/migration`). */
export type PeerSpecifier = PeerName | `${PeerName}/${string}`;

/** What each entry point needs (the CLI's store adds pg for a postgres:// URL, through spanflow/postgres). */
export const ENTRY_POINT_PEERS = {
  'spanflow/otel': [
    '@opentelemetry/context-async-hooks',
    '@opentelemetry/core',
    '@opentelemetry/exporter-metrics-otlp-http',
    '@opentelemetry/exporter-metrics-otlp-proto',
    '@opentelemetry/exporter-trace-otlp-http',
    '@opentelemetry/exporter-trace-otlp-proto',
    '@opentelemetry/resources',
    '@opentelemetry/sdk-metrics',
    '@opentelemetry/sdk-trace',
  ],
  'spanflow/postgres': ['kysely', 'pg'],
  'spanflow/workers': ['piscina', '@opentelemetry/context-async-hooks', '@opentelemetry/core'],
  'spanflow/console': ['log-update', 'cli-table3'],
  'spanflow/distributed': ['pg-boss', 'pg', '@opentelemetry/core'],
  'the spanflow command': ['commander', 'cli-table3', 'kysely'],
} as const satisfies Record<string, readonly PeerName[]>;

export type EntryPoint = keyof typeof ENTRY_POINT_PEERS;

/** An optional peer dependency that an entry point needs is not installed. */
export class MissingDependencyError extends SpanflowError {
  override name = 'MissingDependencyError';
  /** The package that was needed now. */
  readonly package: PeerName;
  /** The entry point that needed it (`spanflow/postgres`, …). */
  readonly entryPoint: EntryPoint;
  /** Installs it and whatever else the entry point needs that is missing too. */
  readonly install: string;
  constructor(name: PeerName, entryPoint: EntryPoint, missing: readonly PeerName[], cause: unknown) {
    const install = `npm install ${missing.map((peer) => `${peer}@${PEER_RANGES[peer]}`).join(' ')}`;
    const others = missing.filter((peer) => peer !== name);
    super(
      `${entryPoint} needs ${name}, which is not installed${others.length > 0 ? ` (nor ${others.join(', ')})` : ''}: ` +
        `run \`${install}\` (spanflow keeps what its entry points need as optional peer dependencies, installed only by those who use them)`,
      { cause },
    );
    this.package = name;
    this.entryPoint = entryPoint;
    this.install = install;
  }
}

const require = createRequire(import.meta.url);
/** What loadPeer gave so far: spanflow's parts call it where they use a package, often on a hot path. */
const loaded = new Map<PeerSpecifier, unknown>();

/** Where `import(name)` would load the package from, as seen from spanflow's own folder; undefined when it is not installed. */
function resolvePeer(specifier: PeerSpecifier): { url: string } | { error: unknown } {
  try {
    return { url: import.meta.resolve(specifier) };
  } catch (error) {
    return { error };
  }
}

/** The package a specifier is in: `kysely` for `kysely/migration`, `@opentelemetry/core` for itself. */
function peerOf(specifier: PeerSpecifier): PeerName {
  const parts = specifier.split('/');
  return parts.slice(0, specifier.startsWith('@') ? 2 : 1).join('/') as PeerName;
}

/** `entryPoint`'s peers that are not installed. */
function missingOf(entryPoint: EntryPoint): PeerName[] {
  return ENTRY_POINT_PEERS[entryPoint].filter((peer: PeerName) => 'error' in resolvePeer(peer));
}

function notFound(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === 'ERR_MODULE_NOT_FOUND';
}

/**
 * Loads an optional peer (or a subpath it exports, `kysely/migration`) for
 * `entryPoint`, synchronously (startTelemetry(), a pool and a dashboard are
 * made synchronously), and gives the module as `import(specifier)` would: the very file ESM resolution picks, so spanflow and
 * the application share one copy of a package that ships CommonJS and ESM
 * builds (a TracerProvider the application imports from @opentelemetry/sdk-trace
 * and ours are the same class). A CommonJS package comes as its namespace
 * would (`default` is module.exports: type one declared with `export =` as
 * `{ default: typeof import('name') }`). Throws a MissingDependencyError when
 * the package is not installed; any other failure to load it is its own.
 */
export function loadPeer<Module>(specifier: PeerSpecifier, entryPoint: EntryPoint): Module {
  const cached = loaded.get(specifier);
  if (cached !== undefined) return cached as Module;
  const found = resolvePeer(specifier);
  if ('error' in found) {
    if (!notFound(found.error)) throw found.error;
    const name = peerOf(specifier);
    // A subpath the installed package does not have is not a missing package.
    if (name !== specifier && !('error' in resolvePeer(name))) throw found.error;
    const missing = missingOf(entryPoint);
    throw new MissingDependencyError(name, entryPoint, missing.includes(name) ? missing : [name, ...missing], found.error);
  }
  const module: unknown = require(found.url.startsWith('file:') ? fileURLToPath(found.url) : found.url);
  // CommonJS: its namespace, as an import would give it.
  const namespace = isModuleNamespaceObject(module) ? module : { ...(module as object), default: module };
  loaded.set(specifier, namespace);
  return namespace as Module;
}

/**
 * Throws the MissingDependencyError loading them would throw when any of
 * `entryPoint`'s peers is not installed: for a start that needs them all,
 * some of them in a thread or process of its own (a worker pool's threads).
 */
export function checkPeers(entryPoint: EntryPoint): void {
  const missing = missingOf(entryPoint);
  const first = missing[0];
  if (first === undefined) return;
  const found = resolvePeer(first);
  throw new MissingDependencyError(first, entryPoint, missing, 'error' in found ? found.error : undefined);
}
