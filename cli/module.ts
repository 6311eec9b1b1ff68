// A user's module, imported for a command (`graph`, `resume`, `retry`): its
// top-level code runs; its exports are looked through for pipelines.

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { messageOf } from '../sdk/index.ts';
import { CommandError, type Output } from './io.ts';

/** Imports the module at `path` (from the current folder); a missing file or a failing import is a CommandError. */
export async function importModule(out: Output, path: string): Promise<Record<string, unknown>> {
  const file = resolve(out.cwd, path);
  if (!existsSync(file)) throw new CommandError(`no file at ${file}: give the path of a module that exports pipelines`);
  try {
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new CommandError(`importing ${path} failed: ${messageOf(error)}`);
  }
}

/**
 * The exports of a module that `is` accepts, each value once (the first name it is exported under).
 * Duck-typed rather than `instanceof`: a module may reach the engine by another path (the package name, a copy).
 */
export function exportsOf<T>(module: Readonly<Record<string, unknown>>, is: (value: unknown) => value is T): { readonly exportName: string; readonly value: T }[] {
  const seen = new Set<unknown>();
  const found: { exportName: string; value: T }[] = [];
  for (const [exportName, value] of Object.entries(module)) {
    if (seen.has(value) || !is(value)) continue;
    found.push({ exportName, value });
    seen.add(value);
  }
  return found;
}
