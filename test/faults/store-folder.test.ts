// The embedded database's folder cannot be had: another process holds it, or
// this process may not write it. A process persisting a run into it reports
// once, with the real cause (never `[object Object]`) and what to do, counts
// every row as dropped, and ends by itself with exit code 0; the folder keeps
// what it held.
//
// Read-only, as root too: root writes through any file mode (the capabilities
// CAP_DAC_OVERRIDE and CAP_FOWNER), so as root the child runs under setpriv
// without them in its bounding set, and the modes bind it as they bind anyone;
// as another user, the modes alone do.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openStore } from '../../exporters/postgres/index.ts';
import { pipeline } from '../../sdk/index.ts';
import { type ChildReport, cleanExit, givingUp, killChildren, startFaultChild } from '../fixtures/store-fault.ts';
import { HANG_GUARD, tempFolder } from '../support.ts';

const folder = tempFolder('folder-faults');
after(() => {
  killChildren();
  writable(folder.path);
  folder.cleanup();
});

/** The command that makes file modes bind the child (see the top of this file). */
function modesBind(): string[] {
  if (process.getuid?.() !== 0) return [];
  const found = spawnSync('setpriv', ['--version']);
  assert.equal(found.status, 0, "the tests run as root: read-only folders need util-linux's setpriv to drop root's override of file modes (apt-get install util-linux)");
  return ['setpriv', '--bounding-set', '-dac_override,-dac_read_search,-fowner'];
}

/** Sets the mode of a folder and everything in it: read-only (a-w), or writable again (u+w). */
function setModes(path: string, change: (mode: number) => number): void {
  chmodSync(path, change(statSync(path).mode));
  if (!statSync(path).isDirectory()) return;
  for (const entry of readdirSync(path)) setModes(join(path, entry), change);
}
const readOnly = (path: string) => setModes(path, (mode) => mode & ~0o222);
const writable = (path: string) => setModes(path, (mode) => mode | 0o200);

/** Every event counted as dropped, the metric agreeing, the run's end not stored; one warning, the failure's. */
function assertAllDropped(report: ChildReport): string {
  assert.equal(report.status, 'succeeded', 'the run ends as it would have without a store');
  assert.equal(report.writes.written, 0);
  assert.equal(report.writes.written + report.writes.droppedEvents, report.produced, 'rows written + rows counted as dropped = rows produced');
  assert.equal(report.writes.buffered, 0);
  assert.equal(report.writes.unendedRuns, 1, 'the run ended, and its end is not stored');
  assert.deepEqual(report.metric, { write_failed: report.writes.dropped }, 'spanflow.persistence.dropped counts every row dropped');
  assert.equal(report.warnings.length, 1, `one warning: ${report.warnings.join(' | ')}`);
  assert.deepEqual(givingUp(report), report.warnings);
  return report.warnings[0] ?? '';
}

describe('an embedded folder this process cannot have', () => {
  // One folder made (PGlite's first open, initdb, takes seconds) with one run in it, copied for each test.
  const template = join(folder.path, 'template');
  let earlier: string;
  before(async () => {
    const store = await openStore({ dataDir: template });
    earlier = (await pipeline('earlier')
      .step('only', () => 'kept')
      .run(undefined, { persist: store })).runId;
    await store.close();
  }, HANG_GUARD);
  const copy = (name: string) => {
    const dataDir = join(folder.path, name);
    cpSync(template, dataDir, { recursive: true });
    return dataDir;
  };

  test('held by another process: a second waits its lockWaitMs, then fails naming the holder; a close during the wait settles in time', HANG_GUARD, async () => {
    const dataDir = copy('shared');
    const holder = startFaultChild({ dataDir, store: 'explicit', pause: true });
    await holder.phase('paused');

    // The default store, closed when the process has nothing else to do: the wait for the folder is bounded by lockWaitMs.
    const waitedOut = await cleanExit(startFaultChild({ dataDir, store: 'default', lockWaitMs: 300, closeTimeoutMs: 5000 }));
    assert.match(
      assertAllDropped(waitedOut),
      new RegExp(
        `cannot write to ${dataDir}: the embedded database in ${dataDir} is open in another process \\(pid ${holder.pid}\\), and only one process at a time may use it: wait for that one to finish, or keep runs in a Postgres server \\(SPANFLOW_DATABASE_URL=postgres://…\\)\\. Not retrying`,
      ),
    );

    // Still waiting for the folder when a script's `await store.close()` comes: the wait ends with close's time limit.
    const closedWaiting = await cleanExit(startFaultChild({ dataDir, store: 'explicit', lockWaitMs: 60_000, closeTimeoutMs: 500 }));
    assert.equal(closedWaiting.writes.written + closedWaiting.writes.droppedEvents, closedWaiting.produced);
    assert.equal(closedWaiting.writes.unendedRuns, 1);
    assert.deepEqual(closedWaiting.metric, { write_failed: closedWaiting.writes.dropped });
    assert.equal(closedWaiting.warnings.length, 1, closedWaiting.warnings.join(' | '));
    assert.match(
      closedWaiting.warnings[0] ?? '',
      new RegExp(
        `close\\(\\) gave up after \\d+ ms: ${closedWaiting.writes.dropped} rows not written to ${dataDir} \\(still waiting for the embedded database in ${dataDir}, which another process \\(pid ${holder.pid}\\) holds\\)`,
      ),
    );

    holder.go();
    const held = await cleanExit(holder);
    assert.deepEqual({ ...held.writes }, { written: held.produced, dropped: 0, droppedEvents: 0, buffered: 0, unendedRuns: 0 });
    const store = await openStore({ dataDir });
    try {
      const { runs } = await store.listRuns();
      assert.deepEqual(
        runs.map((r) => [r.id, r.status]),
        [
          [held.runId, 'succeeded'],
          [earlier, 'succeeded'],
        ],
        "the holder's run is stored whole; the others' runs are not there",
      );
      assert.equal((await store.runEvents(held.runId ?? '')).length, held.produced);
    } finally {
      await store.close();
    }
  });

  test('read-only: the real cause and the fix, every row counted, and the runs already there kept', HANG_GUARD, async () => {
    const dataDir = copy('read-only');
    readOnly(dataDir);
    try {
      const report = await cleanExit(startFaultChild({ dataDir, store: 'explicit', closeTimeoutMs: 5000 }, {}, modesBind()));
      assert.match(
        assertAllDropped(report),
        new RegExp(
          `cannot write to ${dataDir}: EACCES: permission denied, access '${dataDir}': make the folder \\(and every file in it\\) writable by this process, or point SPANFLOW_DATA_DIR \\(dataDir\\) at one that is\\. Not retrying`,
        ),
      );
    } finally {
      writable(dataDir);
    }
    const store = await openStore({ dataDir });
    try {
      assert.deepEqual(
        (await store.listRuns()).runs.map((r) => [r.id, r.status]),
        [[earlier, 'succeeded']],
      );
    } finally {
      await store.close();
    }
  });

  test("read-only, with a PGlite made by the application: PGlite's own file-system error, told in words", HANG_GUARD, async () => {
    const dir = join(folder.path, 'given');
    mkdirSync(dir);
    readOnly(dir);
    const report = await cleanExit(startFaultChild({ pgliteDir: dir, store: 'explicit', closeTimeoutMs: 5000 }, {}, modesBind()));
    assert.match(
      assertAllDropped(report),
      /cannot write to PGlite \(given\): permission denied \(EACCES, in PGlite's file system\): make the folder \(and every file in it\) writable by this process/,
    );
  });
});
