// The live view's request handler, on node:http alone: `(req, res, next?)`,
// so it mounts in a plain server, Express, Fastify (raw request and reply) or
// Hono's node server. Routes:
//   GET  /                  the page (one static file)
//   GET  /runs              live runs of this process, then recent stored ones
//   GET  /runs/:id          where a run stands (JSON)
//   GET  /runs/:id/events   Server-Sent Events; Last-Event-ID resumes
//   POST /runs/:id/cancel   cancels a live run, only with allowCancel

import type { IncomingMessage, ServerResponse } from 'node:http';
import { messageOf, safeJson } from '../../sdk/index.ts';
import { type LiveRuns, type RunListing, wholeOption } from './live-runs.ts';
import { pageHeaders, pageHtml } from './page.ts';
import type { LinkTemplates } from './run-view.ts';
import { SSE_HEADERS, SseClient } from './sse.ts';
import { type RunSource, storedRuns, storedView, streamStored } from './stored.ts';

/** `true` lets a request in; `false` refuses it with 403, `401` with 401 (not authenticated). */
export type Authorize = (request: IncomingMessage) => boolean | 401 | 403 | Promise<boolean | 401 | 403>;

export interface LiveHandlerOptions {
  /** The runs of this process: the `LiveRuns` passed to pipelines as `observe`. */
  readonly live?: LiveRuns;
  /** A store (`openStore()` from spanflow/postgres): stored runs are listed and streamed too. */
  readonly store?: RunSource;
  /** Called on every request before anything else. Default: every request is let in. */
  readonly authorize?: Authorize;
  /** Let `POST /runs/:id/cancel` cancel live runs. Default false: no route changes anything. */
  readonly allowCancel?: boolean;
  /** Links to the trace in Jaeger and the run in Grafana, for stored runs (live runs take `LiveRuns`' links). */
  readonly links?: LinkTemplates;
  /** The path the handler is mounted under when the framework does not strip it (Fastify, Hono), e.g. `/live`. */
  readonly basePath?: string;
  /** Characters an SSE reader may fall behind by before it is sent a resync instead. Default 1,000,000. */
  readonly clientBuffer?: number;
  /** How often a stored run under way is read again, in ms. Default 1000. */
  readonly pollInterval?: number;
  /** Stored runs `GET /runs` lists. Default 50. */
  readonly storedLimit?: number;
  /** Every event stream gets a `: keepalive` comment this often (proxies keep it open; a reader notices a dead one), in ms; 0 for none. Default 15,000. */
  readonly heartbeatInterval?: number;
}

export type LiveHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;

/** A request the handler refuses, with the status and a message that names the fix. */
class Refusal extends Error {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: number, message: string, headers: Readonly<Record<string, string>> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

export function createLiveHandler(options: LiveHandlerOptions = {}): LiveHandler {
  const { live, store, authorize, links } = options;
  if (!live && !store) throw new TypeError('createLiveHandler: give it live runs ({ live: new LiveRuns() }, passed to pipelines as observe), a store ({ store }), or both');
  const basePath = (options.basePath ?? '').replace(/\/+$/, '');
  if (basePath !== '' && !basePath.startsWith('/')) throw new TypeError(`createLiveHandler: basePath must start with '/' (got '${basePath}')`);
  const clientBuffer = wholeOption('createLiveHandler', 'clientBuffer', options.clientBuffer, 1_000_000, 1);
  const pollInterval = wholeOption('createLiveHandler', 'pollInterval', options.pollInterval, 1000, 1);
  const storedLimit = wholeOption('createLiveHandler', 'storedLimit', options.storedLimit, 50, 1);
  const heartbeatInterval = wholeOption('createLiveHandler', 'heartbeatInterval', options.heartbeatInterval, 15_000, 0);

  async function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (authorize) {
      const verdict = await authorize(req);
      if (verdict === 401) throw new Refusal(401, 'not authenticated: this live view asks for credentials (its authorize hook refused the request)');
      if (verdict !== true) throw new Refusal(403, 'forbidden: this live view refused the request (its authorize hook said no)');
    }
    const method = req.method ?? 'GET';
    if (path === '/' || path === '/index.html') {
      allow(method, 'GET');
      res.writeHead(200, pageHeaders());
      res.end(method === 'HEAD' ? undefined : pageHtml());
      return;
    }
    if (path === '/runs') {
      allow(method, 'GET');
      return json(res, 200, { runs: await listRuns() });
    }
    const match = /^\/runs\/([^/]+)(\/events|\/cancel)?$/.exec(path);
    if (!match) throw new Refusal(404, `no route ${path}: the live view serves GET /, GET /runs, GET /runs/<id>, GET /runs/<id>/events and POST /runs/<id>/cancel`);
    const id = decodeURIComponent(match[1] as string);
    if (match[2] === '/cancel') return cancel(req, res, id, method);
    allow(method, 'GET');
    if (match[2] === '/events') return events(req, res, id);
    const view = live?.view(id) ?? (store ? await storedView(store, id, links).catch(unknownId(id)) : undefined);
    if (!view) throw notFound(id);
    return json(res, 200, view);
  }

  async function listRuns(): Promise<RunListing[]> {
    const here = live?.list() ?? [];
    if (!store) return here;
    const seen = new Set(here.map((r) => r.runId));
    return [...here, ...(await storedRuns(store, storedLimit, links)).filter((r) => !seen.has(r.runId))];
  }

  async function events(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const afterSeq = lastEventId(req);
    if (live?.view(id)) {
      res.writeHead(200, SSE_HEADERS);
      live.stream(id, res, afterSeq, { limit: clientBuffer, heartbeatMs: heartbeatInterval });
      return;
    }
    const view = store ? await storedView(store, id, links).catch(unknownId(id)) : undefined;
    if (!store || !view) throw notFound(id);
    res.writeHead(200, SSE_HEADERS);
    // The store is read a page at a time as the client takes it (room()), so its queue never outgrows a page.
    const client = new SseClient(res, { limit: Number.MAX_SAFE_INTEGER, resync: () => '', heartbeatMs: heartbeatInterval });
    await streamStored(store, id, client, afterSeq, pollInterval, links);
  }

  function cancel(_req: IncomingMessage, res: ServerResponse, id: string, method: string): void {
    if (method !== 'POST') throw new Refusal(405, `use POST to cancel a run (got ${method})`, { allow: 'POST' });
    if (!options.allowCancel) {
      throw new Refusal(405, 'cancelling runs over HTTP is off: createLiveHandler({ allowCancel: true }) turns it on');
    }
    const outcome = live?.cancel(id, new Error('cancelled over HTTP (POST /runs/:id/cancel)')) ?? 'unknown';
    if (outcome === 'unknown') throw new Refusal(404, `no live run '${id}' in this process: only runs this process runs can be cancelled (GET /runs lists them)`);
    if (outcome === 'ended') throw new Refusal(409, `run '${id}' has already ended: there is nothing to cancel`);
    json(res, 202, { runId: id, cancelled: true });
  }

  function notFound(id: string): Refusal {
    const where = store ? (live ? 'in this process nor in the store' : 'in the store') : 'in this process';
    return new Refusal(404, `no run '${id}' ${where}: GET /runs lists the runs${live ? ' (a finished run is kept until keepFinished newer ones have ended)' : ''}`);
  }

  return (req, res, next) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let path = url.pathname;
    if (basePath !== '') {
      if (path !== basePath && !path.startsWith(`${basePath}/`)) {
        if (next) return next();
        return send(res, new Refusal(404, `no route ${path}: the live view is mounted under ${basePath}/`));
      }
      path = path.slice(basePath.length) || '';
    }
    if (path === '') {
      // The page reads the API by relative URLs: it must be served from a path that ends with '/'.
      const original = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
      const [pathname, query] = original.split('?');
      res.writeHead(308, { location: `${pathname}/${query === undefined ? '' : `?${query}`}` });
      res.end();
      return;
    }
    route(req, res, path).catch((error: unknown) => {
      if (error instanceof Refusal && error.status === 404 && next && !/^\/runs(\/|$)/.test(path)) return next();
      send(res, error);
    });
  };
}

function allow(method: string, allowed: 'GET'): void {
  if (method !== allowed && method !== 'HEAD') throw new Refusal(405, `this route takes ${allowed} only (got ${method})`, { allow: `${allowed}, HEAD` });
}

/** The seq a reader resumes after: its Last-Event-ID (header, or `?lastEventId=` for clients that cannot set headers). */
function lastEventId(req: IncomingMessage): number {
  const header = req.headers['last-event-id'];
  const given = (Array.isArray(header) ? header[0] : header) ?? new URL(req.url ?? '/', 'http://localhost').searchParams.get('lastEventId') ?? undefined;
  if (given === undefined || given === '') return 0;
  if (!/^\d{1,15}$/.test(given.trim())) {
    throw new Refusal(400, `Last-Event-ID must be the id of a message this stream sent, a whole number (got '${given.slice(0, 40)}'); leave it out to start from the beginning`);
  }
  return Number(given.trim());
}

function unknownId(id: string): (error: unknown) => never {
  return (error) => {
    // The store refuses ids that are not UUIDs: to the reader that is a run it does not have.
    if (error instanceof Error && error.name === 'RunIdError') {
      throw new Refusal(404, `no run '${id}': run ids are UUIDs, as GET /runs lists them`);
    }
    throw error;
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = safeJson(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function send(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.destroy(error instanceof Error ? error : undefined);
    return;
  }
  if (error instanceof Refusal) {
    for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
    json(res, error.status, { error: error.message });
    return;
  }
  json(res, 500, { error: `the live view failed: ${messageOf(error)}` });
}
