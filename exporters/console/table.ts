// cli-table3 tables fitted to a width: wide columns (errors, current task) shrink first and
// their cells are cut with "…"; rows are not separated by lines.
import { loadPeer } from '../../sdk/index.ts';
import { oneLine } from './format.ts';

export interface Column {
  readonly head: string;
  readonly align?: 'left' | 'right';
  /** Shrinks first when the table is too wide (free text: ids, tasks, messages). */
  readonly flex?: boolean;
}

const PADDING = 2;
const MIN_FLEX = 6;

export function table(columns: readonly Column[], raw: readonly (readonly string[])[], width: number): string {
  const rows = raw.map((row) => row.map((cell) => oneLine(cell)));
  const widths = columns.map((column, index) => {
    let widest = column.head.length;
    for (const row of rows) widest = Math.max(widest, (row[index] ?? '').length);
    return widest + PADDING;
  });
  shrink(widths, columns, width);
  const { default: Table } = loadPeer<{ default: typeof import('cli-table3') }>('cli-table3', 'spanflow/console');
  const t = new Table({
    head: columns.map((column) => column.head),
    colWidths: widths,
    colAligns: columns.map((column) => column.align ?? 'left'),
    wordWrap: false,
    truncate: '…',
    style: { head: [], border: [], 'padding-left': 1, 'padding-right': 1 },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  for (const row of rows) t.push(row);
  return t.toString();
}

/** Narrow the widths (in place) until the drawn table, borders included, fits `width`. */
function shrink(widths: number[], columns: readonly Column[], width: number): void {
  const drawn = () => widths.reduce((sum, w) => sum + w, 0) + widths.length + 1;
  const narrowest = (index: number, flexOnly: boolean): number => {
    const column = columns[index];
    if (!column) return PADDING + 1;
    if (flexOnly) return Math.min(widths[index] ?? 0, Math.max(MIN_FLEX, Math.min(column.head.length, 10) + PADDING));
    return PADDING + 1;
  };
  for (const flexOnly of [true, false]) {
    while (drawn() > width) {
      let widest = -1;
      for (let index = 0; index < widths.length; index++) {
        if (flexOnly && !columns[index]?.flex) continue;
        const current = widths[index] ?? 0;
        if (current <= narrowest(index, flexOnly)) continue;
        if (widest < 0 || current > (widths[widest] ?? 0)) widest = index;
      }
      if (widest < 0) break;
      widths[widest] = (widths[widest] ?? 0) - 1;
    }
  }
}
