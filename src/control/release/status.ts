// What `berth release status SERVICE --json` prints (GET /api/v1/release/:service): the strategy,
// the step it is at, the weights, the instances of each side, every analysis run of the release with
// its measurements, why it is paused or aborted, and the shadow diffs of its mirrored requests.
// These names are a public contract.
import type { World } from '../world.js';
import type { AnalysisPhase, Measurement } from './analysis-run.js';
import { loadAnalysisRun } from './persist.js';
import { loadShadow, shadowStatus, type ShadowStatus } from './shadow.js';
import { isActive, loadRelease, type ReleasePhase } from './state.js';

export interface ReleaseStatus {
  service: string;
  strategy: 'rolling' | 'canary' | 'blueGreen';
  /** null: no release of the current revision (rolling, or nothing released since the service started). */
  phase: ReleasePhase | null;
  /** Index of the current step (0-based) and how many steps there are (canary). */
  step: number | null;
  steps: number;
  /** Percent of the requests each side gets now. */
  weights: { stable: number; canary: number };
  stableRevision: string | null;
  canaryRevision: string | null;
  /** Why it is paused, waiting or aborted. */
  message: string | null;
  /** Ready / live instances of each side. */
  instances: { stable: { ready: number; live: number }; canary: { ready: number; live: number } };
  headerRoutes: string[];
  startedAt: string | null;
  promotedAt: string | null;
  abortedAt: string | null;
  /** A timed pause ends then. */
  pauseUntil: string | null;
  analysisRuns: {
    id: string;
    templates: string[];
    phase: AnalysisPhase;
    message: string | null;
    metrics: { name: string; phase: AnalysisPhase; count: number; successful: number; failed: number; inconclusive: number; error: number; measurements: Measurement[] }[];
  }[];
  /** Mirrored requests compared with the primary's answers (setMirrorRoute, or the service's mirror routes); null: none read. */
  shadow: ShadowStatus | null;
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

export function releaseStatus(world: World, service: string): ReleaseStatus {
  const spec = world.spec(service);
  const strategy = spec?.release?.strategy ?? 'rolling';
  const s = loadRelease(world, service);
  const current = s && spec && s.canaryRevision === spec.revision ? s : undefined;
  const live = world.liveOf(service).filter((r) => r.phase === 'active');
  const count = (rev: string | undefined, not?: string) => {
    const of = live.filter((r) => (rev !== undefined ? r.revision === rev : r.revision !== not));
    return { ready: of.filter((r) => world.isReady(r)).length, live: of.length };
  };
  if (!current) {
    return {
      service,
      strategy,
      phase: null,
      step: null,
      steps: spec?.release?.canary?.steps.length ?? 0,
      weights: { stable: 100, canary: 0 },
      stableRevision: spec?.revision ?? null,
      canaryRevision: null,
      message: null,
      instances: { stable: count(undefined, ''), canary: { ready: 0, live: 0 } },
      headerRoutes: [],
      startedAt: null,
      promotedAt: null,
      abortedAt: null,
      pauseUntil: null,
      analysisRuns: [],
      shadow: null,
    };
  }
  const weight = current.phase === 'Degraded' ? 0 : current.phase === 'Healthy' ? 100 : current.weight;
  const stableShown = current.phase === 'Healthy' && !isActive(current) ? undefined : current.stableRevision;
  return {
    service,
    strategy: current.strategy,
    phase: current.phase,
    step: current.strategy === 'canary' ? current.step : null,
    steps: spec?.release?.canary?.steps.length ?? 0,
    weights: { stable: 100 - weight, canary: weight },
    stableRevision: stableShown ?? null,
    canaryRevision: current.canaryRevision,
    message: current.message ?? null,
    instances: { stable: stableShown ? count(stableShown) : { ready: 0, live: 0 }, canary: count(current.canaryRevision) },
    headerRoutes: current.headerRoutes.map((h) => h.name),
    startedAt: iso(current.startedAt),
    promotedAt: iso(current.promotedAt),
    abortedAt: iso(current.abortedAt),
    pauseUntil: iso(current.pauseUntil),
    analysisRuns: current.runs.flatMap((id) => {
      const run = loadAnalysisRun(world, id);
      if (!run) return [];
      return [
        {
          id: run.id,
          templates: run.templates,
          phase: run.phase,
          message: run.message ?? null,
          metrics: run.metrics.map((m) => ({ name: m.name, phase: m.phase, count: m.count, successful: m.successful, failed: m.failed, inconclusive: m.inconclusive, error: m.error, measurements: m.measurements })),
        },
      ];
    }),
    shadow: shadowOf(world, service, current.canaryRevision),
  };
}

function shadowOf(world: World, service: string, revision: string): ShadowStatus | null {
  const stored = loadShadow(world, service);
  if (!stored || stored.canaryRevision !== revision) return null;
  return shadowStatus(stored, world.spec(service)?.release?.canary?.steps ?? []);
}
