// A stage pipeline whose middle stage runs on worker processes: start one or
// more workers (on any machine that reaches the database and has this code), then run this:
//   npx spanflow worker --database-url "$SPANFLOW_DATABASE_URL" --queue render --concurrency 4
//   SPANFLOW_DATABASE_URL=postgres://… node examples/distributed/main.ts
// Retries, timeouts, events and spans stay here; a worker that dies mid-scene
// fails that attempt with a WorkerLostError and the retry sends it to another.
import { createDispatcher, remoteTask } from '../../distributed/index.ts';
import { stages } from '../../sdk/index.ts';
import type { renderScene, Scene } from './render.ts';

const url = process.env.SPANFLOW_DATABASE_URL;
if (!url) throw new Error('set SPANFLOW_DATABASE_URL to the postgres:// URL your workers use');

const dispatcher = createDispatcher({ connectionString: url });
const render = remoteTask<typeof renderScene>(new URL('./render.ts', import.meta.url), 'renderScene', { queue: 'render', dispatcher });

const batch = await stages<number>('film')
  .stage('cut', { tasks: (scene: number): Scene => ({ film: 'feature', scene }) })
  .stage('render', { tasks: render, workers: 8, retry: 3, timeout: 60_000 })
  .stage('mux', { tasks: (rendered: { scene: number; frames: string }) => `scene ${rendered.scene}: ${rendered.frames}` })
  .run([1, 2, 3, 4, 5, 6]);
console.log(batch.status, `${batch.completed} scenes rendered on workers`);
console.log(batch.results.join('\n'));
await dispatcher.close();
