// The overview dashboard (Prometheus): runs, steps, stage pipelines, worker
// threads and the telemetry's own drops, filtered by pipeline and step. A
// catalogue metric no panel here or on the worker pools dashboard shows gets a
// panel of its own under "More metrics", so a new catalogue entry appears with
// no edit here.

import type { Builder } from '@grafana/grafana-foundation-sdk/cog';
import { type Dashboard, DashboardBuilder, type Panel, type QueryVariableBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { HeatmapColorMode, HeatmapColorOptionsBuilder, PanelBuilder as HeatmapBuilder, YAxisConfigBuilder } from '@grafana/grafana-foundation-sdk/heatmap';
import type { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { cicdResultOf, METRICS, type MetricDef, WORKER_STATES } from '../sdk/index.ts';
import { PROMETHEUS } from './datasources.ts';
import { heatmapFormat, legend, pct, prom, promVariable, stat, timeseries, withRefIds } from './panels.ts';
import { type Catalogue, eq, gaugeSum, increaseSum, LABEL, labelValues, maybeSeries, quantile, RATE, rateSum, re, series } from './promql.ts';
import { prometheusLabel, prometheusSeries } from './prometheus-names.ts';

export const OVERVIEW_UID = 'spanflow-overview';

const PIPELINE = re(LABEL.pipeline, '$pipeline');
const STEP = re(LABEL.task, '$step');
const QUANTILES = [0.5, 0.95, 0.99] as const;

function variables(): QueryVariableBuilder[] {
  const runs = series('runs').name;
  const attempts = series('stepAttempts').name;
  const variable = promVariable;
  return [
    variable('pipeline', 'Pipeline', labelValues(runs, LABEL.pipeline)),
    variable('step', 'Step', labelValues(attempts, LABEL.task, [PIPELINE])),
  ];
}

function runPanels() {
  const runs = series('runs');
  const duration = series('runDuration');
  const ended = increaseSum(runs.name, [LABEL.pipeline], [PIPELINE]);
  const succeeded = increaseSum(runs.name, [LABEL.pipeline], [PIPELINE, eq(LABEL.result, cicdResultOf('succeeded'))]);
  return [
    timeseries('Runs/s by pipeline and result', { description: METRICS.runs.description, unit: 'short' }, [
      prom(rateSum(runs.name, [LABEL.pipeline, LABEL.result], [PIPELINE]), legend(LABEL.pipeline, LABEL.result)),
    ]),
    stat('Success ratio', { description: 'Runs that succeeded, of the runs that ended in the time range.', unit: 'percentunit', min: 0, max: 1 }, [
      // A pipeline with no success has no success series: 0 of its ended runs stands in, so it shows 0% rather than nothing.
      prom(`(${succeeded} or 0 * ${ended}) / ${ended}`, legend(LABEL.pipeline)),
    ]),
    stat('Active runs', { description: METRICS.activeRuns.description, unit: 'short' }, [
      prom(gaugeSum(series('activeRuns').name, [LABEL.pipeline], [PIPELINE]), legend(LABEL.pipeline)),
    ]),
    timeseries(
      'Run duration p50 / p95 / p99',
      { description: `${METRICS.runDuration.description} Exemplars open their trace in Jaeger.`, unit: 's', width: 24 },
      QUANTILES.map((q) => prom(quantile(q, duration, [LABEL.pipeline], [PIPELINE]), `${pct(q)} ${legend(LABEL.pipeline)}`, { exemplar: true })),
    ),
  ];
}

function stepPanels() {
  const duration = series('stepDuration');
  const failed = re(LABEL.taskResult, [cicdResultOf('failed'), cicdResultOf('timed_out')].join('|'));
  const heatmap = new HeatmapBuilder()
    .title('Step duration heatmap')
    .description(METRICS.stepDuration.description)
    .datasource(PROMETHEUS)
    .span(12)
    .height(8)
    .calculate(false)
    .yAxis(new YAxisConfigBuilder().unit('s'))
    .color(new HeatmapColorOptionsBuilder().mode(HeatmapColorMode.Scheme).scheme('Oranges').fill('dark-orange').steps(64).exponent(0.5).reverse(false))
    .showLegend();
  for (const target of withRefIds([prom(rateSum(duration.bucket, ['le'], [PIPELINE, STEP]), '{{le}}', { format: heatmapFormat, exemplar: true })])) {
    heatmap.withTarget(target);
  }
  return [
    timeseries(
      'Step duration p50 / p95 by step',
      { description: `${METRICS.stepDuration.description} Exemplars open their trace in Jaeger.`, unit: 's' },
      [0.5, 0.95].map((q) => prom(quantile(q, duration, [LABEL.task], [PIPELINE, STEP]), `${pct(q)} ${legend(LABEL.task)}`, { exemplar: true })),
    ),
    heatmap,
    timeseries('Retries/s by error type', { description: METRICS.stepRetries.description, unit: 'short' }, [
      prom(rateSum(series('stepRetries').name, [LABEL.errorType, LABEL.task], [PIPELINE, STEP]), legend(LABEL.errorType, LABEL.task)),
    ]),
    timeseries('Failed attempts/s by step and result', { description: 'Step and task attempts that failed or timed out (retried or not).', unit: 'short' }, [
      prom(rateSum(series('stepAttempts').name, [LABEL.task, LABEL.taskResult], [PIPELINE, STEP, failed]), legend(LABEL.task, LABEL.taskResult)),
    ]),
    timeseries('Tokens/s by step', { description: METRICS.tokens.description, unit: 'short', width: 24 }, [
      prom(rateSum(series('tokens').name, [LABEL.pipeline, LABEL.task], [PIPELINE, STEP]), legend(LABEL.pipeline, LABEL.task)),
    ]),
  ];
}

function stagePanels() {
  const busy = eq(LABEL.workerState, WORKER_STATES[1]);
  return [
    timeseries('Items/s by stage and status', { description: METRICS.items.description, unit: 'short' }, [
      prom(rateSum(series('items').name, [LABEL.stage, LABEL.itemStatus], [PIPELINE]), legend(LABEL.stage, LABEL.itemStatus)),
    ]),
    timeseries('Queue size by stage', { description: METRICS.queueSize.description, unit: 'short' }, [
      prom(gaugeSum(series('queueSize').name, [LABEL.pipeline, LABEL.stage], [PIPELINE]), legend(LABEL.pipeline, LABEL.stage)),
    ]),
    timeseries('Items in flight by stage', { description: METRICS.inFlight.description, unit: 'short' }, [
      prom(gaugeSum(series('inFlight').name, [LABEL.pipeline, LABEL.stage], [PIPELINE]), legend(LABEL.pipeline, LABEL.stage)),
    ]),
    timeseries('Busy workers by stage', { description: METRICS.workers.description, unit: 'short' }, [
      prom(gaugeSum(series('workers').name, [LABEL.pipeline, LABEL.stage], [PIPELINE, busy]), legend(LABEL.pipeline, LABEL.stage)),
    ]),
  ];
}

/** Worker thread pools in brief (the worker pools dashboard has the rest); absent pool metrics leave their panel out. */
function poolPanels(catalogue: Catalogue) {
  const utilization = maybeSeries('poolUtilization', catalogue);
  const wait = maybeSeries('poolWaitTime', catalogue);
  const run = maybeSeries('poolRunTime', catalogue);
  const pool = legend(LABEL.pool);
  const panels = [];
  if (utilization) {
    panels.push(timeseries('Thread pool utilization', { description: 'Compute time used of what the threads could give.', unit: 'percentunit', width: 8, min: 0, max: 1 }, [
      prom(`max by (${LABEL.pool}) (${utilization.name})`, pool),
    ]));
  }
  if (wait) panels.push(timeseries('Pool wait time p95', { description: 'From submission until a thread started the task.', unit: 's', width: 8 }, [prom(quantile(0.95, wait, [LABEL.pool]), pool)]));
  if (run) panels.push(timeseries('Pool run time p95', { description: 'Time a task ran on its thread.', unit: 's', width: 8 }, [prom(quantile(0.95, run, [LABEL.pool]), pool)]));
  return panels;
}

/** Distributed queues (spanflow/distributed), as the dispatching processes see them; absent metrics leave their panel out. */
function queuePanels(catalogue: Catalogue) {
  const size = maybeSeries('remoteQueueSize', catalogue);
  const wait = maybeSeries('remoteWaitTime', catalogue);
  const run = maybeSeries('remoteRunTime', catalogue);
  const queue = legend(LABEL.queue);
  const panels = [];
  if (size) panels.push(timeseries('Jobs waiting for a worker', { description: METRICS.remoteQueueSize.description, unit: 'short', width: 8 }, [prom(gaugeSum(size.name, [LABEL.queue]), queue)]));
  if (wait) panels.push(timeseries('Queue wait p95', { description: METRICS.remoteWaitTime.description, unit: 's', width: 8 }, [prom(quantile(0.95, wait, [LABEL.queue]), queue)]));
  if (run) panels.push(timeseries('Remote run time p95', { description: METRICS.remoteRunTime.description, unit: 's', width: 8 }, [prom(quantile(0.95, run, [LABEL.queue]), queue)]));
  return panels;
}

function dropPanels() {
  return [
    timeseries('Telemetry and persistence drops', { description: `${METRICS.telemetryDropped.description} ${METRICS.persistenceDropped.description}`, unit: 'short', width: 24 }, [
      prom(increaseSum(series('telemetryDropped').name, [LABEL.dropReason], [], RATE), `spans ${legend(LABEL.dropReason)}`),
      prom(increaseSum(series('persistenceDropped').name, [LABEL.dropReason], [], RATE), `events ${legend(LABEL.dropReason)}`),
    ]),
  ];
}

/** A panel for any metric, by its instrument: rate of a counter, quantiles of a histogram, a gauge as it is. */
export function genericPanel(def: MetricDef) {
  const names = prometheusSeries(def);
  const labels = def.attributes.map(prometheusLabel);
  const options = { description: def.description, unit: def.unit === 's' ? 's' : def.unit === '1' ? 'percentunit' : 'short' };
  const targets: DataqueryBuilder[] =
    names.type === 'histogram'
      ? QUANTILES.map((q) => prom(quantile(q, names, labels), `${pct(q)} ${legend(...labels)}`))
      : names.type === 'counter'
        ? [prom(rateSum(names.name, labels), legend(...labels))]
        : [prom(gaugeSum(names.name, labels), legend(...labels))];
  return timeseries(def.name, options, targets);
}

/**
 * The overview, from `catalogue` (METRICS unless a test gives another).
 * `shownElsewhere`: the PromQL of the other Prometheus dashboards, so a metric
 * they show gets no generic panel here.
 */
export function overviewDashboard(shownElsewhere: readonly string[] = [], catalogue: Catalogue = METRICS): Dashboard {
  const sections: [string, Builder<Panel>[]][] = [
    ['Runs', runPanels()],
    ['Steps', stepPanels()],
    ['Stage pipelines', stagePanels()],
    ['Worker threads', poolPanels(catalogue)],
    ['Distributed queues', queuePanels(catalogue)],
    ['Telemetry and persistence', dropPanels()],
  ];
  const builder = new DashboardBuilder('spanflow · overview')
    .uid(OVERVIEW_UID)
    .tags(['spanflow'])
    .description('Runs, steps, stage pipelines, worker threads and distributed queues of every spanflow pipeline, from the metric catalogue.')
    .refresh('10s')
    .time({ from: 'now-30m', to: 'now' })
    .timezone('browser')
    .readonly()
    .variables(variables());
  const shown = [...shownElsewhere];
  for (const [title, panels] of sections) {
    if (panels.length === 0) continue;
    builder.withRow(new RowBuilder(title));
    for (const panel of panels) {
      builder.withPanel(panel);
      shown.push(...(panel.build().targets ?? []).map((t) => (t as { expr?: string }).expr ?? ''));
    }
  }
  const unshown = Object.values(catalogue).filter((def) => {
    const names = prometheusSeries(def);
    return !shown.some((expr) => new RegExp(`\\b(${names.name}|${names.bucket}|${names.sum}|${names.count})\\b`).test(expr));
  });
  if (unshown.length > 0) {
    builder.withRow(new RowBuilder('More metrics'));
    for (const def of unshown) builder.withPanel(genericPanel(def));
  }
  return builder.build();
}
