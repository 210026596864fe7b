export { executeBuild, type ExecuteOptions, type StageResult } from './execute.ts';
export { type CacheSettings, type RemoteCache } from './cache-session.ts';
export { type CacheEntry, type CachedLayer, type ConfigAfter, entryFromJson, entryToJson } from './cache-store.ts';
export type { ImageResolver } from './base-image.ts';
export type { BuildContext, BuildEvent, ExecOptions, Expander } from './stage-state.ts';
export { BuildStepError } from './errors.ts';
export type { RunMountRequest, RunRequest, StageRunner } from './run-step.ts';
export { brokenCacheEntries, type BrokenCacheEntry, pruneCache, type CachePruneResult } from './cache-prune.ts';
