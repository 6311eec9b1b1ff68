// Words and numbers for people: durations, times, statuses, ids, errors.

import type { ErrorInfo, StepStatus } from '../../sdk/index.ts';
import type { RunSummary, StoredRunStatus } from '../../exporters/postgres/index.ts';
import type { Output } from '../io.ts';

/** 12 ms, 1.25 s, 2m 05s, 1h 02m, 3d 04h; a dash for none. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const a = Math.abs(ms);
  if (a < 0.005) return '0 ms';
  const sign = ms < 0 ? '-' : '';
  if (a < 1000) return `${sign}${a % 1 === 0 || a >= 10 ? Math.round(a) : a.toFixed(a < 1 ? 2 : 1)} ms`;
  if (a < 60_000) return `${sign}${(a / 1000).toFixed(a < 10_000 ? 2 : 1)} s`;
  const pad = (n: number) => String(Math.floor(n)).padStart(2, '0');
  if (a < 3_600_000) return `${sign}${Math.floor(a / 60_000)}m ${pad((a % 60_000) / 1000)}s`;
  if (a < 86_400_000) return `${sign}${Math.floor(a / 3_600_000)}h ${pad((a % 3_600_000) / 60_000)}m`;
  return `${sign}${Math.floor(a / 86_400_000)}d ${pad((a % 86_400_000) / 3_600_000)}h`;
}

/**
 * True when a run's stored duration is only a lower bound: an interrupted
 * run's ends at its last heartbeat or event, and its process may have gone on for a
 * while after it.
 */
export function durationIsLowerBound(run: Pick<RunSummary, 'status'>): boolean {
  return run.status === 'interrupted';
}

/** What a run's duration column says: its length (`≥ 3.05 s` when only a lower bound), or how long it has been going. */
export function runLength(run: RunSummary, now = Date.now()): string {
  if (run.durationMs !== null) return `${durationIsLowerBound(run) ? '≥ ' : ''}${duration(run.durationMs)}`;
  if (run.status === 'running' || run.status === 'pending') return `${duration(now - run.startedAt.getTime())}…`;
  return '—';
}

/** A difference: +1.20 s, -3 ms. */
export function delta(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  return ms >= 0.005 ? `+${duration(ms)}` : duration(ms);
}

const two = (n: number) => String(n).padStart(2, '0');

/** Local time, to the second: 2025-05-01 12:34:56. */
export function time(date: Date | null | undefined): string {
  if (!date) return '—';
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

/** The first 8 characters of a run id: enough to tell runs apart, and a prefix every command takes. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

type Status = StoredRunStatus | StepStatus;

const STYLE: Readonly<Record<Status, Parameters<Output['style']>[0]>> = {
  succeeded: 'green',
  failed: 'red',
  timed_out: 'red',
  cancelled: 'yellow',
  interrupted: 'yellow',
  suspended: 'magenta',
  pending: 'cyan',
  queued: 'cyan',
  running: 'cyan',
  retrying: 'yellow',
  skipped: 'gray',
};

/** A status word, coloured on a terminal. Unknown words come out as they are. */
export function status(out: Output, value: string): string {
  const format = STYLE[value as Status];
  return format ? out.style(format, value) : value;
}

/** Causes an error line follows. */
const MAX_CAUSES = 4;

/**
 * `Type: message`, on one line, then each cause the message does not already
 * say (an error handler's error hides the one it handled otherwise).
 */
export function errorLine(error: ErrorInfo | null | undefined): string {
  if (!error) return '';
  let line = `${oneLine(error.type)}: ${oneLine(error.message)}`;
  let cause = error.cause;
  for (let depth = 0; cause && depth < MAX_CAUSES; cause = cause.cause, depth++) {
    const said = oneLine(cause.message);
    if (!line.includes(said)) line += ` (caused by ${oneLine(cause.type)}: ${said})`;
  }
  return line;
}

/** Text on one line (line breaks and tabs become spaces, other control characters visible), for table cells. */
export function oneLine(text: string): string {
  return visible(text.replace(/[\r\n\t]+/g, ' '));
}

/**
 * Characters that would break a line or a table, or act on the terminal:
 * C0 and C1 controls (newline, carriage return, escape…), DEL, the line and
 * paragraph separators, and the bidirectional overrides that reorder text.
 */
const CONTROL = /[\p{Cc}\u2028\u2029\u202A-\u202E\u2066-\u2069]/gu;
const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Text as it is, with control characters written out (`\n`, `\x1b`, `\u2028`): a step name with a newline stays on its row. */
export function visible(text: string): string {
  return text.replace(CONTROL, (c) => {
    const code = c.codePointAt(0) ?? 0;
    return NAMED[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}

/** A value in a cell: strings as they are, anything else as JSON. */
export function plain(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
}

/** 0.875 → 87.5%. */
export function percent(ratio: number | null | undefined): string {
  return ratio === null || ratio === undefined ? '—' : `${(ratio * 100).toFixed(ratio === 1 || ratio === 0 ? 0 : 1)}%`;
}

/** `3 runs`, `1 run`. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
