// Panel and query builders the three dashboards share: Prometheus targets on
// the provisioned datasource, time series with a legend table, stats.

import { LegendDisplayMode, LegendPlacement, ReduceDataOptionsBuilder, SortOrder, TooltipDisplayMode, VizLegendOptionsBuilder, VizTooltipOptionsBuilder } from '@grafana/grafana-foundation-sdk/common';
import { MappingType, QueryVariableBuilder, type ValueMapping, VariableHide, VariableRefresh, VariableSort } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder, PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import { PROMETHEUS } from './datasources.ts';

export interface PromTargetOptions {
  /** Ask Prometheus for exemplars too (histograms): each links to its trace in Jaeger. */
  readonly exemplar?: boolean;
  readonly format?: PromQueryFormat;
  /** One value at the end of the range (stats), instead of a range. */
  readonly instant?: boolean;
}

/** A PromQL query on the provisioned Prometheus; refIds are given in panel order (A, B, …). */
export function prom(expr: string, legend: string, options: PromTargetOptions = {}): DataqueryBuilder {
  const target = new DataqueryBuilder().datasource(PROMETHEUS).expr(expr).legendFormat(legend);
  if (options.exemplar) target.exemplar(true);
  if (options.format) target.format(options.format);
  if (options.instant) target.instant();
  else target.range();
  return target;
}

export const heatmapFormat = PromQueryFormat.Heatmap;

/** A legend of label values: `{{a}} · {{b}}`. */
export const legend = (...labels: readonly string[]) => labels.map((l) => `{{${l}}}`).join(' · ');
/** A Grafana interpolation, `${expr}` (written so, since plain strings with it read as a slip). */
export const interpolate = (expr: string) => `\${${expr}}`;
/** `p95` for 0.95. */
export const pct = (q: number) => `p${Math.round(q * 100)}`;

const refIds = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
/** Gives each target its refId in order. */
export function withRefIds<T extends { refId(id: string): unknown }>(targets: readonly T[]): readonly T[] {
  targets.forEach((target, i) => {
    target.refId(refIds[i] ?? `Q${i}`);
  });
  return targets;
}

export interface TimeseriesOptions {
  readonly description: string;
  readonly unit: string;
  readonly width?: number;
  readonly height?: number;
  readonly stacked?: boolean;
  readonly min?: number;
  readonly max?: number;
}

/** What the time series and stat builders share, and these panels set alike. */
interface PrometheusPanel {
  title(title: string): this;
  description(description: string): this;
  datasource(ref: typeof PROMETHEUS): this;
  unit(unit: string): this;
  span(span: number): this;
  height(height: number): this;
  min(min: number): this;
  max(max: number): this;
  withTarget(target: DataqueryBuilder): this;
}

/** Title, description, datasource, unit, size, bounds and queries: the same for every Prometheus panel here. */
function prometheusPanel<P extends PrometheusPanel>(panel: P, title: string, options: TimeseriesOptions, width: number, targets: readonly DataqueryBuilder[]): P {
  panel
    .title(title)
    .description(options.description)
    .datasource(PROMETHEUS)
    .unit(options.unit)
    .span(options.width ?? width)
    .height(options.height ?? 8);
  if (options.min !== undefined) panel.min(options.min);
  if (options.max !== undefined) panel.max(options.max);
  for (const target of withRefIds(targets)) panel.withTarget(target);
  return panel;
}

/** A time series panel on Prometheus with a legend table (mean, max, last). */
export function timeseries(title: string, options: TimeseriesOptions, targets: readonly DataqueryBuilder[]): TimeseriesBuilder {
  const panel = new TimeseriesBuilder()
    .fillOpacity(options.stacked ? 40 : 10)
    .legend(new VizLegendOptionsBuilder().showLegend(true).displayMode(LegendDisplayMode.Table).placement(LegendPlacement.Bottom).calcs(['mean', 'max', 'lastNotNull']))
    .tooltip(new VizTooltipOptionsBuilder().mode(TooltipDisplayMode.Multi).sort(SortOrder.Descending));
  return prometheusPanel(panel, title, options, 12, targets);
}

/** A stat panel on Prometheus: the last value of each series. */
export function stat(title: string, options: TimeseriesOptions, targets: readonly DataqueryBuilder[]): StatBuilder {
  const panel = new StatBuilder().reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false));
  return prometheusPanel(panel, title, options, 6, targets);
}

/** Value mappings that show each status in its colour. */
export function statusMappings(colours: Readonly<Record<string, string>>): ValueMapping[] {
  const options = Object.fromEntries(Object.entries(colours).map(([status, color], index) => [status, { text: status, color, index }]));
  return [{ type: MappingType.ValueToText, options }];
}

/** A Prometheus variable that takes several values or All (`.*`), listed from `query`, refreshed with the time range. */
export function promVariable(name: string, label: string, query: string): QueryVariableBuilder {
  return new QueryVariableBuilder(name)
    .label(label)
    .datasource(PROMETHEUS)
    .query(query)
    .definition(query)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .allValue('.*')
    .current({ text: 'All', value: '$__all' })
    .hide(VariableHide.DontHide);
}
