// What the exporters hold open, held here so a shutdown that gave up can let
// the process go: their HTTP connections and their retry waits. Without this,
// a collector that is down or silent keeps an app alive for the exports' own
// timeouts and retries (10–30 s) after `shutdown()` already returned. Once
// released, open connections end, new ones fail at once with an error the
// exporters do not retry, and waits before a retry end with that error too.

import type { Agent } from 'node:http';
import { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { diag } from '@opentelemetry/api';

/** The error released connections end with (not a network code the exporters retry). */
function released(): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error('spanflow/otel: telemetry shut down; the export is dropped');
  error.code = 'ESPANFLOWSHUTDOWN';
  return error;
}

/** What the OTLP exporters' transport returns (otlp-exporter-base's ExportResponse, the failure case). */
interface ExportFailure {
  readonly status: 'failure';
  readonly error: Error;
}

/**
 * otlp-exporter-base's RetryingTransport, as far as this touches it: `retry`
 * waits on a plain timer that nothing can end, then sends again.
 */
interface RetryingTransport {
  retry(data: Uint8Array, timeoutMillis: number, inMillis: number): Promise<unknown>;
}

export class ExporterConnections {
  readonly #sockets = new Set<Socket>();
  /** Aborted on release: refuses new connections, and ends the waits before a retry (as failures). */
  readonly #release = new AbortController();

  /**
   * For the exporters' `httpAgentOptions`: a keep-alive agent whose sockets
   * this tracks. Loaded on first use, after any http instrumentation.
   */
  readonly agentFactory = async (protocol: string): Promise<Agent> => {
    const { Agent: HttpAgent } = protocol === 'https:' ? await import('node:https') : await import('node:http');
    const agent = new HttpAgent({ keepAlive: true });
    const create = agent.createConnection.bind(agent) as (...args: unknown[]) => Socket;
    agent.createConnection = ((...args: unknown[]) => {
      if (this.#release.signal.aborted) {
        const socket = new Socket();
        process.nextTick(() => socket.destroy(released()));
        return socket;
      }
      const socket = create(...args);
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      return socket;
    }) as typeof agent.createConnection;
    return agent;
  };

  /**
   * Takes over the waits before an OTLP exporter's retries, so that release()
   * ends them. The exporters give no way to cancel a retry: their transport
   * (reached through the exporter's delegate, as otlp-exporter-base 0.301
   * builds it) waits on a timer of its own for up to 5 s, and each pending
   * retry holds the process that long after a shutdown gave up. The wait is
   * the transport's own policy (backoff, jitter, deadline), only ended here.
   */
  adopt<Exporter extends object>(exporter: Exporter): Exporter {
    const transport = (exporter as { _delegate?: { _transport?: Partial<RetryingTransport> } })._delegate?._transport;
    if (typeof transport?.retry !== 'function') {
      diag.debug('spanflow/otel: the OTLP exporter has no retrying transport where expected; its retries cannot be ended at shutdown');
      return exporter;
    }
    const send = transport.retry.bind(transport);
    transport.retry = (data, timeoutMillis, inMillis) => this.#wait(inMillis).then((failure) => failure ?? send(data, timeoutMillis, 0));
    return exporter;
  }

  /**
   * Resolves after `ms` (undefined), or at release (the failure to answer with).
   * The timer holds the process as the transport's own did: only release ends it early.
   */
  async #wait(ms: number): Promise<ExportFailure | undefined> {
    try {
      await sleep(ms, undefined, { signal: this.#release.signal });
      return undefined;
    } catch {
      return { status: 'failure', error: released() };
    }
  }

  /**
   * Ends every open connection and wait before a retry, and refuses new
   * connections: what is still being exported is dropped. Resolves once the
   * connections have closed.
   */
  release(): Promise<void> {
    this.#release.abort();
    const closed = [...this.#sockets].map((socket) => new Promise<void>((resolve) => socket.once('close', () => resolve()).destroy(released())));
    this.#sockets.clear();
    return Promise.all(closed).then(() => {});
  }
}
