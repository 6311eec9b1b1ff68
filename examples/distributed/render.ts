// The work a `spanflow worker` process runs: a plain function of its input and
// a context (its signal, an idempotency key). The same function runs in
// process, on a thread pool (workerTask) or on a worker of a queue (remoteTask).
import { createHash } from 'node:crypto';
import type { RemoteContext } from '../../distributed/index.ts';

export interface Scene {
  readonly film: string;
  readonly scene: number;
}

export function renderScene(scene: Scene, context: RemoteContext): { scene: number; frames: string; key: string } {
  let digest = createHash('sha256').update(`${scene.film}/${scene.scene}`).digest();
  // CPU-bound frames; a cancelled or timed-out attempt stops between frames.
  for (let frame = 0; frame < 2_000 && !context.signal.aborted; frame++) digest = createHash('sha256').update(digest).digest();
  // The key is the same for every attempt of this scene: use it to make side effects (an upload) safe to repeat.
  return { scene: scene.scene, frames: digest.toString('hex').slice(0, 12), key: context.idempotencyKey };
}
