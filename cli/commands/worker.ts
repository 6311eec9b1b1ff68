// `spanflow worker --queue render --concurrency 4`: a worker process for a
// distributed queue (spanflow/distributed) on the Postgres --database-url names.
// It runs until SIGTERM or SIGINT, then stops taking jobs, lets the running
// ones finish (--grace), and gives back the rest. With OTEL_EXPORTER_OTLP_*ENDPOINT
// set it starts the OpenTelemetry SDK (spanflow/otel), so the jobs' spans join
// their callers' traces from here.

import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { redact, urlFromEnv } from '../../exporters/postgres/index.ts';
import type { RemoteWorker } from '../../distributed/index.ts';
import { MissingDependencyError, messageOf } from '../../sdk/index.ts';
import { CommandError, type Output, UsageError } from '../io.ts';
import { storeFlags } from './shared.ts';

interface WorkerFlags {
  readonly queue: string;
  readonly concurrency: string;
  readonly root?: string;
  readonly queueSchema?: string;
  readonly grace: string;
  readonly pollInterval: string;
  readonly aliveFile?: string;
  readonly threads?: string;
}

function whole(value: string, flag: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} must be a whole number of ${min} or more (got '${value}')`);
  return n;
}

/** Resolves when one of `signals` arrives (and stops listening for them). */
function signalled(signals: readonly NodeJS.Signals[]): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      for (const s of signals) process.off(s, on);
      resolve(signal);
    };
    for (const s of signals) process.on(s, on);
  });
}

export function registerWorker(program: Command, out: Output): void {
  program
    .command('worker')
    .description('take and run the jobs of a distributed queue (remoteTask) until SIGTERM')
    .requiredOption('--queue <name>', 'the queue whose jobs to take')
    .option('--concurrency <n>', 'jobs run at once', '1')
    .option('--threads <n>', 'run the tasks on a pool of this many threads (CPU-bound tasks); a timeout or cancellation then stops the thread')
    .option('--root <folder>', "only task modules under this folder run here (default: the working directory)")
    .option('--queue-schema <name>', "the schema pg-boss keeps the jobs in (default: pgboss)")
    .option('--grace <ms>', 'on SIGTERM, how long running jobs may finish before they are given back', '30000')
    .option('--poll-interval <ms>', 'how often to look for jobs when no notification came', '2000')
    .option('--alive-file <path>', "a file touched at each look for jobs, for a container's health check")
    .action(async (flags: WorkerFlags, command: Command) => {
      const url = storeFlags(command).databaseUrl ?? urlFromEnv(out.env);
      if (url === undefined || !/^postgres(ql)?:\/\//.test(url)) {
        throw new UsageError(`spanflow worker needs the Postgres its queue is kept in: give --database-url postgres://… (or SPANFLOW_DATABASE_URL)${url === undefined ? '' : ` (got '${redact(url)}')`}`);
      }
      const concurrency = whole(flags.concurrency, '--concurrency', 1);
      const graceMs = whole(flags.grace, '--grace', 0);
      const pollIntervalMs = whole(flags.pollInterval, '--poll-interval', 10);
      const threads = flags.threads === undefined ? undefined : whole(flags.threads, '--threads', 1);
      const env = out.env;
      const traced = Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
      const telemetry = traced ? (await import('../../exporters/otel/index.ts')).startTelemetry({ serviceName: 'spanflow-worker' }) : undefined;
      const { startWorker, WorkerDefinitionError } = await import('../../distributed/index.ts');
      let worker: RemoteWorker;
      try {
        worker = await startWorker({
          connectionString: url,
          queue: flags.queue,
          concurrency,
          pollIntervalMs,
          ...(flags.root === undefined ? {} : { root: flags.root }),
          ...(flags.queueSchema === undefined ? {} : { schema: flags.queueSchema }),
          ...(threads === undefined ? {} : { threads }),
        });
      } catch (error) {
        await telemetry?.shutdown();
        if (error instanceof WorkerDefinitionError) throw new UsageError(error.message);
        if (error instanceof MissingDependencyError) throw error;
        throw new CommandError(`could not start the worker on ${redact(url)}: ${messageOf(error)}`);
      }
      // Listened for once the worker runs (a start that fails leaves no listener behind in an embedding process).
      const stopped = signalled(['SIGTERM', 'SIGINT']);
      const alive = flags.aliveFile;
      const touch = alive === undefined ? undefined : setInterval(() => writeFileSync(alive, String(Date.now())), pollIntervalMs);
      if (alive !== undefined) writeFileSync(alive, String(Date.now()));
      const where = threads === undefined ? '' : ` on ${threads} thread${threads > 1 ? 's' : ''}`;
      out.line(`spanflow worker ${process.pid}: queue '${worker.queue}', concurrency ${worker.concurrency}${where}, modules under ${worker.root}; ready`);
      const signal = await stopped;
      out.line(`spanflow worker ${process.pid}: ${signal}: stopping (running jobs have ${graceMs} ms to finish)`);
      clearInterval(touch);
      await worker.stop({ timeoutMs: graceMs });
      await telemetry?.shutdown();
      out.line(`spanflow worker ${process.pid}: stopped after ${worker.processed} jobs`);
    });
}
