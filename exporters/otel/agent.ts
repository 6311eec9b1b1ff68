// The exporters' HTTP connections, held so a shutdown that gave up can let the
// process go. Without this, a collector that is down or silent keeps an app
// alive for the exports' own timeouts and retries (10–30 s) after
// `shutdown()` already returned. Once released, open connections end and new
// ones fail at once with an error the exporters do not retry.

import type { Agent } from 'node:http';
import { Socket } from 'node:net';

/** The error released connections end with (not a network code the exporters retry). */
function released(): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error('spanflow/otel: telemetry shut down; the export is dropped');
  error.code = 'ESPANFLOWSHUTDOWN';
  return error;
}

export class ExporterConnections {
  readonly #sockets = new Set<Socket>();
  #released = false;

  /**
   * For the exporters' `httpAgentOptions`: a keep-alive agent whose sockets
   * this tracks. Loaded on first use, after any http instrumentation.
   */
  readonly agentFactory = async (protocol: string): Promise<Agent> => {
    const { Agent: HttpAgent } = protocol === 'https:' ? await import('node:https') : await import('node:http');
    const agent = new HttpAgent({ keepAlive: true });
    const create = agent.createConnection.bind(agent) as (...args: unknown[]) => Socket;
    agent.createConnection = ((...args: unknown[]) => {
      if (this.#released) {
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

  /** Ends every open connection and refuses new ones: what is still being exported is dropped. */
  release(): void {
    this.#released = true;
    for (const socket of this.#sockets) socket.destroy(released());
    this.#sockets.clear();
  }
}
