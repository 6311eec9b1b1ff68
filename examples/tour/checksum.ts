// A worker module: plain functions of one input, run on a worker thread.
import { createHash } from 'node:crypto';

export function checksum(file: { name: string; megabytes: number }): string {
  const data = Buffer.alloc(file.megabytes * 1024 * 1024, file.name);
  return `${file.name} sha256 ${createHash('sha256').update(data).digest('hex').slice(0, 16)}`;
}
