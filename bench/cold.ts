// The first runs of a fresh process, where the JIT has not warmed up yet: `node bench/cold.ts <entry> <runs>`
// imports spanflow from <entry> (the built package, dist/sdk/index.js, as `npm install` gives it; or the
// TypeScript sources, run under Node's type stripping), builds a 10-step linear pipeline of async no-op
// steps, and prints µs per run over its first <runs> runs as JSON. bench/graph.ts spawns it.

import { pathToFileURL } from 'node:url';

const [entry, runsArg] = process.argv.slice(2);
const runs = Number(runsArg);
if (!entry || !(runs >= 1)) throw new Error('usage: node bench/cold.ts <spanflow entry: dist/sdk/index.js or sdk/index.ts> <runs>');
const { pipeline } = (await import(pathToFileURL(entry).href)) as typeof import('../sdk/index.ts');

const STEPS = 10;
let linear = pipeline(`linear-${STEPS}`);
for (let i = 0; i < STEPS; i++) linear = linear.step(`s${i}`, async () => {}, i + 1 < STEPS ? { to: `s${i + 1}` } : {});
linear.validate();

const begun = performance.now();
for (let i = 0; i < runs; i++) {
  const result = await linear.run(undefined);
  if (result.status !== 'succeeded') throw new Error(`linear run ended ${result.status}: ${result.error?.message}`);
}
console.log(JSON.stringify({ usPerRun: ((performance.now() - begun) * 1000) / runs }));
