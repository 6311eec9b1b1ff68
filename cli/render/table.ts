// Tables with cli-table3, fitted to the terminal: columns as wide as their
// widest cell, and when the whole is too wide, the widest column is cut
// (ending in …) until it fits. One line per row: control characters left in
// a cell (a name with a newline) are written out; the colours cells were
// given are kept, so commands pass names through `visible()` themselves.

import { stripVTControlCharacters } from 'node:util';
import Table from 'cli-table3';
import type { Output } from '../io.ts';
import { visible } from './format.ts';

const GAP = 2;
const MIN_WIDTH = 6;
const FLEX_MIN = 16;

const CHARS = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: ' '.repeat(GAP),
};

export interface TableOptions {
  /** Columns to right-align (by position). */
  readonly right?: readonly number[];
  /** The width to fit; default the terminal's. */
  readonly width?: number;
  /** A column (by position) that gives way first, down to 16 characters, before the widest is cut: a free-text note. */
  readonly flex?: number;
}

/** Characters that take two columns on a terminal: East Asian wide and full-width forms, and emoji. */
const WIDE = /[\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA000-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6\u{1F300}-\u{1F64F}\u{1F900}-\u{1F9FF}\u{20000}-\u{3FFFD}]/u;
/** Characters that take none: combining marks, zero-width joiners, variation selectors. */
const ZERO = /^[\p{M}\p{Cf}]$/u;

/** The width a cell takes on screen (colours left out, wide characters counted twice). */
export function textWidth(text: string): number {
  let width = 0;
  for (const line of stripVTControlCharacters(text).split('\n')) {
    let w = 0;
    for (const c of line) w += ZERO.test(c) ? 0 : WIDE.test(c) ? 2 : 1;
    width = Math.max(width, w);
  }
  return width;
}

/** Column widths that fit `total`: the widest column gives way first. */
export function fitWidths(natural: readonly number[], total: number, flex?: number): number[] {
  const widths = [...natural];
  const room = total - GAP * (widths.length - 1);
  let sum = widths.reduce((a, b) => a + b, 0);
  const flexible = flex === undefined ? undefined : widths[flex];
  if (flex !== undefined && flexible !== undefined && sum > room) {
    const cut = Math.max(0, Math.min(flexible - FLEX_MIN, sum - room));
    widths[flex] = flexible - cut;
    sum -= cut;
  }
  while (sum > room) {
    let widest = 0;
    for (let i = 1; i < widths.length; i++) if ((widths[i] as number) > (widths[widest] as number)) widest = i;
    const current = widths[widest] as number;
    if (current <= MIN_WIDTH) break;
    const next = widths.reduce((best, w, i) => (i !== widest && w > best ? w : best), 0);
    const cut = Math.min(current - Math.max(MIN_WIDTH, next), sum - room) || 1;
    widths[widest] = current - cut;
    sum -= cut;
  }
  return widths;
}

/** The colour and weight sequences `Output.style` puts in cells (ESC [ … m). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC is what starts the colour sequences kept here.
const STYLE = /\u001b\[[0-9;]*m/g;

/** A cell with its control characters written out, except the styles it was given. */
function cellText(text: string): string {
  let out = '';
  let at = 0;
  for (const style of text.matchAll(STYLE)) {
    out += visible(text.slice(at, style.index)) + style[0];
    at = style.index + style[0].length;
  }
  return out + visible(text.slice(at));
}

/** A table as text (no trailing newline), with a bold header on a terminal. */
export function table(out: Output, head: readonly string[], given: readonly (readonly string[])[], options: TableOptions = {}): string {
  const rows = given.map((row) => row.map(cellText));
  const natural = head.map((h, i) => Math.max(textWidth(h), ...rows.map((r) => textWidth(r[i] ?? ''))));
  const width = options.width ?? out.columns;
  // Cut only when it does not fit: otherwise cli-table3 measures the cells itself.
  const fits = natural.reduce((a, b) => a + b, 0) + GAP * (natural.length - 1) <= width;
  const right = new Set(options.right ?? []);
  const t = new Table({
    head: head.map((h) => out.style('bold', h)),
    chars: CHARS,
    ...(fits ? {} : { colWidths: fitWidths(natural, width, options.flex) }),
    colAligns: head.map((_, i) => (right.has(i) ? 'right' : 'left')),
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0, compact: true },
  });
  for (const row of rows) t.push([...row]);
  return t
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}
