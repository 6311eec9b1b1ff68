// Runs watched live over HTTP: a LiveRuns passed to pipelines as `observe`, and its handler in a node:http server
// (or Express, Fastify, Hono). Open the printed URL for the page; here the program reads one run's event stream itself.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from '../../sdk/index.ts';
import { createLiveHandler, LiveRuns, type RunView } from '../../exporters/http/index.ts';

const live = new LiveRuns();
const server = createServer(createLiveHandler({ live })).listen(0, '127.0.0.1'); // spanflow serve uses 4319
await new Promise((listening) => server.once('listening', listening));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
console.log(`live view: ${url}/`);

const publish = pipeline('publish', { observe: live })
  .step('fetch', () => 'draft.md', { to: 'render' })
  .step('render', async () => 'post.html');
const run = publish.run(undefined);

// One message per event, its id the event's seq; the server ends the stream after run_end.
const stream = await (await fetch(`${url}/runs/${run.runId}/events`)).text();
const [first, ...rest] = stream.trim().split('\n\n');
console.log(first);
for (const message of rest) {
  const event = JSON.parse(message.slice(message.indexOf('data: ') + 6));
  console.log(`id: ${event.seq}  ${event.type}${event.node ? ` ${event.node}` : ''}${event.status ? ` ${event.status}` : ''}`);
}
const view = (await (await fetch(`${url}/runs/${run.runId}`)).json()) as RunView;
console.log(`GET /runs/${run.runId.slice(0, 8)}…: ${view.status}, ${view.steps.map((s) => `${s.node} ${s.status}`).join(', ')}`);
await run;
server.close();
