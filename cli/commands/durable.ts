// `spanflow resume <run>` and `spanflow retry <run>`: carry on a stored durable
// run with its pipeline from a module (the store keeps checkpoints, not code).
// The module may export `context`: the run context, or a function of the
// pipeline's name that makes it (a context is never stored).

import type { Command } from 'commander';
import { messageOf, ResumeError, type RunResult, type SpanflowEvent } from '../../sdk/index.ts';
import { CommandError, type Output, UsageError } from '../io.ts';
import { exportsOf, importModule } from '../module.ts';
import { duration, shortId, status, visible } from '../render/format.ts';
import { resolveRun, withStore } from '../store.ts';
import { storeFlags } from './shared.ts';

interface Resumable {
  readonly name: string;
  resume(runId: string, options: Record<string, unknown>): Promise<RunResult<unknown>>;
  retry(runId: string, options: Record<string, unknown>): Promise<RunResult<unknown>>;
}

function isResumable(value: unknown): value is Resumable {
  const p = value as Partial<Resumable> | null;
  return typeof value === 'object' && p !== null && typeof p.name === 'string' && typeof p.resume === 'function' && typeof p.retry === 'function';
}

interface CarryOnFlags {
  readonly module: string;
  readonly force?: boolean;
  readonly timeout?: Record<string, number>;
}

/** `--timeout step=ms`, repeatable. */
function stepTimeout(value: string, previous: Record<string, number> | undefined): Record<string, number> {
  const found = /^(.+)=(\d+)$/.exec(value);
  const ms = Number(found?.[2]);
  if (!found || !(ms > 0)) throw new UsageError(`--timeout takes step=ms, a step's name and a whole number of ms above 0 (got '${value}')`);
  return { ...previous, [found[1] as string]: ms };
}

async function carryOn(out: Output, command: Command, mode: 'resume' | 'retry', prefix: string, flags: CarryOnFlags): Promise<void> {
  const module = await importModule(out, flags.module);
  const found = exportsOf(module, isResumable);
  await withStore(out, storeFlags(command), async (store) => {
    const runId = await resolveRun(store, prefix);
    const stored = await store.getRun(runId, { events: false });
    if (!stored) throw new CommandError(`run ${runId} is gone: it was deleted while this command ran`);
    const pipeline = found.find((f) => f.value.name === stored.pipeline)?.value;
    if (!pipeline) {
      const names = found.map((f) => `'${f.value.name}' (export ${f.exportName})`).join(', ');
      throw new CommandError(`${flags.module} exports no graph pipeline named '${stored.pipeline}', the pipeline of run ${shortId(runId)}${names ? `: it exports ${names}` : ''}`);
    }
    const given = module.context;
    let context: unknown;
    try {
      context = typeof given === 'function' ? await given(pipeline.name) : given;
    } catch (error) {
      throw new CommandError(`the context export of ${flags.module} threw: ${messageOf(error)}`);
    }
    let restored = 0;
    const onEvent = (event: SpanflowEvent) => {
      if (event.type === 'step_end' && event.restored) restored++;
    };
    let result: RunResult<unknown>;
    try {
      result =
        mode === 'resume'
          ? await pipeline.resume(runId, { context, store, force: flags.force === true, onEvent })
          : await pipeline.retry(runId, { context, store, timeouts: flags.timeout, onEvent });
    } catch (error) {
      if (error instanceof ResumeError) throw new CommandError(error.message);
      throw error;
    }
    const which = mode === 'resume' ? `run ${result.runId} resumed` : `run ${runId} retried as run ${result.runId}`;
    out.line(`${which}: ${status(out, result.status)} in ${duration(result.durationMs)}; ${restored} step${restored === 1 ? '' : 's'} (and map items) restored from checkpoints`);
    if (result.status !== 'succeeded') {
      throw new CommandError(`the run ended ${result.status}${result.failedNode ? ` at ${visible(result.failedNode)}` : ''}: ${result.error ? messageOf(result.error) : ''}`);
    }
  });
}

export function registerDurable(program: Command, out: Output): void {
  program
    .command('resume')
    .description(
      "carry on an interrupted durable run (its process died): the steps that completed are restored from their checkpoints, the rest run here. The pipeline comes from --module (its top-level code runs); the module may export `context`, the run context or a function of the pipeline's name making it",
    )
    .argument('<run>', 'run id, or its first 4 or more characters')
    .requiredOption('--module <file>', 'a .ts or .js file that exports the pipeline (path from the current folder)')
    .option('--force', "resume even though the pipeline's definition or version changed since the run started")
    .action((prefix: string, flags: CarryOnFlags, command: Command) => carryOn(out, command, 'resume', prefix, flags));
  program
    .command('retry')
    .description(
      'run a failed or timed-out durable run again from its failed steps, as a new run linked to it; the steps that succeeded are restored from their checkpoints. The pipeline comes from --module, as for resume',
    )
    .argument('<run>', 'run id, or its first 4 or more characters')
    .requiredOption('--module <file>', 'a .ts or .js file that exports the pipeline (path from the current folder)')
    .option('--timeout <step=ms>', "a step's per-attempt timeout for this run (repeatable; any pipeline of the run's tree)", stepTimeout)
    .action((prefix: string, flags: CarryOnFlags, command: Command) => carryOn(out, command, 'retry', prefix, flags));
}
