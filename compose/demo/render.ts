// The demo's distributed task: encoding a clip, run by the `render-worker`
// containers (`spanflow worker --queue render`) for the demo's remote-render
// batch. A little CPU work, so the dashboards show queue wait and run time.
import { createHash } from 'node:crypto';
import type { RemoteContext } from '../../distributed/index.ts';

export interface Clip {
  readonly id: number;
  readonly seconds: number;
}

export function encodeClip(clip: Clip, context: RemoteContext): { id: number; digest: string; key: string } {
  let digest = createHash('sha256').update(`clip-${clip.id}`);
  for (let i = 0; i < clip.seconds * 50 && !context.signal.aborted; i++) digest = createHash('sha256').update(digest.digest());
  return { id: clip.id, digest: digest.digest('hex').slice(0, 12), key: context.idempotencyKey };
}
