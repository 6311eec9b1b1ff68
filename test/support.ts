// Helpers shared by the tests: latches for ordering, an event log to wait on.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { DefinitionError, type EventOf, type SpanflowEvent } from '../sdk/index.ts';

/** A promise you resolve by hand: lets a test hold a task until it has looked around. */
export function latch(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Collects events; `waitFor` resolves on the first event (past or future) that matches. */
export function eventLog() {
  const events: SpanflowEvent[] = [];
  const waiters: { match: (e: SpanflowEvent) => boolean; resolve: () => void }[] = [];
  const listen = (e: SpanflowEvent) => {
    events.push(e);
    for (const w of [...waiters]) if (w.match(e)) waiters.splice(waiters.indexOf(w), 1) && w.resolve();
  };
  const waitFor = (match: (e: SpanflowEvent) => boolean) =>
    new Promise<void>((resolve) => (events.some(match) ? resolve() : waiters.push({ match, resolve })));
  const of = <T extends SpanflowEvent['type']>(type: T) => events.filter((e): e is EventOf<T> => e.type === type);
  return { events, listen, waitFor, of };
}

/** 0, 1, …, n - 1. */
export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** A promise that never settles: a task that ignores its signal. */
export const never = <T>(): Promise<T> => new Promise<T>(() => {});

/** Matches an item_status event of one item (and stage, if given). */
export const status = (itemId: string, s: string, stage?: string) => (e: SpanflowEvent) =>
  e.type === 'item_status' && e.itemId === itemId && e.status === s && (stage === undefined || e.stage === stage);

/**
 * A test's own time limit, only to detect a hang: generous, since a loaded 2-core machine runs a child process,
 * a database or a worker pool many times slower than an idle one. Give it to each slow test and hook rather
 * than to their suite: a suite's limit bounds all its tests and hooks together.
 */
export const HANG_GUARD = { timeout: 60_000 } as const;

/** One turn of the event loop. */
export const flush = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * An HTTP server on loopback (a stand-in OTLP collector, say): `onRequest`
 * gets each request with its whole body. `close()` drops open connections too.
 */
export async function loopbackServer(
  onRequest: (req: IncomingMessage, body: Buffer, res: ServerResponse) => void,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => onRequest(req, Buffer.concat(chunks), res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { url, close };
}

/** Asserts that `fn` throws a DefinitionError whose message matches every pattern, and returns it. */
export function definitionError(fn: () => unknown, ...patterns: RegExp[]): DefinitionError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof DefinitionError, `expected a DefinitionError, got ${String(caught)}`);
  for (const pattern of patterns) assert.match(caught.message, pattern);
  return caught;
}

/** A Writable that keeps what is written; `tty` makes it look like an 80-column terminal. */
export function sink(tty: boolean): { stream: Writable; text: () => string; writes: string[] } {
  const writes: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      writes.push(String(chunk));
      done();
    },
  });
  if (tty) Object.assign(stream, { isTTY: true, columns: 80, rows: 60 });
  return { stream, writes, text: () => writes.join('') };
}
/** A fresh temporary folder, removed by `cleanup()`. */
export function tempFolder(prefix: string): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), `spanflow-${prefix}-`));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Collects process warnings of one type until `stop()`; `waitFor` resolves once one matches. */
export function captureWarnings(type: string) {
  const messages: string[] = [];
  const listen = (warning: Error) => {
    if (warning.name === type) messages.push(warning.message);
  };
  process.on('warning', listen);
  return {
    messages,
    stop: () => process.off('warning', listen),
    waitFor: async (pattern: RegExp): Promise<void> => {
      while (!messages.some((m) => pattern.test(m))) await new Promise((resolve) => setTimeout(resolve, 5));
    },
  };
}


/**
 * A free loopback port (closed again at once: a server we start takes it next). Taken below the
 * kernel's ephemeral range where it has one: a port from that range could go to any outgoing
 * connection (the tests open many) between our closing it and the server binding it.
 */
export async function freePort(): Promise<number> {
  const below = ephemeralStart();
  for (let tries = 0; tries < 50; tries++) {
    const wanted = below > 11_000 ? 10_000 + Math.floor(Math.random() * (below - 10_000)) : 0;
    const port = await tryListen(wanted);
    if (port !== undefined) return port;
  }
  throw new Error('freePort: no free loopback port found in 50 tries');
}

/** The first port of the kernel's ephemeral range (0 when it does not say). */
function ephemeralStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 0;
  } catch {
    return 0;
  }
}

/** Listens on `port` (0: any) and closes again; the port, or undefined when it was taken. */
async function tryListen(port: number): Promise<number | undefined> {
  const server = createTcpServer();
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (!listening) return undefined;
  const taken = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return taken;
}

