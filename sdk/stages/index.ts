export { map, MapFailedError, type MapOptions as ConcurrentMapOptions } from './map.ts';
export { FeedError, Item, item, type ItemOptions, type Feedable, StagePipeline, stages } from './pipeline.ts';
export { registerDashboards, type DashboardFactory } from './registry.ts';
export { Batch, type BatchOptions } from './run.ts';
export { StatusTracker, type StatusTrackerOptions, type TrackedEvent } from './tracker.ts';
export type * from './types.ts';
