// The runs dashboard (Postgres, the store's tables): recent runs with their
// status in colour and a link to their trace in Jaeger, failures by step and
// error type, the selected run's step attempts as a state timeline, and its
// pipeline's stored definition as a node graph. Every query names the schema
// through the `schema` constant, and each status colour comes from the
// engine's own list of statuses.

import { LegendDisplayMode, LegendPlacement, VizLegendOptionsBuilder } from '@grafana/grafana-foundation-sdk/common';
import type { DynamicConfigValue } from '@grafana/grafana-foundation-sdk/dashboard';
import {
  ConstantVariableBuilder,
  type Dashboard,
  DashboardBuilder,
  QueryVariableBuilder,
  RowBuilder,
  VariableHide,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { ArcOptionBuilder, PanelBuilder as NodeGraphBuilder, NodeOptionsBuilder } from '@grafana/grafana-foundation-sdk/nodegraph';
import { PanelBuilder as StateTimelineBuilder } from '@grafana/grafana-foundation-sdk/statetimeline';
import { PanelBuilder as TableBuilder } from '@grafana/grafana-foundation-sdk/table';
import type { StoredRunStatus } from '../exporters/postgres/index.ts';
import type { StepStatus } from '../sdk/index.ts';
import { JAEGER, POSTGRES, STACK_SCHEMA } from './datasources.ts';
import { interpolate, statusMappings, withRefIds } from './panels.ts';
import { RUNS_SQL } from './runs-sql.ts';
import { SqlQueryBuilder } from './sql.ts';

export const RUNS_UID = 'spanflow-runs';

/** Every status a stored run can have, in a colour (a new status is a compile error until it has one). */
export const RUN_STATUS_COLOURS: Readonly<Record<StoredRunStatus, string>> = {
  pending: 'text',
  running: 'yellow',
  succeeded: 'green',
  failed: 'red',
  timed_out: 'orange',
  cancelled: 'purple',
  suspended: 'blue',
  interrupted: 'dark-red',
};

/** Every status a step attempt can have, in a colour. */
export const STEP_STATUS_COLOURS: Readonly<Record<StepStatus, string>> = {
  queued: 'text',
  running: 'yellow',
  retrying: 'light-orange',
  succeeded: 'green',
  failed: 'red',
  timed_out: 'orange',
  skipped: 'text',
  cancelled: 'purple',
};

const prop = (id: string, value: unknown): DynamicConfigValue => ({ id, value });
const sql = (text: string) => new SqlQueryBuilder(text);

function variables() {
  return [
    new ConstantVariableBuilder('schema')
      .label('Schema')
      .description("The store's Postgres schema (SPANFLOW_SCHEMA of the process that writes the runs).")
      .value(STACK_SCHEMA),
    new QueryVariableBuilder('pipeline')
      .label('Pipeline')
      .datasource(POSTGRES)
      .query(RUNS_SQL.pipelines)
      .definition(RUNS_SQL.pipelines)
      .refresh(VariableRefresh.OnTimeRangeChanged)
      .sort(VariableSort.AlphabeticalAsc)
      .multi(true)
      .includeAll(true)
      .current({ text: 'All', value: '$__all' }),
    new QueryVariableBuilder('run')
      .label('Run')
      .description('The run the timeline and the graph show: the newest by default, or click a run in the table.')
      .datasource(POSTGRES)
      .query(RUNS_SQL.runVariable)
      .definition(RUNS_SQL.runVariable)
      .refresh(VariableRefresh.OnTimeRangeChanged)
      .sort(VariableSort.Disabled)
      .hide(VariableHide.DontHide),
  ];
}

function recentRuns() {
  const panel = new TableBuilder()
    .title('Recent runs')
    .description(
      'Top-level runs in the time range, newest first. Click a run to show its steps and graph below; a trace id opens the trace in Jaeger. A durable run says whether it was resumed, and links to its retry or the run it retries.',
    )
    .datasource(POSTGRES)
    .span(24)
    .height(10)
    .overrideByName('status', [prop('mappings', statusMappings(RUN_STATUS_COLOURS)), prop('custom.cellOptions', { type: 'color-background' })])
    .overrideByName('duration', [prop('unit', 's'), prop('decimals', 3)])
    .overrideByName('run', [
      prop('links', [{ title: 'Show this run', url: `/d/${RUNS_UID}/?var-run=\${__value.raw}&from=\${__data.fields.from_ms}&to=\${__data.fields.to_ms}` }]),
    ])
    .overrideByName('linked run', [prop('links', [{ title: 'Show the linked run (retry, or retried)', url: `/d/${RUNS_UID}/?var-run=\${__value.raw}` }])])
    .overrideByName('trace', [
      prop('links', [
        { title: 'Open the trace in Jaeger', url: '', internal: { datasourceUid: JAEGER.uid, datasourceName: 'Jaeger', query: { query: interpolate('__value.raw') } } },
      ]),
    ])
    .overrideByRegexp('^(from|to)_ms$', [prop('custom.hidden', true)]);
  for (const target of withRefIds([sql(RUNS_SQL.recentRuns)])) panel.withTarget(target);
  return panel;
}

function failures() {
  const panel = new TableBuilder()
    .title('Failures by step and error type')
    .description('Step attempts that failed in runs of the time range: failed = the last attempt, retried = an attempt that was tried again.')
    .datasource(POSTGRES)
    .span(24)
    .height(8);
  for (const target of withRefIds([sql(RUNS_SQL.failures)])) panel.withTarget(target);
  return panel;
}

function timeline() {
  const panel = new StateTimelineBuilder()
    .title('Steps of the selected run')
    .description(
      'Each step attempt of the run (and of its sub-pipeline runs) from start to end, coloured by status. A stage batch: each stage over the batch, red when an item failed in it, and each retried item attempt. Click a run in the table to zoom to it.',
    )
    .datasource(POSTGRES)
    .span(24)
    .height(12)
    .mappings(statusMappings(STEP_STATUS_COLOURS))
    .displayName(interpolate('__field.labels.step'))
    .spanNulls(false)
    .mergeValues(false)
    .legend(new VizLegendOptionsBuilder().showLegend(true).displayMode(LegendDisplayMode.List).placement(LegendPlacement.Bottom))
    .withTransformation({ id: 'partitionByValues', options: { fields: ['step'], keepFields: false } });
  for (const target of withRefIds([sql(RUNS_SQL.stepTimeline)])) panel.withTarget(target);
  return panel;
}

function graph() {
  const arc = (field: string, color: string) => new ArcOptionBuilder().field(field).color(color);
  const panel = new NodeGraphBuilder()
    .title('Pipeline graph of the selected run')
    .description(
      "The selected run's pipeline, from its stored definition; each node with its time and attempts in this run (green succeeded, red failed or timed out). A stage batch: each stage with its tasks' time, the items that passed it, failed in it and were retried, its arc split in proportion (tallies come when the batch ends).",
    )
    .datasource(POSTGRES)
    .span(24)
    .height(14)
    .nodes(new NodeOptionsBuilder().mainStatUnit('ms').arcs([arc('arc__succeeded', 'green'), arc('arc__failed', 'red'), arc('arc__other', '#8e8e8e')]));
  for (const target of withRefIds([sql(RUNS_SQL.graphNodes), sql(RUNS_SQL.graphEdges)])) panel.withTarget(target);
  return panel;
}

export function runsDashboard(): Dashboard {
  return new DashboardBuilder('spanflow · runs')
    .uid(RUNS_UID)
    .tags(['spanflow'])
    .description('Runs kept in Postgres (spanflow/postgres): recent runs, failures, and one run step by step.')
    .refresh('30s')
    .time({ from: 'now-6h', to: 'now' })
    .timezone('browser')
    .readonly()
    .variables(variables())
    .withRow(new RowBuilder('Runs'))
    .withPanel(recentRuns())
    .withPanel(failures())
    .withRow(new RowBuilder('The selected run'))
    .withPanel(timeline())
    .withPanel(graph())
    .build();
}
