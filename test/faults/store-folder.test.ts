// The embedded database's folder, as processes meet it: one this process may
// not write (the folder read-only, or the database file alone), shared with
// another process writing at once, or with one that holds the write lock. A
// process persisting a run there reports once, with the real cause and what
// to do, counts every row it could not write, and ends by itself with exit
// code 0; the folder keeps what it held. (Killed mid-run: store-crash.test.ts.)
//
// Read-only, as root too: root writes through any file mode (the capabilities
// CAP_DAC_OVERRIDE and CAP_FOWNER), so as root the child runs under setpriv
// without them in its bounding set, and the modes bind it as they bind anyone;
// as another user, the modes alone do.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { embeddedFile, openStore } from '../../exporters/postgres/index.ts';
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

/** Every event written, nothing dropped. */
function assertAllWritten(report: ChildReport): void {
  assert.equal(report.status, 'succeeded');
  assert.deepEqual({ ...report.writes }, { written: report.produced, dropped: 0, droppedEvents: 0, buffered: 0, unendedRuns: 0 });
}

/** The runs stored in `dataDir`, newest first, as [id, status], and each one's events. */
async function storedRuns(dataDir: string): Promise<{ runs: [string, string][]; events: Map<string, number> }> {
  const store = await openStore({ dataDir });
  try {
    const { runs } = await store.listRuns();
    const events = new Map<string, number>();
    for (const run of runs) events.set(run.id, (await store.runEvents(run.id)).length);
    return { runs: runs.map((r) => [r.id, r.status]), events };
  } finally {
    await store.close();
  }
}

describe('an embedded folder this process cannot write', () => {
  // One folder with one run in it, copied for each test.
  const template = join(folder.path, 'template');
  let earlier: string;
  before(async () => {
    const store = await openStore({ dataDir: template });
    earlier = (
      await pipeline('earlier')
        .step('only', () => 'kept')
        .run(undefined, { persist: store })
    ).runId;
    await store.close();
  }, HANG_GUARD);
  const copy = (name: string) => {
    const dataDir = join(folder.path, name);
    cpSync(template, dataDir, { recursive: true });
    return dataDir;
  };

  test('a read-only folder: the real cause and the fix, every row counted, and the runs already there kept', HANG_GUARD, async () => {
    const dataDir = copy('read-only');
    readOnly(dataDir);
    try {
      const report = await cleanExit(startFaultChild({ dataDir, store: 'explicit', closeTimeoutMs: 5000 }, {}, modesBind()));
      assert.match(
        assertAllDropped(report),
        new RegExp(
          `cannot write to ${embeddedFile(dataDir, 'spanflow')}: EACCES: permission denied, access '${dataDir}': make the folder \\(and every file in it\\) writable by this process, or point SPANFLOW_DATA_DIR \\(dataDir\\) at one that is\\. Not retrying`,
        ),
      );
    } finally {
      writable(dataDir);
    }
    assert.deepEqual((await storedRuns(dataDir)).runs, [[earlier, 'succeeded']]);
  });

  test('a read-only database file in a writable folder: the same, naming the file', HANG_GUARD, async () => {
    const dataDir = copy('read-only-file');
    const file = embeddedFile(dataDir, 'spanflow');
    readOnly(file);
    try {
      const report = await cleanExit(startFaultChild({ dataDir, store: 'default', closeTimeoutMs: 5000 }, {}, modesBind()));
      assert.match(
        assertAllDropped(report),
        new RegExp(`cannot write to ${file}: EACCES: permission denied, access '${file}': make the folder \\(and every file in it\\) writable by this process.*\\. Not retrying`),
      );
    } finally {
      writable(file);
    }
    assert.deepEqual((await storedRuns(dataDir)).runs, [[earlier, 'succeeded']]);
  });
});

describe('an embedded database file that is not one', () => {
  test('opening it fails at once with what it is and what to do, and the file is left as it was', HANG_GUARD, async () => {
    const dataDir = join(folder.path, 'not-a-database');
    mkdirSync(dataDir);
    const file = embeddedFile(dataDir, 'spanflow');
    const text = 'these are notes, not runs\n'.repeat(200);
    writeFileSync(file, text);
    await assert.rejects(openStore({ dataDir }), {
      name: 'StoreError',
      message: 'file is not a database: the file is damaged or is not a spanflow database: move it away (the store starts a new one) or point SPANFLOW_DATA_DIR (dataDir) at another folder',
    });
    assert.equal(readFileSync(file, 'utf8'), text);
  });
});

describe('an embedded folder another process uses', () => {
  test('another process writing at once: both write every row, and both runs are stored whole', HANG_GUARD, async () => {
    const dataDir = join(folder.path, 'two-writers');
    // The first holds its store open mid-run (its first rows written), while the second runs from start to end.
    const first = startFaultChild({ dataDir, store: 'explicit', pause: true, tokens: 200, tokensAfter: 200 });
    await first.phase('paused');
    const second = await cleanExit(startFaultChild({ dataDir, store: 'default', tokens: 500, tokensAfter: 500 }));
    assertAllWritten(second);
    first.go();
    const held = await cleanExit(first);
    assertAllWritten(held);
    const stored = await storedRuns(dataDir);
    assert.deepEqual(stored.runs.toSorted(), [
      [held.runId, 'succeeded'],
      [second.runId, 'succeeded'],
    ].toSorted());
    assert.equal(stored.events.get(held.runId ?? ''), held.produced);
    assert.equal(stored.events.get(second.runId ?? ''), second.produced);
  });

  test('another process holding the write lock: told once, tried again, and every row written once it lets go', HANG_GUARD, async () => {
    const dataDir = join(folder.path, 'lock-held');
    await (await openStore({ dataDir })).close();
    const holder = new DatabaseSync(embeddedFile(dataDir, 'spanflow'));
    holder.exec('begin immediate');
    let released = false;
    try {
      // Its run ends at once; its close() then holds the process while the rows wait (up to closeTimeoutMs, 10 s).
      const child = startFaultChild({ dataDir, store: 'explicit', busyTimeoutMs: 20 });
      await child.said(/database is locked\); retrying with backoff/);
      holder.exec('rollback');
      released = true;
      const report = await cleanExit(child);
      assertAllWritten(report);
      assert.equal(report.warnings.length, 1, report.warnings.join(' | '));
      assert.match(report.warnings[0] ?? '', /cannot write to .*runs\.sqlite \(database is locked\); retrying with backoff/);
    } finally {
      if (!released) holder.exec('rollback');
      holder.close();
    }
  });

  test('another process holding the database exclusively past close: close() gives up in time, counts every row, and the process ends', HANG_GUARD, async () => {
    const dataDir = join(folder.path, 'exclusive');
    await (await openStore({ dataDir })).close();
    // An exclusive lock, kept: this store cannot even open the file (SQLite's own wait for it is cut short by the close).
    const holder = new DatabaseSync(embeddedFile(dataDir, 'spanflow'));
    holder.exec('pragma locking_mode = exclusive; begin exclusive');
    try {
      const report = await cleanExit(startFaultChild({ dataDir, store: 'explicit', closeTimeoutMs: 500 }));
      assert.equal(report.status, 'succeeded');
      assert.equal(report.writes.written, 0);
      assert.equal(report.writes.written + report.writes.droppedEvents, report.produced, 'rows written + rows counted as dropped = rows produced');
      assert.equal(report.writes.unendedRuns, 1);
      assert.deepEqual(report.metric, { write_failed: report.writes.dropped });
      // The cause: SQLite still waiting for the file (its busy timeout, 5 s, outlasts the close), or its refusal after.
      assert.deepEqual(
        givingUp(report).map((w) => w.replace(/after \d+ ms/, 'after … ms').replace('(database is locked)', '(the database did not answer in time)')),
        [
          `spanflow/postgres: close() gave up after … ms: ${report.writes.dropped} rows not written to ${embeddedFile(dataDir, 'spanflow')} (the database did not answer in time); counted as dropped (store.writes, spanflow.persistence.dropped); the end of 1 run is not stored (a run whose start was stored reads running, then interrupted)`,
        ],
      );
    } finally {
      holder.exec('rollback');
      holder.close();
    }
  });
});
