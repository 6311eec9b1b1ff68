// Values from the command line: durations (7d, 12h, 30m), points in time,
// counts, run statuses and speeds. Each parser names what was wrong and what
// would be right; commander reports its message as a usage error (exit 2).

import { InvalidArgumentError } from 'commander';
import { STORED_RUN_STATUSES, type StoredRunStatus } from '../exporters/postgres/index.ts';

const UNITS: Readonly<Record<string, number>> = { w: 604_800_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
/** Units from the largest down: the order the parts of a duration come in. */
const ORDER = Object.keys(UNITS);
const SHAPE = /^(\d+(?:\.\d+)?(ms|s|m|h|d|w))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g;
const EXAMPLES = 'a number and a unit such as 30m, 12h, 7d or 1h30m (units w, d, h, m, s, ms, each once, largest first)';
/** The longest duration taken: a hundred years, as far back as any date a store holds (and as --days goes). */
const MAX_DAYS = 36_500;

/** `7d` → 604800000. Parts add up, largest unit first: `1h30m`. Throws for anything else, and past a hundred years. */
export function parseDuration(text: string): number {
  const given = text.trim();
  if (!SHAPE.test(given)) throw new InvalidArgumentError(`'${text}' is not a duration: give ${EXAMPLES}.`);
  let total = 0;
  let previous = -1;
  for (const [, amount, unit = ''] of given.matchAll(PART)) {
    const rank = ORDER.indexOf(unit);
    if (rank <= previous) {
      const why = rank === previous ? `the unit ${unit} comes twice` : `${unit} comes after ${ORDER[previous]}`;
      throw new InvalidArgumentError(`'${text}' is not a duration: ${why}; give ${EXAMPLES}.`);
    }
    previous = rank;
    total += Number(amount) * (UNITS[unit] as number);
  }
  if (total > MAX_DAYS * 86_400_000) {
    throw new InvalidArgumentError(`'${text}' is longer than the limit of ${MAX_DAYS} days (about a hundred years): give ${MAX_DAYS}d or less.`);
  }
  return total;
}

/** A point in time: a duration ago (`2h`: two hours ago) or a date (`2025-05-01`, `2025-05-01T12:00:00Z`). */
export function parseWhen(text: string, now = Date.now()): Date {
  const given = text.trim();
  if (SHAPE.test(given)) return new Date(now - parseDuration(given));
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
  if (!(n > 0 && n <= MAX_DAYS)) throw new InvalidArgumentError(`'${text}' is not a number of days: give a positive number up to ${MAX_DAYS}, such as 7 or 0.5.`);
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
