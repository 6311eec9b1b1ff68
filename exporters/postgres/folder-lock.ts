// One process at a time in an embedded database folder. PGlite takes no lock
// of its own, and two processes in one folder (`npm start` running while
// `spanflow runs` reads) would each run a Postgres on the same files and
// corrupt them. The lock is a file made exclusively, holding the owner's pid;
// a lock whose process is gone is taken over.

import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive } from './process.ts';

export class FolderBusyError extends Error {
  override name = 'FolderBusyError';
}

/** Locks held by this process, released on exit if nothing released them before. */
const held = new Set<string>();
let exitHook = false;

/** Takes the lock, or gives the pid of the live process that holds it (this one, for another store here). */
function tryTake(file: string): number | undefined {
  if (held.has(file)) return process.pid;
  try {
    const fd = openSync(file, 'wx');
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const owner = Number.parseInt(readFileSync(file, 'utf8'), 10);
  if (Number.isInteger(owner) && owner !== process.pid && processAlive(owner)) return owner;
  // Left by a process that is gone (or unreadable): take it over.
  rmSync(file, { force: true });
  return tryTake(file);
}

/**
 * Takes the lock `file`, waiting up to `waitMs` while another live process
 * holds it (telling `onWait` who), or until `signal` aborts. Returns its release.
 */
export async function lockFolder(
  file: string,
  folder: string,
  waitMs: number,
  { signal, onWait }: { readonly signal?: AbortSignal; readonly onWait?: (pid: number) => void } = {},
): Promise<() => void> {
  const deadline = Date.now() + waitMs;
  for (let owner = tryTake(file); owner !== undefined; owner = tryTake(file)) {
    onWait?.(owner);
    if (Date.now() >= deadline) {
      throw new FolderBusyError(
        `the embedded database in ${folder} is open in another process (pid ${owner}), and only one process at a time may use it: ` +
          'wait for that one to finish, or keep runs in a Postgres server (SPANFLOW_DATABASE_URL=postgres://…)',
      );
    }
    try {
      await sleep(100, undefined, { signal });
    } catch (error) {
      // Aborted: the reason says why (the store closed while it waited).
      signal?.throwIfAborted();
      throw error;
    }
  }
  held.add(file);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const lock of held) rmSync(lock, { force: true });
    });
  }
  return () => {
    if (held.delete(file)) rmSync(file, { force: true });
  };
}
