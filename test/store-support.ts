// Helpers for the store tests: the test database (a real PostgreSQL, which
// `.ci/run` starts), a fresh schema per test file, and PGlite folders.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openStore, redact, type Store, type StoreOptions } from '../exporters/postgres/index.ts';

export const TEST_DATABASE_URL = process.env.SPANFLOW_TEST_DATABASE_URL || 'postgres://spanflow:spanflow@127.0.0.1:5432/spanflow_test';

/** Runs SQL on the test database directly (not through a store). Fails, saying how to start PostgreSQL, when it is unreachable. */
export async function adminQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    assert.fail(
      `cannot reach the test database at ${redact(TEST_DATABASE_URL)} (${error instanceof Error ? error.message : String(error)}). ` +
        'Start PostgreSQL and create its role and database: `bash .ci/run` does both (pg_ctlcluster 15 main start; ' +
        "su postgres -c psql: create role spanflow login password 'spanflow'; create database spanflow_test owner spanflow), " +
        'or point SPANFLOW_TEST_DATABASE_URL at another server.',
    );
  }
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** A store on the test database in a schema of its own, emptied first (each test file names its own, so files run in parallel). */
export async function testStore(schema: string, options: StoreOptions = {}): Promise<Store> {
  await adminQuery(`drop schema if exists "${schema}" cascade`);
  return openStore({ url: TEST_DATABASE_URL, schema, ...options });
}

/** A fresh temporary folder, removed by `cleanup()`. */
export function tempFolder(prefix: string): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), `spanflow-${prefix}-`));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Collects process warnings of one type until `stop()`; `waitFor` resolves once one matches. */
export function captureWarnings(type: string) {
  const messages: string[] = [];
  const listen = (warning: Error) => {
    if (warning.name === type) messages.push(warning.message);
  };
  process.on('warning', listen);
  return {
    messages,
    stop: () => process.off('warning', listen),
    waitFor: async (pattern: RegExp): Promise<void> => {
      while (!messages.some((m) => pattern.test(m))) await new Promise((resolve) => setTimeout(resolve, 5));
    },
  };
}
