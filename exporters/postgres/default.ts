// The store behind `persist: true`: made on first use from the environment
// (SPANFLOW_DATABASE_URL, DATABASE_URL, else the embedded SQLite database in
// SPANFLOW_DATA_DIR or .spanflow/db), and closed (written out) when the process has nothing else to do.

import { createStore, type Store, type StoreOptions } from './store.ts';

let store: Store | undefined;
let options: StoreOptions = {};

/** The default store, made on first use. */
export function defaultStore(): Store {
  if (!store) {
    const made = createStore(options);
    store = made;
    // When the event loop empties, write what is left and close: a script needs no close() of its own.
    process.once('beforeExit', () => {
      if (store === made) void closeDefaultStore();
    });
  }
  return store;
}

/** Sets the options of the default store; takes effect for the next one made (closing the current one). */
export async function configureDefaultStore(given: StoreOptions): Promise<void> {
  options = given;
  await closeDefaultStore();
}

/** Writes out and closes the default store, if one was made; the next `persist: true` makes a new one. */
export async function closeDefaultStore(): Promise<void> {
  const current = store;
  store = undefined;
  await current?.close();
}
