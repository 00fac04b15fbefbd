// What `berth release status SERVICE --json` prints (GET /api/v1/release/:service): the strategy,
// the step it is at, the weights, the instances of each side, every analysis run of the release with
// its measurements, why it is paused or aborted, and the shadow diffs of its mirrored requests.
// These names are a public contract.
import type { World } from '../world.js';
import type { AnalysisPhase, Measurement } from './analysis-run.js';
import { loadAnalysisRun } from './persist.js';
import { loadShadow, shadowStatus, type ShadowStatus } from './shadow.js';
import { isActive, loadRelease, throttleRamp, type ReleasePhase, type ReleaseState } from './state.js';
import type { CanaryStepSpec } from '../../contract/index.js';

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
  /** The canary's release-time throttle (spec `release.canary.throttle`) as in force now; null when none is (no throttle, not a canary, or not in progress). */
  throttle: ReleaseThrottle | null;
}

export interface ReleaseThrottle {
  /** As the spec gives them (slowStart in ms). */
  rps: number | null;
  concurrency: number | null;
  slowStartMs: number | null;
  /** How far slowStart has ramped the budget since the last weight change (0.1 … 1; 1 without slowStart). */
  ramp: number;
  /** The canary's budget the proxies enforce now (weight: what the canary gets, the weight itself ramped when neither rps nor concurrency is set). */
  effective: { rps: number | null; concurrency: number | null; weight: number };
}

/** A released service for the dashboard: its status and the steps of its spec. */
export interface ReleaseOverview extends ReleaseStatus {
  stepSpecs: CanaryStepSpec[];
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
      throttle: null,
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
    throttle: throttleNow(current, spec?.release?.canary?.throttle, weight),
  };
}

/** The throttle as releaseMeshConfig (state.ts) applies it: only a canary that is not yet promoted. */
function throttleNow(s: ReleaseState, t: { rps?: number; concurrency?: number; slowStart?: number } | undefined, weight: number, now = Date.now()): ReleaseThrottle | null {
  if (!t || s.strategy !== 'canary' || s.phase === 'Healthy' || s.phase === 'Degraded') return null;
  const ramp = throttleRamp(t.slowStart, s.weightAt, now);
  const limited = t.rps !== undefined || t.concurrency !== undefined;
  return {
    rps: t.rps ?? null,
    concurrency: t.concurrency ?? null,
    slowStartMs: t.slowStart ?? null,
    ramp,
    effective: {
      rps: t.rps !== undefined ? Math.max(1, Math.round(t.rps * ramp * 100) / 100) : null,
      concurrency: t.concurrency !== undefined ? Math.max(1, Math.ceil(t.concurrency * ramp)) : null,
      weight: limited ? weight : Math.round(weight * ramp),
    },
  };
}

/** Every service of the running application whose spec asks for a canary or blue-green release, in spec order. */
export function releaseOverviews(world: World): ReleaseOverview[] {
  return (world.desired?.services ?? [])
    .filter((s) => !s.name.includes('.') && (s.release?.strategy === 'canary' || s.release?.strategy === 'blueGreen'))
    .map((s) => ({ ...releaseStatus(world, s.name), stepSpecs: s.release?.strategy === 'canary' ? (s.release.canary?.steps ?? []) : [] }));
}

function shadowOf(world: World, service: string, revision: string): ShadowStatus | null {
  const stored = loadShadow(world, service);
  if (!stored || stored.canaryRevision !== revision) return null;
  return shadowStatus(stored, world.spec(service)?.release?.canary?.steps ?? []);
}
