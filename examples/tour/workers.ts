// CPU-heavy work on worker threads: what workerTask() returns is a graph step
// and a stage task at once; retries, timeouts, events and spans stay the engine's.
import { pipeline, stages } from '../../sdk/index.ts';
import { workerTask } from '../../worker-threads/index.ts';
import type { checksum } from './checksum.ts';

type File = { name: string; megabytes: number };
const hash = workerTask<typeof checksum>(new URL('./checksum.ts', import.meta.url), 'checksum');

// As a graph step: its input is the run's state, its output the step's output.
const one = await pipeline<File>('checksum-one').step('hash', hash, { timeout: 10_000, retry: 2 }).run({ name: 'movie.mp4', megabytes: 64 });
console.log(one.status, one.outputs.hash);

// As a stage task: its input is each item.
const parts = Array.from({ length: 6 }, (_, i) => ({ name: `part-${i}.bin`, megabytes: 16 }));
const all = await stages<File>('checksum-parts').stage('hash', { workers: 4, tasks: hash, timeout: 10_000 }).run(parts);
console.log(all.status, `${all.completed} hashed on worker threads`);
console.log(all.results.join('\n'));
