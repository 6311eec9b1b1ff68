// `spanflow export <run> --json`: the run, its step attempts and every event,
// rebuilt as the SpanflowEvents the engine emitted.

import type { Command } from 'commander';
import { asEvent, type StoredEvent } from '../../exporters/postgres/index.ts';
import type { SpanflowEvent } from '../../sdk/index.ts';
import { CommandError, type Output } from '../io.ts';
import { resolveRun, withStore } from '../store.ts';
import { runJson } from './runs.ts';
import { storeFlags } from './shared.ts';

const PAGE = 10_000;

export function registerExport(program: Command, out: Output): void {
  program
    .command('export')
    .description('a run, its steps and its events as JSON (the only format)')
    .argument('<run>', 'run id, or its first 4 or more characters')
    .option('--json', 'JSON output (the default, and the only format)')
    .action(async (prefix: string, _flags: unknown, command: Command) => {
      const exported = await withStore(out, storeFlags(command), async (store) => {
        const id = await resolveRun(store, prefix);
        const run = await store.getRun(id, { events: false });
        if (!run) throw new CommandError(`run ${id} is gone: it was deleted while this command ran`);
        const events: SpanflowEvent[] = [];
        let page: StoredEvent[];
        let after: number | undefined;
        do {
          page = await store.runEvents(id, { afterSeq: after, limit: PAGE });
          for (const stored of page) events.push(asEvent(stored, run));
          after = page.at(-1)?.seq;
        } while (page.length === PAGE);
        const { steps, events: _none, ...summary } = run;
        return { run: runJson(summary), steps, events };
      });
      out.json(exported);
    });
}
