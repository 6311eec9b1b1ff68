// Helpers for the live HTTP view's tests: a server on loopback around a
// handler, and a Server-Sent Events reader over fetch (a real HTTP client).

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SseMessage {
  readonly id: string | undefined;
  readonly event: string;
  readonly data: string;
}

/** A plain node:http server on 127.0.0.1 around `handler`; `close()` drops open streams too. */
export async function serve(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Splits SSE text into messages (the format's own rules: blank line ends a message, `field: value` lines). */
export function parseSse(text: string): SseMessage[] {
  const messages: SseMessage[] = [];
  for (const block of text.split('\n\n')) {
    if (block.trim() === '') continue;
    let id: string | undefined;
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length > 0) messages.push({ id, event, data: data.join('\n') });
  }
  return messages;
}

/**
 * Reads an SSE stream with fetch: `onMessage` sees each message as it comes
 * and may return true to stop reading (the connection is then dropped).
 * Resolves with every message read, when the server ends the stream or the reader stops.
 */
export async function readSse(url: string, headers: Record<string, string> = {}, onMessage?: (message: SseMessage) => boolean | undefined): Promise<SseMessage[]> {
  const controller = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  if (!response.ok || !response.body) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`);
  const decoder = new TextDecoder();
  const messages: SseMessage[] = [];
  let pending = '';
  try {
    for await (const chunk of response.body) {
      pending += decoder.decode(chunk, { stream: true });
      const end = pending.lastIndexOf('\n\n');
      if (end < 0) continue;
      const complete = parseSse(pending.slice(0, end + 2));
      pending = pending.slice(end + 2);
      for (const message of complete) {
        messages.push(message);
        if (onMessage?.(message)) {
          controller.abort();
          return messages;
        }
      }
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  }
  return messages;
}

export async function getJson<T = Record<string, unknown>>(url: string, init: RequestInit = {}): Promise<{ status: number; body: T; headers: Headers }> {
  const response = await fetch(url, init);
  return { status: response.status, body: (await response.json()) as T, headers: response.headers };
}
