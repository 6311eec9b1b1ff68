// PromQL built from the metric catalogue: every metric and label name in a
// dashboard query comes from METRICS and ATTR through prometheus-names.ts.

import { ATTR, METRICS, type MetricDef, type MetricKey } from '../sdk/index.ts';
import { type PrometheusSeries, prometheusLabel, prometheusSeries } from './prometheus-names.ts';

/** The label names the dashboards group and filter by. */
export const LABEL = {
  pipeline: prometheusLabel(ATTR.PIPELINE_NAME),
  result: prometheusLabel(ATTR.RESULT),
  task: prometheusLabel(ATTR.TASK_NAME),
  taskResult: prometheusLabel(ATTR.TASK_RESULT),
  nodeKind: prometheusLabel(ATTR.NODE_KIND),
  errorType: prometheusLabel(ATTR.ERROR_TYPE),
  stage: prometheusLabel(ATTR.STAGE),
  itemStatus: prometheusLabel(ATTR.ITEM_STATUS),
  workerState: prometheusLabel(ATTR.WORKER_STATE),
  dropReason: prometheusLabel(ATTR.DROP_REASON),
  pool: prometheusLabel(ATTR.POOL_NAME),
  queue: prometheusLabel(ATTR.QUEUE_NAME),
} as const;

/** Grafana's rate window: at least four scrapes (or pushes) of the series. */
export const RATE = '$__rate_interval';
/** Grafana's whole dashboard time range. */
export const RANGE = '$__range';

/** A metric catalogue looked up by keys it may not hold (yet): METRICS, or another in tests. */
export type Catalogue = Readonly<Record<string, MetricDef>>;

/** A catalogue entry's Prometheus series, or undefined when the catalogue has no such key. */
export function maybeSeries(key: string, catalogue: Catalogue = METRICS): PrometheusSeries | undefined {
  const def = catalogue[key];
  return def && prometheusSeries(def);
}

/** A catalogue entry's Prometheus series. */
export function series(key: MetricKey): PrometheusSeries {
  return prometheusSeries(METRICS[key]);
}

const quote = (value: string) => JSON.stringify(value);
/** `label="value"` */
export const eq = (label: string, value: string) => `${label}=${quote(value)}`;
/** `label=~"regex"` (dashboard variables are regexes: `$pipeline`, All is `.*`). */
export const re = (label: string, value: string) => `${label}=~${quote(value)}`;

export function selector(name: string, matchers: readonly string[] = []): string {
  return matchers.length === 0 ? name : `${name}{${matchers.join(', ')}}`;
}

const by = (labels: readonly string[]) => (labels.length === 0 ? 'sum' : `sum by (${labels.join(', ')})`);

/** Per-second rate of a counter (or a histogram's `_count`), summed by `labels`. */
export function rateSum(name: string, labels: readonly string[], matchers: readonly string[] = [], window = RATE): string {
  return `${by(labels)} (rate(${selector(name, matchers)}[${window}]))`;
}

/** Increase of a counter over `window`, summed by `labels`. */
export function increaseSum(name: string, labels: readonly string[], matchers: readonly string[] = [], window = RANGE): string {
  return `${by(labels)} (increase(${selector(name, matchers)}[${window}]))`;
}

/** A gauge (or an up-down counter) summed by `labels`. */
export function gaugeSum(name: string, labels: readonly string[], matchers: readonly string[] = []): string {
  return `${by(labels)} (${selector(name, matchers)})`;
}

/** The `q` quantile of a histogram per `labels`, over Grafana's rate window. */
export function quantile(q: number, histogram: PrometheusSeries, labels: readonly string[], matchers: readonly string[] = []): string {
  return `histogram_quantile(${q}, ${rateSum(histogram.bucket, ['le', ...labels], matchers)})`;
}

/** A Prometheus query variable's query: the values of `label` on `name`'s series. */
export function labelValues(name: string, label: string, matchers: readonly string[] = []): string {
  return `label_values(${selector(name, matchers)}, ${label})`;
}
