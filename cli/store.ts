// Opening the run store for a command: the database from --database-url (else
// the environment the store reads), the embedded database's folder from
// --data-dir (its file: runs.sqlite, or runs-<schema>.sqlite), the schema from
// --schema; and run ids from their prefixes.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  checkSchemaName,
  createStore,
  DEFAULT_DATA_DIR,
  embeddedFile,
  openStore,
  RunIdError,
  type RunSummary,
  redact,
  type Store,
  type StoreOptions,
  urlFromEnv,
} from '../exporters/postgres/index.ts';
import { messageOf } from '../sdk/index.ts';
import { CommandError, type Output, UsageError } from './io.ts';
import { time } from './render/format.ts';

/** The global options every command takes. */
export interface StoreFlags {
  readonly databaseUrl?: string;
  readonly dataDir?: string;
  readonly schema?: string;
}

interface Target {
  readonly options: StoreOptions;
  readonly location: string;
  /** The embedded database's folder and file, when there is no URL. */
  readonly embedded: { readonly folder: string; readonly file: string } | undefined;
}

function target(out: Output, flags: StoreFlags): Target {
  // --data-dir asks for the embedded database, even when the environment names a server.
  const url = flags.databaseUrl ?? (flags.dataDir === undefined ? urlFromEnv(out.env) : undefined);
  const schemaName = flags.schema ?? out.env.SPANFLOW_SCHEMA ?? 'spanflow';
  let schema: string;
  try {
    schema = checkSchemaName(schemaName);
  } catch (error) {
    throw new UsageError(`--schema: ${messageOf(error)}`);
  }
  if (url !== undefined) {
    if (!/^postgres(ql)?:\/\//.test(url)) {
      throw new UsageError(`--database-url must be a postgres:// URL (got '${redact(url)}'); leave it out for the embedded database in --data-dir`);
    }
    return { options: { url, schema }, location: `${redact(url)} (schema ${schema})`, embedded: undefined };
  }
  const folder = resolve(out.cwd, flags.dataDir ?? out.env.SPANFLOW_DATA_DIR ?? DEFAULT_DATA_DIR);
  const file = embeddedFile(folder, schema);
  return { options: { dataDir: folder, schema }, location: file, embedded: { folder, file } };
}

/** Why there are no runs to read in an embedded folder without its database file, and what to do. */
function noRunsIn({ folder, file }: { readonly folder: string; readonly file: string }): string {
  const why = existsSync(folder) ? `${file} does not exist` : 'the folder does not exist';
  // spanflow before 0.2 kept an embedded Postgres (PGlite) there, which this one does not read.
  const older = existsSync(join(folder, 'PG_VERSION'))
    ? ' (the folder holds runs of the embedded Postgres, PGlite, that earlier versions of spanflow kept: this version keeps them in SQLite and does not read those)'
    : '';
  return (
    `no runs stored in ${folder}: ${why}${older}. Run a pipeline with \`persist: true\` first (\`npm start\` stores the showcase), ` +
    'or point --data-dir (SPANFLOW_DATA_DIR) at another folder, or --database-url (SPANFLOW_DATABASE_URL) at a Postgres server'
  );
}


/**
 * Opens the store, runs `use`, and closes it whatever happens. Reading commands
 * never create tables: a schema that needs migrations is an error that says to
 * run `spanflow migrate`, and a missing embedded folder says where it looked.
 */
export async function withStore<T>(out: Output, flags: StoreFlags, use: (store: Store) => Promise<T>): Promise<T> {
  const where = target(out, flags);
  // Reading creates nothing: SQLite would make an empty database where the user mistyped a folder.
  if (where.embedded !== undefined && !existsSync(where.embedded.file)) throw new CommandError(noRunsIn(where.embedded));
  let store: Store;
  try {
    store = await openStore({ ...where.options, migrate: false });
  } catch (error) {
    throw new CommandError(`cannot open the run store at ${where.location}: ${messageOf(error)}`);
  }
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

/** Runs the pending migrations (creating the schema, and the embedded folder and its database file, when they are missing). */
export async function migrateStore(out: Output, flags: StoreFlags): Promise<{ location: string; applied: string[]; current: string[] }> {
  const where = target(out, flags);
  const store = createStore({ ...where.options, migrate: false });
  try {
    const outcome = await store.migrate();
    return { location: where.location, applied: [...outcome.applied], current: [...outcome.current] };
  } catch (error) {
    throw new CommandError(`cannot migrate the run store at ${where.location}: ${messageOf(error)}`);
  } finally {
    await store.close();
  }
}

/** The full id of the run a prefix names; a clear error, listing the runs, when it names none or several. */
export async function resolveRun(store: Store, prefix: string): Promise<string> {
  try {
    return await store.resolveRunId(prefix);
  } catch (error) {
    if (!(error instanceof RunIdError)) throw error;
    if (error.reason === 'invalid') {
      throw new UsageError(`'${prefix}' is not a run id: give the id, or its first 4 or more characters, as \`spanflow runs\` lists them`);
    }
    if (error.reason === 'unknown') throw new CommandError(`no run id starts with '${prefix}': \`spanflow runs\` lists the runs (--children for sub-pipeline runs)`);
    const shown = error.matches.slice(0, 5);
    const more = error.matches.length > shown.length ? '\n  …and more' : '';
    throw new CommandError(
      `run id prefix '${prefix}' is ambiguous: it matches ${error.matches.length > 5 ? 'more than 5' : error.matches.length} runs\n` +
        `${shown.map((r) => `  ${matchLine(r)}`).join('\n')}${more}\ngive more characters of the one you mean`,
    );
  }
}

function matchLine(run: RunSummary): string {
  return `${run.id}  ${run.pipeline}  ${run.status}  started ${time(run.startedAt)}`;
}

