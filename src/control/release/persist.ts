// Where a release controller keeps analysis runs across control-plane restarts: the store's meta
// table, through the read model (written through to SQLite at once). A run is resumed by loading it
// and calling AnalysisRunner.reconcile again: due times are wall-clock, counters are in the run.
import type { World } from '../world.js';
import type { AnalysisRun } from './analysis-run.js';
import { berthProvider, worldStatsSource } from './berth-provider.js';
import { measurePrometheus, measureWeb, type MetricProviders } from './providers.js';
import { recordingSources, replayProvider } from './providers/replay.js';

const KEY = (id: string) => `analysisrun:${id}`;

export function saveAnalysisRun(world: World, run: AnalysisRun): void {
  world.setMeta(KEY(run.id), JSON.stringify(run));
}

export function loadAnalysisRun(world: World, id: string): AnalysisRun | undefined {
  const text = world.getMeta(KEY(id));
  if (!text) return undefined;
  try {
    return JSON.parse(text) as AnalysisRun;
  } catch {
    return undefined; // written by this module only; a damaged value is treated as absent
  }
}

export function deleteAnalysisRun(world: World, id: string): void {
  world.deleteMeta(KEY(id));
}

/**
 * The providers as the control plane runs them: berth over the read model's ready instances,
 * prometheus and web over HTTP, replay over the recordings in `dirs.stateDir` (HAR paths relative
 * to `dirs.appDir`) when given.
 */
export function controlPlaneProviders(world: World, dirs?: { stateDir: string; appDir: () => string }): MetricProviders {
  return {
    berth: berthProvider(worldStatsSource(world)),
    prometheus: measurePrometheus,
    web: measureWeb,
    ...(dirs ? { replay: replayProvider(recordingSources(dirs.stateDir, dirs.appDir, world)) } : {}),
  };
}
