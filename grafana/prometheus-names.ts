// The names a catalogue metric has in Prometheus once the OpenTelemetry
// Collector has pushed it to Prometheus's OTLP receiver, whose translation
// strategy is UnderscoreEscapingWithSuffixes (compose/prometheus.yml): the name
// split on anything but [a-zA-Z0-9:] and joined with underscores, the unit's
// suffix (`s` -> `_seconds`; UCUM annotations such as `{run}` give none),
// `_total` on counters, `_ratio` on gauges of unit `1`; histograms as
// `_bucket` / `_sum` / `_count` series. Attributes become labels the same way.
// A suffix the name already has is not added again: the catalogue's names end
// in theirs, so @opentelemetry/exporter-prometheus, which adds none but
// `_total`, serves the same names (grafana/README.md).
// One implementation: the dashboards build their queries with it, and the
// PromQL test exposes the SDK's metrics to a real Prometheus under it.

import type { Instrument, MetricDef } from '../sdk/index.ts';

/** How Prometheus types a series family: up-down counters become gauges. */
export type PrometheusType = 'counter' | 'gauge' | 'histogram';

/** What the translation needs of a metric: its catalogue entry, or what an SDK exported. */
export type NamedMetric = Pick<MetricDef, 'name' | 'unit' | 'instrument'>;

/** UCUM units with a Prometheus name (the translator's table, for the units a catalogue may use). */
const UNITS: Readonly<Record<string, string>> = {
  d: 'days',
  h: 'hours',
  min: 'minutes',
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  GiBy: 'gibibytes',
  TiBy: 'tibibytes',
  KBy: 'kilobytes',
  MBy: 'megabytes',
  GBy: 'gigabytes',
  TBy: 'terabytes',
  m: 'meters',
  V: 'volts',
  A: 'amperes',
  J: 'joules',
  W: 'watts',
  g: 'grams',
  Cel: 'celsius',
  Hz: 'hertz',
  '1': '',
  '%': 'percent',
};
const PER_UNITS: Readonly<Record<string, string>> = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week', mo: 'month', y: 'year' };

/** Splits on every character a legacy Prometheus name may not hold, dropping empty tokens. */
const tokens = (text: string): string[] => text.split(/[^a-zA-Z0-9:]+/).filter((t) => t !== '');
/** A unit part: annotations (`{run}`) and blanks give no suffix. */
const unitPart = (part: string | undefined, table: Readonly<Record<string, string>>): string => {
  const trimmed = part?.trim() ?? '';
  if (trimmed === '' || /[{}]/.test(trimmed)) return '';
  return table[trimmed] ?? trimmed;
};

export function prometheusType(instrument: Instrument): PrometheusType {
  return instrument === 'counter' ? 'counter' : instrument === 'histogram' ? 'histogram' : 'gauge';
}

/** The metric family's name (a histogram's, without `_bucket` / `_sum` / `_count`). */
export function prometheusName(metric: NamedMetric): string {
  const name = tokens(metric.name);
  const [main, per] = metric.unit.split('/', 2);
  const mainSuffix = tokens(unitPart(main, UNITS)).join('_');
  const perUnit = unitPart(per, PER_UNITS);
  const perSuffix = perUnit === '' ? '' : tokens(`per_${perUnit}`).join('_');
  if (mainSuffix !== '' && !name.includes(mainSuffix)) name.push(mainSuffix);
  if (perSuffix !== '' && !name.includes(perSuffix)) name.push(perSuffix);
  let result = name;
  if (metric.instrument === 'counter') result = [...result.filter((t) => t !== 'total'), 'total'];
  // Gauges only: an up-down counter of unit `1` keeps its name.
  if (metric.unit === '1' && metric.instrument === 'gauge') result = [...result.filter((t) => t !== 'ratio'), 'ratio'];
  const joined = result.join('_');
  return /^[0-9]/.test(joined) ? `_${joined}` : joined;
}

/** A label's name for an attribute (`cicd.pipeline.name` -> `cicd_pipeline_name`). */
export function prometheusLabel(attribute: string): string {
  const name = attribute.replace(/[^a-zA-Z0-9_]/g, '_').replace(/__+/g, '_');
  return /^[0-9]/.test(name) ? `key_${name}` : name;
}

/** Every series name of a metric, by what it holds. */
export interface PrometheusSeries {
  readonly type: PrometheusType;
  /** The family name: a counter's or gauge's samples carry it. */
  readonly name: string;
  /** Histograms: the cumulative bucket counts (`le` label), their sum and count. */
  readonly bucket: string;
  readonly sum: string;
  readonly count: string;
}

export function prometheusSeries(metric: NamedMetric): PrometheusSeries {
  const name = prometheusName(metric);
  return { type: prometheusType(metric.instrument), name, bucket: `${name}_bucket`, sum: `${name}_sum`, count: `${name}_count` };
}
