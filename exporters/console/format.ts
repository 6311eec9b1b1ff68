// Small text helpers shared by the console views: numbers, durations, bars, truncation.

const grouped = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** 12345 -> "12,345". */
export function count(value: number): string {
  return grouped.format(value);
}

/** Items per second: "2,345", "12.5", "0.42". */
export function rate(value: number): string {
  if (!Number.isFinite(value) || value <= 0) return '0';
  if (value >= 100) return grouped.format(value);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** 420 -> "0.4s", 65000 -> "1m 05s", 3_725_000 -> "1h 02m". */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '--';
  const seconds = ms / 1000;
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const totalSeconds = Math.round(seconds);
  const minutes = Math.floor(totalSeconds / 60);
  if (minutes < 60) return `${minutes}m ${String(totalSeconds % 60).padStart(2, '0')}s`;
  const hours = Math.floor(minutes / 60);
  return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/** Whole percent of `done` in `total`, 0..100. */
export function percent(done: number, total: number): number {
  if (total <= 0) return 0;
  return Math.max(0, Math.min(100, Math.floor((done / total) * 100)));
}

/** `[██████░░░░]` with `width` cells inside the brackets. */
export function bar(done: number, total: number, width: number): string {
  const cells = Math.max(1, width);
  const fraction = total > 0 ? Math.max(0, Math.min(1, done / total)) : 0;
  const filled = Math.round(fraction * cells);
  return `[${'█'.repeat(filled)}${'░'.repeat(cells - filled)}]`;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching escape sequences is the point
const ESCAPES = /\u001B(?:\[[0-9;?]*[ -/]*[@-~]|\][^\u0007\u001B]*(?:\u0007|\u001B\\)?|[@-Z\\-_])/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const BREAKS = /\s*[\n\r]\s*|[\u0000-\u001F\u007F]/g;

/**
 * Any value as text, never throwing: plain JavaScript can hand a dashboard a number where a
 * string belongs (a task status, a name), and a frame must not die on it. Nullish is empty.
 */
export function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return '';
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value); // an object without a prototype has no toString
  }
}

/** One line of plain text: escape sequences (colours, cursor moves) dropped, newlines and other control characters as spaces. */
export function oneLine(text: unknown): string {
  return asText(text).replace(ESCAPES, '').replace(BREAKS, ' ');
}

/** Cut `text` to `width` characters, ending with "…" when cut. Newlines become spaces, escape sequences are dropped. */
export function truncate(text: unknown, width: number): string {
  const flat = oneLine(text);
  if (width <= 0) return '';
  if (flat.length <= width) return flat;
  if (width === 1) return '…';
  return `${flat.slice(0, width - 1)}…`;
}

/** Truncate every line of a block to `width`. */
export function fitLines(text: string, width: number): string {
  return text
    .split('\n')
    .map((line) => (line.length > width ? `${line.slice(0, Math.max(0, width - 1))}…` : line))
    .join('\n');
}
