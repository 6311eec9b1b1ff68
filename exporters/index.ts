// spanflow/console: terminal dashboards for stage pipelines, as values
// (`dashboard: detailedDashboard()`, `progress: progressBar()`). Importing this
// module also registers them with the engine, so the short forms `progress: true`
// and `dashboard: 'compact' | 'detailed' | 'full'` work. Its optional peers
// (log-update, cli-table3) are loaded when a dashboard is made.
import { registerDashboards } from '../sdk/index.ts';
import { consoleDashboard, progressBar } from './console/dashboard.ts';

registerDashboards((view) => (view === 'progress' ? progressBar() : consoleDashboard(view)));

export {
  compactDashboard,
  type ConsoleOptions,
  consoleDashboard,
  detailedDashboard,
  fullDashboard,
  progressBar,
} from './console/dashboard.ts';
export { type RateMeter, rateMeter } from './console/rate.ts';
export {
  type ConsoleView,
  itemCounts,
  type Progress,
  plainLine,
  progressOf,
  type RenderOptions,
  renderCompact,
  renderDetailed,
  renderFull,
  renderProgress,
  summaryLine,
} from './console/render.ts';
