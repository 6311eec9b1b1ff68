// The console dashboards live in exporters/ (spanflow/console), which the
// engine may not import. Like @opentelemetry/api's global providers, the
// engine keeps a slot that spanflow/console fills when it is imported, so
// `dashboard: 'detailed'` and `progress: true` work with no further wiring.

import type { Dashboard, DashboardName } from './types.ts';

export type DashboardFactory = (view: DashboardName | 'progress') => Dashboard;

let factory: DashboardFactory | undefined;

/** Called by spanflow/console on import. */
export function registerDashboards(make: DashboardFactory): void {
  factory = make;
}

export function resolveDashboard(view: DashboardName | 'progress'): Dashboard {
  if (!factory) {
    const value = view === 'progress' ? 'progress: progressBar()' : `dashboard: ${view}Dashboard()`;
    const name = view === 'progress' ? 'progressBar' : `${view}Dashboard`;
    throw new Error(
      `the '${view}' dashboard lives in spanflow/console: pass \`${value}\` (import { ${name} } from 'spanflow/console'), ` +
        "or add `import 'spanflow/console'` once for the short form, or pass any dashboard object ({ onUpdate(snapshot) {...} })",
    );
  }
  return factory(view);
}
