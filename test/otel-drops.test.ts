// Every span spanflow/otel cannot deliver is counted: the batch processor's
// drops when its queue is full, as the SDK itself reports them, and failed
// exports. A child process (test/fixtures/otel-drops-child.ts) runs pipelines
// against a real OTLP/HTTP receiver that holds the first trace export until the
// runs are done, so the processor's small queue overflows.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { attr, metricsOf, points, receiver, spansOf, value } from './otel-receiver.ts';

const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('OTEL_')));
const fixture = fileURLToPath(new URL('./fixtures/otel-drops-child.ts', import.meta.url));

describe('spanflow.telemetry.dropped', { timeout: 60_000 }, () => {
  test('counts the spans a full batch queue drops, equal to what the SDK reports, and every span made is received or counted', async () => {
    const collector = await receiver({ holdTraces: true });
    try {
      const child = spawn(process.execPath, [fixture], {
        env: {
          ...cleanEnv,
          DROPS_RUNS: '100',
          OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
          // A queue of 10, exported 10 at a time as soon as it holds them (never on the timer).
          OTEL_BSP_MAX_QUEUE_SIZE: '10',
          OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '10',
          OTEL_BSP_SCHEDULE_DELAY: '600000',
          // The SDK's own metrics: what the batch processor says it dropped.
          OTEL_NODE_EXPERIMENTAL_SDK_METRICS: 'true',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
        timeout: 50_000,
      });
      const lines: Record<string, unknown>[] = [];
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      let pending = '';
      const ran = new Promise<void>((resolve) => {
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          pending += chunk;
          for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
            lines.push(JSON.parse(pending.slice(0, end)) as Record<string, unknown>);
            pending = pending.slice(end + 1);
            if (lines.some((line) => 'ran' in line)) resolve();
          }
        });
      });
      await Promise.race([ran, exited]);
      // The runs are done, with the first export still unanswered: the queue overflowed. Let everything through now.
      collector.answerHeld();
      assert.equal(await exited, 0);
      assert.deepEqual(lines, [{ ran: 100, spans: 300 }, { shutdown: 'resolved' }]);

      const byName = metricsOf(collector.received);
      const sum = (name: string, key: string, wanted: string) =>
        points(byName.get(name))
          .filter((p) => attr(p, key) === wanted)
          .reduce((total, p) => total + value(p), 0);
      const queueFull = sum('spanflow.telemetry.dropped', 'spanflow.drop.reason', 'queue_full');
      const sdkQueueFull = sum('otel.sdk.processor.span.processed', 'error.type', 'queue_full');
      assert.ok(sdkQueueFull > 0, 'the SDK reported spans dropped from its full queue');
      assert.equal(queueFull, sdkQueueFull, 'spanflow counted every span the SDK dropped from its queue');
      const exportFailed = sum('spanflow.telemetry.dropped', 'spanflow.drop.reason', 'export_failed');
      const received = spansOf(collector.received).length;
      assert.equal(received + queueFull + exportFailed, 300, `${received} received + ${queueFull} dropped (queue full) + ${exportFailed} dropped (export failed)`);
    } finally {
      await collector.close();
    }
  });
});
