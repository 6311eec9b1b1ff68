// Values from the command line: durations (7d, 12h, 30m), points in time,
// counts, run statuses and speeds. Each parser names what was wrong and what
// would be right; commander reports its message as a usage error (exit 2).

import { InvalidArgumentError } from 'commander';
import { STORED_RUN_STATUSES, type StoredRunStatus } from '../exporters/postgres/index.ts';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/y;
const EXAMPLES = 'a number and a unit such as 30m, 12h, 7d or 1h30m; units ms, s, m, h, d, w';

/** `7d` → 604800000. Parts add up: `1h30m`. Throws for anything else. */
export function parseDuration(text: string): number {
  const given = text.trim();
  let total = 0;
  let at = 0;
  PART.lastIndex = 0;
  while (at < given.length) {
    PART.lastIndex = at;
    const part = PART.exec(given);
    if (!part) break;
    total += Number(part[1]) * (UNITS[part[2] as string] as number);
    at = PART.lastIndex;
  }
  if (given.length === 0 || at !== given.length) throw new InvalidArgumentError(`'${text}' is not a duration: give ${EXAMPLES}.`);
  return total;
}

/** A point in time: a duration ago (`2h`: two hours ago) or a date (`2025-05-01`, `2025-05-01T12:00:00Z`). */
export function parseWhen(text: string, now = Date.now()): Date {
  const given = text.trim();
  if (/^(\d+(?:\.\d+)?(ms|s|m|h|d|w))+$/.test(given)) return new Date(now - parseDuration(given));
  const date = /^\d{4}-\d{2}-\d{2}/.test(given) ? new Date(given) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    throw new InvalidArgumentError(`'${text}' is neither a duration ago (${EXAMPLES}) nor a date (2025-05-01, or 2025-05-01T12:00:00Z).`);
  }
  return date;
}

/** A whole number in a range. */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER): (text: string) => number {
  return (text) => {
    const n = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
      throw new InvalidArgumentError(`'${text}' is not a whole number ${range}.`);
    }
    return n;
  };
}

/** A positive number of days (fractions allowed: 0.5 is twelve hours). */
export function parseDays(text: string): number {
  const n = /^\s*\d+(?:\.\d+)?\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!(n > 0 && n <= 36_500)) throw new InvalidArgumentError(`'${text}' is not a number of days: give a positive number, such as 7 or 0.5.`);
  return n;
}

/** `failed,timed_out` → the statuses, each checked. */
export function parseStatuses(text: string): StoredRunStatus[] {
  const list = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const known = STORED_RUN_STATUSES as readonly string[];
  const bad = list.filter((s) => !known.includes(s));
  if (list.length === 0 || bad.length > 0) {
    const what = list.length === 0 ? 'no status given' : `unknown status ${bad.map((s) => `'${s}'`).join(', ')}`;
    throw new InvalidArgumentError(`${what}: use one or more of ${STORED_RUN_STATUSES.join(', ')}, separated by commas.`);
  }
  return [...new Set(list)] as StoredRunStatus[];
}

/** A replay speed: a positive factor (2 = twice as fast), or 0 for no waiting at all. */
export function parseSpeed(text: string): number {
  const n = /^\s*\d*(?:\.\d+)?\s*$/.test(text) && text.trim() !== '' ? Number(text) : Number.NaN;
  if (!(n >= 0 && Number.isFinite(n))) {
    throw new InvalidArgumentError(`'${text}' is not a speed: give a positive factor (2 plays twice as fast, 0.5 half as fast) or 0 for no waiting.`);
  }
  return n;
}
