// One Server-Sent Events client, with a bounded buffer: a client that reads
// slowly (or not at all) never holds the run back. While its socket is backed
// up, messages wait in a queue of at most `limit` characters; past that the
// queue is dropped and, once the socket drains, the client gets one `resync`
// message (where the run stands now) instead of the events it missed.

import type { ServerResponse } from 'node:http';
import { payloadShown, type SpanflowEvent, safeJson } from '../../sdk/index.ts';

/** The SSE text of one message: `id` (the event's seq), an optional `event` name, and one line of JSON data. */
export function message(id: number, data: string, event?: string): string {
  return `id: ${id}\n${event ? `event: ${event}\n` : ''}data: ${data}\n\n`;
}

/** An event as the live view sends it: a token's content only when telemetry payloads are on (and then redacted). */
export function eventJson(event: SpanflowEvent): string {
  if (event.type !== 'token') return safeJson(event);
  const shown = payloadShown(event.token);
  const { token: _hidden, ...rest } = event;
  return safeJson(shown ? { ...rest, token: shown.value } : rest);
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  // Proxies such as nginx buffer responses unless told not to.
  'x-accel-buffering': 'no',
  connection: 'keep-alive',
} as const;

export interface SseClientOptions {
  /** Characters the client may fall behind by before its queue is dropped for a resync. */
  readonly limit: number;
  /** The messages that bring the client up to date after an overflow. */
  readonly resync: () => string;
  /** A `: keepalive` comment this often (skipped while the socket is backed up), in ms; 0 for none. */
  readonly heartbeatMs: number;
}

export class SseClient {
  readonly #res: ServerResponse;
  readonly #limit: number;
  /** The messages that bring the client up to date after an overflow (a resync, and the run's end when it has ended). */
  readonly #resync: () => string;
  #queue: string[] = [];
  #queued = 0;
  /** The socket is backed up: messages wait in the queue until it drains. */
  #waiting = false;
  /** The queue overflowed: what comes before the next drain is dropped, and a resync follows. */
  #overflowed = false;
  #ending = false;
  #closed = false;
  /** Resyncs sent (or due) because this client fell behind. */
  resyncs = 0;
  onClose: (() => void) | undefined;

  readonly #heartbeat: ReturnType<typeof setInterval> | undefined;

  constructor(res: ServerResponse, options: SseClientOptions) {
    this.#res = res;
    this.#limit = options.limit;
    this.#resync = options.resync;
    // A comment line now and then: proxies keep the connection, and a reader notices a dead one.
    if (options.heartbeatMs > 0) {
      this.#heartbeat = setInterval(() => {
        if (!this.#waiting && !this.#ending) this.#write(': keepalive\n\n');
      }, options.heartbeatMs);
      this.#heartbeat.unref();
    }
    res.on('close', () => {
      clearInterval(this.#heartbeat);
      this.#closed = true;
      this.#queue = [];
      this.#queued = 0;
      this.onClose?.();
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Characters waiting in this client's queue (at most the limit). */
  get queuedChars(): number {
    return this.#queued;
  }

  send(text: string): void {
    if (this.#closed || this.#ending || this.#overflowed) return;
    if (!this.#waiting) {
      this.#write(text);
      return;
    }
    if (this.#queued + text.length > this.#limit) {
      this.#queue = [];
      this.#queued = 0;
      this.#overflowed = true;
      this.resyncs++;
      return;
    }
    this.#queue.push(text);
    this.#queued += text.length;
  }

  /** Ends the stream once what is queued (or the resync due) has gone out. */
  end(): void {
    if (this.#closed || this.#ending) return;
    this.#ending = true;
    clearInterval(this.#heartbeat);
    if (!this.#waiting) this.#res.end();
  }

  /** Resolves once the socket has room (at once when it has): a producer that can wait (the store's reader) waits on it. */
  room(): Promise<void> | undefined {
    if (!this.#waiting || this.#closed) return undefined;
    return new Promise((resolve) => {
      const done = () => {
        this.#res.off('drain', done);
        this.#res.off('close', done);
        resolve();
      };
      this.#res.on('drain', done);
      this.#res.on('close', done);
    });
  }

  #write(text: string): void {
    if (!this.#res.write(text)) {
      this.#waiting = true;
      this.#res.once('drain', this.#drained);
    }
  }

  readonly #drained = (): void => {
    this.#waiting = false;
    if (this.#closed) return;
    if (this.#overflowed) {
      this.#overflowed = false;
      this.#write(this.#resync());
    }
    while (!this.#waiting && this.#queue.length > 0) {
      const text = this.#queue.shift() as string;
      this.#queued -= text.length;
      this.#write(text);
    }
    if (!this.#waiting && this.#ending) this.#res.end();
  };
}
