// The embedded database's worker thread dies (it exits, or throws where nothing
// catches it): the query under way fails, and so does every later one, at
// once, with an EmbeddedWorkerError that says so, which no retry is spent on.
// And the thread holds no process open while it waits for nothing.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Kysely, sql } from 'kysely';
import { EmbeddedWorkerError, openStore } from '../../exporters/postgres/index.ts';
import { EmbeddedDialect, storedValues } from '../../exporters/postgres/embedded/dialect.ts';
import { classify } from '../../exporters/postgres/faults.ts';
import { HANG_GUARD, tempFolder } from '../support.ts';

const folder = tempFolder('embedded-worker');
after(() => folder.cleanup());

const DYING = new URL('../fixtures/store-dying-worker.ts', import.meta.url);

function dying(name: string) {
  const file = join(folder.path, `${name}.sqlite`);
  return { file, db: new Kysely({ dialect: new EmbeddedDialect({ file, schema: 'spanflow', busyTimeoutMs: 1000, worker: DYING }), plugins: [storedValues] }) };
}

describe("the embedded database's worker thread dies", () => {
  for (const [how, said] of [
    ['exit', 'exited (code 3)'],
    ['throw', 'failed: the worker broke'],
  ] as const) {
    test(`it ${how}s mid-query: that query and every later one fail with an EmbeddedWorkerError, not retried`, HANG_GUARD, async () => {
      const { file, db } = dying(how);
      try {
        assert.deepEqual((await sql<{ n: number }>`select 1 as n`.execute(db)).rows, [{ n: 1 }], 'it works until then');
        const expected = {
          name: 'EmbeddedWorkerError',
          message: `the embedded database's worker thread ${said}: nothing more can be written to ${file} or read from it by this store (open a new one)`,
        };
        const dead = await sql.raw(`select '${how}'`).execute(db).then(
          () => assert.fail('the query under way fails'),
          (error: unknown) => error,
        );
        assert.ok(dead instanceof EmbeddedWorkerError);
        assert.deepEqual({ name: dead.name, message: dead.message }, expected);
        assert.equal(classify(dead), 'permanent', 'the writer gives up on the store at once, reporting it once');
        await assert.rejects(sql`select 1`.execute(db), expected, 'a later query fails at once');
      } finally {
        await db.destroy();
      }
    });
  }

  test("a store's thread holds no process open: a script that leaves a store open ends by itself, and its rows are written", HANG_GUARD, async () => {
    const dataDir = join(folder.path, 'left-open');
    // No close(), nothing else alive: the thread, idle, lets the process end (its rows were flushed; beforeExit closes the default store).
    const script = `
      import { openStore } from '${new URL('../../exporters/postgres/index.ts', import.meta.url).href}';
      import { pipeline } from '${new URL('../../sdk/index.ts', import.meta.url).href}';
      const store = await openStore({ dataDir: ${JSON.stringify(dataDir)} });
      const { runId } = await pipeline('left-open').step('only', () => 'done').run(undefined, { persist: store });
      await store.flush();
      console.log(runId);`;
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 });
    assert.equal(stderr, '');
    const store = await openStore({ dataDir });
    try {
      assert.equal((await store.getRun(stdout.trim()))?.status, 'succeeded');
    } finally {
      await store.close();
    }
  });
});
