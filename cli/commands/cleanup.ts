// `spanflow cleanup`: deletes old runs (with their steps, events and child
// runs). Lists what would go and deletes nothing unless --yes.

import type { Command } from 'commander';
import type { StoredRunStatus } from '../../exporters/postgres/index.ts';
import { type Output, UsageError } from '../io.ts';
import { parseDuration, parseStatuses, wholeNumber } from '../parse.ts';
import { duration, plural } from '../render/format.ts';
import { withStore } from '../store.ts';
import { runsTable } from './runs.ts';
import { JSON_FLAG, storeFlags } from './shared.ts';

interface CleanupFlags {
  readonly olderThan?: number;
  readonly status?: StoredRunStatus[];
  readonly keep?: number;
  readonly pipeline?: string;
  readonly yes?: boolean;
  readonly json?: boolean;
}

export function registerCleanup(program: Command, out: Output): void {
  program
    .command('cleanup')
    .description('delete old runs with their steps, events and child runs (a dry run unless --yes)')
    .option('--older-than <age>', 'runs started longer ago than this (30m, 12h, 7d)', parseDuration)
    .option('--status <list>', 'only runs with these statuses, comma-separated (runs under way are kept unless named)', parseStatuses)
    .option('--keep <n>', 'keep the newest N runs of each pipeline, whatever else matches', wholeNumber(0))
    .option('--pipeline <name>', 'only runs of this pipeline')
    .option('--yes', 'delete them (without it, only list what would go)')
    .option(...JSON_FLAG)
    .action(async (flags: CleanupFlags, command: Command) => {
      if (flags.olderThan === undefined && flags.status === undefined && flags.keep === undefined) {
        throw new UsageError('cleanup needs --older-than, --status or --keep (for example --older-than 7d): with none of them it would delete every run');
      }
      const result = await withStore(out, storeFlags(command), (store) =>
        store.cleanup({ olderThan: flags.olderThan, status: flags.status, keep: flags.keep, pipeline: flags.pipeline, dryRun: flags.yes !== true }),
      );
      if (flags.json) return out.json({ ...result, dryRun: flags.yes !== true });
      if (result.runs.length === 0) return out.line('no runs match: nothing to delete');
      out.line(runsTable(out, result.runs));
      const what = `${plural(result.runs.length, 'run')}${result.count > result.runs.length ? ` (${result.count} with their sub-pipeline runs)` : ''}`;
      const age = flags.olderThan !== undefined ? ` older than ${duration(flags.olderThan)}` : '';
      if (result.deleted) out.line(`deleted ${what}${age}`);
      else out.line(out.style('yellow', `would delete ${what}${age}; nothing deleted yet: run again with --yes to delete them`));
    });
}
