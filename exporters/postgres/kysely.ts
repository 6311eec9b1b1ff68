// Kysely, loaded through the engine's loadPeer: it is an optional peer, so
// importing spanflow/postgres where it is not installed fails with a
// MissingDependencyError that names the install command (a static import
// would fail with Node's ERR_MODULE_NOT_FOUND before any of our code ran).
// Files here take Kysely's values from this module and its types from
// `import type … from 'kysely'`.

import type * as KyselyModule from 'kysely';
import type * as KyselyMigration from 'kysely/migration';
import { loadPeer } from '../../sdk/index.ts';

export const kysely = loadPeer<typeof KyselyModule>('kysely', 'spanflow/postgres');

/** Kysely's `sql` template tag. */
export const { sql } = kysely;

/** Kysely's Migrator (from `kysely/migration`, which the main entry does not export). */
export const { Migrator } = loadPeer<typeof KyselyMigration>('kysely/migration', 'spanflow/postgres');
