// The work bench/workers.ts runs on worker threads (and, for the speed-up, on
// the main thread): the same functions for raw Piscina and for spanflow.
import { createHash } from 'node:crypto';

/** Nothing: what a pool costs per task. */
export function trivial(n: number): number {
  return n;
}

/** About `ms` of CPU: a busy loop on the clock. */
export function spin(ms: number): number {
  const until = performance.now() + ms;
  let turns = 0;
  while (performance.now() < until) turns++;
  return turns;
}

const block = Buffer.alloc(64 * 1024, 7);

/** CPU-bound work of a fixed size (not a fixed time): `rounds` sha-256s of 64 KiB, chained. */
export function hashRounds(input: { seed: number; rounds: number }): string {
  let digest = createHash('sha256').update(String(input.seed)).digest();
  for (let r = 0; r < input.rounds; r++) digest = createHash('sha256').update(digest).update(block).digest();
  return digest.toString('hex');
}

/** Piscina calls a module's default export when a task names none. */
export default trivial;
