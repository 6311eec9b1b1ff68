// The worker pools dashboard (Prometheus): utilization, threads, queue, and
// task wait and run time quantiles of each Piscina pool (spanflow/workers).
// Panels take the pool metrics by their catalogue keys; a key the catalogue
// does not hold leaves its panel out.

import type { Builder } from '@grafana/grafana-foundation-sdk/cog';
import { type Dashboard, DashboardBuilder, type Panel, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { legend, pct, prom, promVariable, timeseries } from './panels.ts';
import { type Catalogue, gaugeSum, LABEL, labelValues, maybeSeries, quantile, re, rateSum } from './promql.ts';
import type { PrometheusSeries } from './prometheus-names.ts';

export const WORKER_POOLS_UID = 'spanflow-worker-pools';

const POOL = re(LABEL.pool, '$pool');
const QUANTILES = [0.5, 0.95, 0.99] as const;
const byPool = legend(LABEL.pool);

type Make = (...series: PrometheusSeries[]) => Builder<Panel>;
/** Each panel with the catalogue keys of the metrics it shows. */
const PANELS: readonly (readonly [readonly string[], Make])[] = [
  [
    ['poolUtilization'],
    (utilization) =>
      timeseries('Utilization', { description: 'Busy thread-time over what the pool\'s threads could have given, per collection interval (measured by spanflow from each task\'s start and end).', unit: 'percentunit', min: 0, max: 1 }, [
        prom(`max by (${LABEL.pool}) (${utilization.name}{${POOL}})`, byPool),
      ]),
  ],
  [
    ['poolThreads', 'poolIdleThreads'],
    (threads, idle) =>
      timeseries('Threads, busy and idle', { description: 'Threads of each pool; busy = threads that are not idle.', unit: 'short', stacked: true }, [
        prom(`${gaugeSum(threads.name, [LABEL.pool], [POOL])} - ${gaugeSum(idle.name, [LABEL.pool], [POOL])}`, `busy ${byPool}`),
        prom(gaugeSum(idle.name, [LABEL.pool], [POOL]), `idle ${byPool}`),
      ]),
  ],
  [
    ['poolQueueSize'],
    (queue) => timeseries('Queue', { description: 'Tasks waiting for a thread.', unit: 'short' }, [prom(gaugeSum(queue.name, [LABEL.pool], [POOL]), byPool)]),
  ],
  [
    ['poolRunTime'],
    (run) => timeseries('Tasks/s', { description: 'Tasks that ended on a thread, per second.', unit: 'short' }, [prom(rateSum(run.count, [LABEL.pool], [POOL]), byPool)]),
  ],
  [
    ['poolWaitTime'],
    (wait) =>
      timeseries(
        'Wait time p50 / p95 / p99',
        { description: 'From submission until a thread started the task.', unit: 's' },
        QUANTILES.map((q) => prom(quantile(q, wait, [LABEL.pool], [POOL]), `${pct(q)} ${byPool}`)),
      ),
  ],
  [
    ['poolRunTime'],
    (run) =>
      timeseries(
        'Run time p50 / p95 / p99',
        { description: 'Time a task ran on its thread, whatever its result.', unit: 's' },
        QUANTILES.map((q) => prom(quantile(q, run, [LABEL.pool], [POOL]), `${pct(q)} ${byPool}`)),
      ),
  ],
];

/** The dashboard, from `catalogue` (METRICS unless a test gives another). */
export function workerPoolsDashboard(catalogue?: Catalogue): Dashboard {
  const panels: Builder<Panel>[] = [];
  for (const [keys, make] of PANELS) {
    const found = keys.map((key) => maybeSeries(key, catalogue));
    if (found.every((s): s is PrometheusSeries => s !== undefined)) panels.push(make(...found));
  }
  const builder = new DashboardBuilder('spanflow · worker pools')
    .uid(WORKER_POOLS_UID)
    .tags(['spanflow'])
    .description('Piscina worker thread pools (spanflow/workers): utilization, threads, queue, wait and run time.')
    .refresh('10s')
    .time({ from: 'now-30m', to: 'now' })
    .timezone('browser')
    .readonly();
  const poolSeries = ['poolThreads', 'poolQueueSize', 'poolUtilization'].map((key) => maybeSeries(key, catalogue)).find((s) => s !== undefined);
  if (poolSeries) {
    const query = labelValues(poolSeries.name, LABEL.pool);
    builder.withVariable(promVariable('pool', 'Pool', query));
  }
  builder.withRow(new RowBuilder(panels.length > 0 ? 'Pools' : 'Pools (no pool metrics in the catalogue yet)'));
  for (const panel of panels) builder.withPanel(panel);
  return builder.build();
}
