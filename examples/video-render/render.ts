// The render farm's CPU work, run on a worker thread (spanflow/workers): each
// frame's pixels are made from the job and the frame number, then hashed into
// a digest chained over every frame. Nothing here yields: a render that runs
// past its step's timeout is stopped with its thread.

import { createHash } from 'node:crypto';
import { trace } from '@opentelemetry/api';

export interface RenderInput {
  readonly jobId: string;
  readonly frames: number;
  /** Bytes of pixels per frame. */
  readonly frameBytes: number;
}

export interface RenderOutput {
  readonly frames: number;
  /** sha-256 chained over every frame, hex. */
  readonly digest: string;
}

export function renderFrames({ jobId, frames, frameBytes }: RenderInput): RenderOutput {
  // A span of the worker's own: it appears under the step's span, in the same trace.
  return trace.getTracer('video-render.renderer').startActiveSpan('encode frames', { attributes: { 'render.frames': frames } }, (span) => {
    const frame = Buffer.alloc(frameBytes);
    const seed = createHash('sha256').update(jobId).digest();
    let digest = Buffer.alloc(32);
    for (let f = 0; f < frames; f++) {
      // Pixel arithmetic: a gradient shifted by the frame number and the job's seed.
      for (let i = 0; i < frameBytes; i += 4) frame[i] = (i + f * 7 + (seed[f % 32] ?? 0)) & 0xff;
      digest = createHash('sha256').update(digest).update(frame).digest();
    }
    span.end();
    return { frames, digest: digest.toString('hex') };
  });
}
