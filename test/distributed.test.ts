// spanflow/distributed on a real Postgres with real worker processes (`spanflow
// worker`, two of them): a stage runs remotely inside a 3-stage batch; a worker
// killed with kill -9 mid-task becomes a WorkerLostError attempt that the retry
// policy runs again on the other worker; a step timeout and a run cancellation
// abort the task's signal inside the worker; the worker's spans join the
// caller's trace; and no job is left created or active once a run ended.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createDispatcher, type Dispatcher, RemoteTaskError, remoteTask, WorkerLostError } from '../distributed/index.ts';
import { collectRun, pipeline, stages } from '../sdk/index.ts';
import { dropSchema, eventually, fileWritten, jobStates, NEEDS_POSTGRES, startWorkerProcess, stopWorkerProcess, TEST_DATABASE_URL, type WorkerProcess } from './distributed-support.ts';
import { finished } from './otel-support.ts';
import { receiver, spansOf } from './otel-receiver.ts';
import type * as tasks from './fixtures/remote-tasks.ts';

const TASKS = new URL('./fixtures/remote-tasks.ts', import.meta.url);
const GUARD = { timeout: 120_000 };
const QUEUE = 'render';

describe('remote stages and steps on pg-boss, with two worker processes', { skip: NEEDS_POSTGRES, ...GUARD }, () => {
  const schema = `dist_${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'spanflow-dist-'));
  let collector: Awaited<ReturnType<typeof receiver>>;
  let workers: WorkerProcess[] = [];
  let dispatcher: Dispatcher;

  before(async () => {
    await dropSchema(schema);
    collector = await receiver();
    // The workers export their spans to the receiver, soon after each ends.
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_METRICS_EXPORTER: 'none' };
    // One first, so the schema is made once; then the second.
    workers.push(await startWorkerProcess(QUEUE, schema, { env }));
    workers.push(await startWorkerProcess(QUEUE, schema, { env }));
    // A heartbeat limit shorter than the default, so the killed worker is noticed soon, and long enough
    // that a worker slowed by a loaded machine is not taken for lost (the test asserts no duration).
    dispatcher = createDispatcher({ connectionString: TEST_DATABASE_URL, schema, workerLostAfterMs: 4_000, pollIntervalMs: 200 });
  }, GUARD);

  after(async () => {
    await dispatcher?.close();
    await Promise.all(workers.map(stopWorkerProcess));
    await collector?.close();
    await dropSchema(schema);
    rmSync(dir, { recursive: true, force: true });
  }, GUARD);

  /** No job of the schema is waiting or running: every one the runs sent has ended. */
  async function noJobLeft(): Promise<Record<string, number>> {
    const states = await jobStates(schema);
    assert.equal(states.created, undefined, `no job left created: ${JSON.stringify(states)}`);
    assert.equal(states.active, undefined, `no job left active: ${JSON.stringify(states)}`);
    return states;
  }

  test('a 3-stage batch whose middle stage runs remotely accounts for every item', GUARD, async () => {
    const double = remoteTask<typeof tasks.double>(TASKS, 'double', { queue: QUEUE, dispatcher });
    const items = Array.from({ length: 40 }, (_, i) => i);
    const batch = await stages<number>('remote-middle')
      .stage('parse', { tasks: (n: number) => n + 1 })
      .stage('render', { tasks: double, workers: 4 })
      .stage('pack', { tasks: (out: { n: number; doubled: number; pid: number; key: string }) => `${out.n}->${out.doubled}@${out.pid === process.pid ? 'here' : 'worker'}` })
      .run(items);
    assert.equal(batch.status, 'succeeded');
    assert.equal(batch.completed, items.length);
    assert.deepEqual(batch.results, items.map((i) => `${i + 1}->${(i + 1) * 2}@worker`));
    const states = await noJobLeft();
    assert.equal(states.completed, items.length, 'one job an item: one attempt each');
  });

  test('the task gets the idempotency key runId:node:item', GUARD, async () => {
    const double = remoteTask<typeof tasks.double>(TASKS, 'double', { queue: QUEUE, dispatcher });
    const run = await pipeline<number>('keyed').step('twice', double).run(21);
    assert.equal(run.status, 'succeeded');
    const output = run.outputs.twice as { doubled: number; key: string };
    assert.equal(output.doubled, 42);
    assert.equal(output.key, `${run.runId}:twice:-`);
    const batch = await stages<number>('keyed-stage').stage('render', { tasks: double }).run([5]);
    const [only] = batch.results as { key: string }[];
    assert.match(only?.key ?? '', new RegExp(`^${batch.runId}:render/double:\\S+$`));
  });

  test('a task that throws fails its attempt with a RemoteTaskError naming it', GUARD, async () => {
    const broken = remoteTask(TASKS, 'broken', { queue: QUEUE, dispatcher });
    const run = await pipeline<object>('broken').step('break', broken).run({});
    assert.equal(run.status, 'failed');
    const cause = run.error?.cause as (RemoteTaskError & { cause: Error }) | undefined;
    assert.ok(cause instanceof RemoteTaskError, `the step failed with a RemoteTaskError (got ${run.error?.message})`);
    assert.equal(cause.message, 'remote task broken (remote-tasks.ts) threw TypeError: broken on purpose');
    assert.equal(cause.queue, QUEUE);
    assert.equal(cause.cause.name, 'TypeError', "the worker's error is its cause");
    await noJobLeft();
  });

  test('a step timeout aborts the task inside the worker, and the attempt ends timed_out', GUARD, async () => {
    const wait = remoteTask<typeof tasks.waitForAbort>(TASKS, 'waitForAbort', { queue: QUEUE, dispatcher });
    const run = await pipeline<{ dir: string; name: string }>('timeout').step('wait', wait, { timeout: 300 }).run({ dir, name: 'timeout' });
    assert.equal(run.status, 'timed_out');
    const aborted = JSON.parse(await fileWritten(join(dir, 'aborted-timeout')));
    assert.equal(aborted.name, 'StepTimeoutError', 'the worker saw the step timeout as its signal reason');
    assert.notEqual(aborted.pid, process.pid, 'in the worker process');
    assert.ok(workers.some((w) => w.pid === aborted.pid));
    await noJobLeft();
  });

  test('a run cancellation aborts the task inside the worker, and the run ends cancelled', GUARD, async () => {
    const wait = remoteTask<typeof tasks.waitForAbort>(TASKS, 'waitForAbort', { queue: QUEUE, dispatcher });
    const handle = pipeline<{ dir: string; name: string }>('cancel').step('wait', wait).run({ dir, name: 'cancel' });
    const collected = collectRun(handle);
    const started = Number(await fileWritten(join(dir, 'started-cancel')));
    assert.ok(workers.some((w) => w.pid === started), 'it started on a worker');
    handle.cancel('the test cancels it');
    const { result } = await collected;
    assert.equal(result.status, 'cancelled');
    const aborted = JSON.parse(await fileWritten(join(dir, 'aborted-cancel')));
    assert.equal(aborted.pid, started, 'the signal fired in the worker that ran it');
    assert.match(aborted.message, /the test cancels it/);
    await noJobLeft();
  });

  test("the worker's spans are under the attempt, in one trace", GUARD, async () => {
    const traced = remoteTask<typeof tasks.traced>(TASKS, 'traced', { queue: QUEUE, dispatcher });
    const run = await pipeline<number>('traced').step('trace-me', traced).run(1);
    assert.equal(run.status, 'succeeded');
    assert.equal(run.outputs['trace-me'], 2);
    const local = await finished();
    const attempt = local.find((s) => s.name === 'step trace-me');
    assert.ok(attempt, local.map((s) => s.name).join(', '));
    const traceId = attempt.spanContext().traceId;
    const send = local.find((s) => s.name === `send ${QUEUE}` && s.spanContext().traceId === traceId);
    assert.ok(send, 'the dispatch is in the attempt’s trace');
    assert.equal(send.parentSpanContext?.spanId, attempt.spanContext().spanId, 'the dispatch is a child of the attempt');
    assert.equal(send.kind, 3, 'PRODUCER');
    assert.equal(typeof send.attributes['spanflow.queue.wait_ms'], 'number', 'the queue wait is on the dispatch span');
    assert.equal(send.attributes['messaging.destination.name'], QUEUE);
    const remote = await eventually(() => {
      const spans = spansOf(collector.received).filter((s) => s.traceId === traceId);
      return spans.some((s) => s.name === 'user work') && spans.some((s) => s.name === `process ${QUEUE}`) ? spans : undefined;
    });
    const consumer = remote.find((s) => s.name === `process ${QUEUE}`);
    const user = remote.find((s) => s.name === 'user work');
    assert.equal(consumer?.parentSpanId, send.spanContext().spanId, 'the worker’s CONSUMER span is under the dispatch');
    assert.equal(consumer?.kind, 5, 'CONSUMER');
    assert.equal(user?.parentSpanId, consumer?.spanId, "the task's own span is under the CONSUMER span");
    await noJobLeft();
  });

  test('a worker killed with kill -9 mid-task: a WorkerLostError attempt, retried on the other worker, succeeds', GUARD, async () => {
    const hang = remoteTask<typeof tasks.hangFirst>(TASKS, 'hangFirst', { queue: QUEUE, dispatcher });
    const handle = pipeline<{ dir: string; name: string }>('lost').step('hang', hang, { retry: { attempts: 2, initialDelayMs: 0 } }).run({ dir, name: 'lost' });
    const collected = collectRun(handle);
    const victim = Number(await fileWritten(join(dir, 'started-lost')));
    const killed = workers.find((w) => w.pid === victim);
    assert.ok(killed, 'the first attempt runs on one of the workers');
    process.kill(victim, 'SIGKILL');
    assert.equal(await killed.exited, 'SIGKILL');
    workers = workers.filter((w) => w !== killed);
    const { result, of } = await collected;
    assert.equal(result.status, 'succeeded');
    const [retry] = of('step_retry');
    assert.equal(retry?.error.type, WorkerLostError.name);
    assert.match(retry?.error.message ?? '', /^worker lost: job \S+ of task hangFirst \(remote-tasks\.ts\) on queue 'render' stopped its heartbeat/);
    const output = result.outputs.hang as { attempt: number; pid: number };
    assert.equal(output.attempt, 2);
    assert.equal(output.pid, workers[0]?.pid, 'the second attempt ran on the other worker');
    const attempts = readFileSync(join(dir, 'attempts'), 'utf8').trim().split('\n');
    assert.deepEqual(attempts, [`1 ${victim}`, `2 ${workers[0]?.pid}`]);
    const states = await noJobLeft();
    assert.ok((states.failed ?? 0) >= 1, 'the lost attempt’s job is failed, not left active');
  });

  test('stopped with SIGTERM, a worker exits 0 after saying so', GUARD, async () => {
    const [worker] = workers;
    assert.ok(worker);
    assert.equal(await stopWorkerProcess(worker), 0);
    assert.match(worker.output(), /stopped after \d+ jobs/);
    workers = [];
  });
});
