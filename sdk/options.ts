// Checks on options shared by graph and stage pipelines: a typo fails at
// definition time with the offending value and the fix, not later and vaguely.

import { DefinitionError } from './errors.ts';

/** A bad value as an error message shows it: strings quoted, objects by their type. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null) return String(value);
  return typeof value;
}

/** Checks a retry option (`n` attempts, or a policy) so a typo fails at definition, not as a silent single attempt. */
export function checkRetry(pipeline: string, where: string, retry: unknown): void {
  if (retry === undefined) return;
  const attempts = typeof retry === 'number' ? retry : typeof retry === 'object' && retry !== null ? (retry as { attempts?: unknown }).attempts : retry;
  if (typeof retry !== 'number' && (typeof retry !== 'object' || retry === null)) {
    throw new DefinitionError(pipeline, [`${where}: retry must be a number of attempts or { attempts, initialDelayMs, ... } (got ${describe(retry)})`]);
  }
  if (attempts !== undefined && !(typeof attempts === 'number' && Number.isInteger(attempts) && attempts >= 1)) {
    throw new DefinitionError(pipeline, [
      `${where}: retry attempts must be a whole number of 1 or more, the first attempt included (got ${describe(attempts)}); use 1 for no retry`,
    ]);
  }
}
