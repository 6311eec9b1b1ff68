// grafana/: the dashboards as code (Grafana's foundation SDK), the JSON they
// generate into grafana/dashboards/ (`npm run grafana`), and the catalogue's
// names in Prometheus. Provisioning files live in grafana/provisioning/.

import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { overviewDashboard } from './overview.ts';
import type { Catalogue } from './promql.ts';
import { runsDashboard } from './runs.ts';
import { workerPoolsDashboard } from './worker-pools.ts';

export { DATASOURCES, JAEGER, POSTGRES, PROMETHEUS, STACK_SCHEMA } from './datasources.ts';
export { OVERVIEW_UID } from './overview.ts';
export type { Catalogue } from './promql.ts';
export { type NamedMetric, type PrometheusSeries, type PrometheusType, prometheusLabel, prometheusName, prometheusSeries, prometheusType } from './prometheus-names.ts';
export { RUN_STATUS_COLOURS, RUNS_UID, STEP_STATUS_COLOURS } from './runs.ts';
export { WORKER_POOLS_UID } from './worker-pools.ts';

/** Where the generated JSON goes (and where compose mounts it from). */
export const DASHBOARDS_DIR = new URL('./dashboards/', import.meta.url);

export interface GeneratedDashboard {
  /** File name in grafana/dashboards/. */
  readonly file: string;
  readonly dashboard: Dashboard;
}

/** Every dashboard, built from the code and the metric catalogue (METRICS unless a test gives another). */
export function dashboards(catalogue?: Catalogue): GeneratedDashboard[] {
  const pools = workerPoolsDashboard(catalogue);
  const shownOnPools = queriesOf(pools).flatMap((q) => (q.expr === undefined ? [] : [q.expr]));
  return [
    { file: 'overview.json', dashboard: overviewDashboard(shownOnPools, catalogue) },
    { file: 'runs.json', dashboard: runsDashboard() },
    { file: 'worker-pools.json', dashboard: pools },
  ];
}

/** A dashboard's file contents: two-space JSON with a final newline. */
export function dashboardJson(dashboard: Dashboard): string {
  return `${JSON.stringify(dashboard, null, 2)}\n`;
}

/** One query of a panel (or of a variable: `panel` is then `$name`). */
export interface DashboardQuery {
  readonly panel: string;
  readonly refId: string | undefined;
  readonly datasource: { readonly type?: string; readonly uid?: string } | undefined;
  /** PromQL (Prometheus targets and variables). */
  readonly expr: string | undefined;
  /** SQL (Postgres targets and variables). */
  readonly rawSql: string | undefined;
}

interface PanelLike {
  readonly title?: string;
  readonly datasource?: { type?: string; uid?: string };
  readonly targets?: readonly Record<string, unknown>[];
  readonly panels?: readonly PanelLike[];
}

/** Every query of every panel (rows' panels included) and of every query variable. */
export function queriesOf(dashboard: Dashboard): DashboardQuery[] {
  const queries: DashboardQuery[] = [];
  const walk = (panels: readonly PanelLike[]) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        queries.push({
          panel: panel.title ?? '',
          refId: target.refId as string | undefined,
          datasource: (target.datasource as DashboardQuery['datasource']) ?? panel.datasource,
          expr: target.expr as string | undefined,
          rawSql: target.rawSql as string | undefined,
        });
      }
      walk(panel.panels ?? []);
    }
  };
  walk((dashboard.panels ?? []) as readonly PanelLike[]);
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== 'query') continue;
    const query = typeof variable.query === 'string' ? variable.query : undefined;
    const isSql = variable.datasource?.type === 'grafana-postgresql-datasource';
    queries.push({ panel: `$${variable.name}`, refId: undefined, datasource: variable.datasource, expr: isSql ? undefined : query, rawSql: isSql ? query : undefined });
  }
  return queries;
}
