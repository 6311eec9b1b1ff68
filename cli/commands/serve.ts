// `spanflow serve`: the live view (spanflow/http) over the store, so runs of
// other processes can be watched from outside them: the page, the runs as JSON,
// and their events as Server-Sent Events, read from the store as they are
// written. Binds to 127.0.0.1 unless told otherwise; nothing it serves writes.

import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Command, InvalidArgumentError } from 'commander';
import { createLiveHandler } from '../../exporters/http/index.ts';
import { CommandError, type Output } from '../io.ts';
import { withStore } from '../store.ts';
import { storeFlags } from './shared.ts';

interface ServeFlags {
  readonly port: number;
  readonly host: string;
  readonly jaeger?: string;
  readonly grafana?: string;
  readonly poll: number;
}

export const DEFAULT_PORT = 4319;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** The host a Host header names, without its port. */
function hostOf(header: string | undefined): string {
  if (!header) return '';
  return header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : header.replace(/:\d+$/, '');
}

function parsePort(text: string): number {
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!(Number.isInteger(n) && n >= 0 && n <= 65_535)) throw new InvalidArgumentError(`'${text}' is not a port: give a whole number from 0 to 65535 (0 picks a free one).`);
  return n;
}

function parseInterval(text: string): number {
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!(Number.isInteger(n) && n >= 50)) throw new InvalidArgumentError(`'${text}' is not a poll interval: give a whole number of ms, 50 or more.`);
  return n;
}

export function registerServe(program: Command, out: Output): void {
  program
    .command('serve')
    .description('serve the live view of stored runs over HTTP: a page, the runs as JSON, their events as Server-Sent Events')
    .option('--port <n>', `the port (0 picks a free one)`, parsePort, DEFAULT_PORT)
    .option('--host <address>', 'the address to listen on; another than 127.0.0.1 lets other machines in, and nothing asks who they are', '127.0.0.1')
    .option('--jaeger <url>', 'link each run to its trace: a URL with {traceId}, e.g. http://localhost:16686/trace/{traceId}')
    .option('--grafana <url>', 'link each run to Grafana: a URL with {runId}, e.g. http://localhost:3000/d/spanflow-runs?var-run={runId}')
    .option('--poll <ms>', 'how often runs under way are read again', parseInterval, 1000)
    .action(async (flags: ServeFlags, command: Command) => {
      await withStore(out, storeFlags(command), async (store) => {
        const loopback = LOOPBACK.has(flags.host);
        const handler = createLiveHandler({
          store,
          pollInterval: flags.poll,
          links: { jaeger: flags.jaeger, grafana: flags.grafana },
          // On loopback, a request must name a loopback host: a web page elsewhere cannot reach it by rebinding a DNS name to 127.0.0.1.
          ...(loopback ? { authorize: (request: IncomingMessage) => LOOPBACK.has(hostOf(request.headers.host)) } : {}),
        });
        const server = createServer(handler);
        await new Promise<void>((resolve, reject) => {
          server.once('error', (error: NodeJS.ErrnoException) => {
            if (error.code === 'EADDRINUSE') reject(new CommandError(`port ${flags.port} on ${flags.host} is in use: pick another with --port (0 picks a free one)`));
            else reject(new CommandError(`cannot listen on ${flags.host}:${flags.port}: ${error.message}; check --host (an address of this machine, such as 127.0.0.1)`));
          });
          server.listen(flags.port, flags.host, resolve);
        });
        const { address, port } = server.address() as AddressInfo;
        const host = address.includes(':') ? `[${address}]` : address;
        out.line(`spanflow serve: http://${host}:${port}/ (runs of ${store.location}; Ctrl-C stops)`);
        await stopped(out.io.signal);
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      });
    });
}

/** Resolves on SIGINT or SIGTERM, or when `signal` aborts (a caller running the CLI in-process). */
function stopped(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      signal?.removeEventListener('abort', stop);
      resolve();
    };
    if (signal?.aborted) return stop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    signal?.addEventListener('abort', stop);
  });
}
