// spanflow/console: terminal dashboards for stage pipelines. Importing this module registers
// them with the engine, so `progress: true` and `dashboard: 'compact' | 'detailed' | 'full'` work.
import { registerDashboards } from '../sdk/index.ts';
import { consoleDashboard, progressBar } from './console/dashboard.ts';

registerDashboards((view) => (view === 'progress' ? progressBar() : consoleDashboard(view)));

export { type ConsoleOptions, consoleDashboard, progressBar } from './console/dashboard.ts';
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
