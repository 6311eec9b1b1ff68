// spanflow/postgres: runs kept through Kysely in a Postgres server, or by
// default in an embedded SQLite database (node:sqlite in a worker thread).
// Importing this module makes `persist: true` record into the default store;
// pass `persist: store` for another.

import { registerDefaultRecorder } from '../../sdk/index.ts';
import { defaultStore } from './default.ts';

registerDefaultRecorder(defaultStore);

export { DEFAULT_DATA_DIR, embeddedFile, redact, urlFromEnv } from './connection.ts';
export { EmbeddedWorkerError, SqliteError } from './embedded/errors.ts';
export type { EngineKind } from './engine.ts';
export { closeDefaultStore, configureDefaultStore, defaultStore } from './default.ts';
export { checkSchemaName, MigrationError, type MigrationOutcome } from './migrate.ts';
export { asEvent, RunIdError } from './queries/runs.ts';
export type * from './queries/types.ts';
export { type Database, OPEN_RUN_STATUSES, STORED_RUN_STATUSES, type StoredNodeKind, type StoredRunStatus } from './schema.ts';
export { StoreError } from './faults.ts';
export { createStore, openStore, type Recoverable, Store, type StoreOptions } from './store.ts';
export type { WriteCounts } from './writer.ts';
