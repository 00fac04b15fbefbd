// A release in progress, as data: which revision is stable and which is the canary (or blue-green
// preview), the step it is at, the traffic weight, header routes, the analysis runs it waits for and
// why it is paused or aborted. Kept in the store's meta table (through the read model) after every
// change, so a control plane killed mid-release resumes where it was. The deployment controller
// (which instances of which revision run), the mesh feed (weights and the canary's throttle) and the
// berth metric provider (which endpoints are canary) all read it from here.
import type { MeshConfig, MeshRoute } from '../../lib/mesh-protocol.js';
import type { DesiredService } from '../../plan/index.js';
import type { InstanceRecord } from '../store.js';
import type { World } from '../world.js';
import { variantOf } from '../instances.js';
import { effectiveReplicas } from '../controllers/replicas.js';

/** The mesh variant of a release's new revision (canary or blue-green preview). Stable keeps `default`. */
export const CANARY_VARIANT = 'canary';

/** Argo's rollout phases: Progressing (moving through the steps), Paused, Healthy (promoted), Degraded (aborted). */
export type ReleasePhase = 'Progressing' | 'Paused' | 'Healthy' | 'Degraded';

export interface HeaderRouteState {
  name: string;
  match: { headerName: string; headerValue: { exact?: string; prefix?: string; regex?: string } }[];
}

export interface MirrorRouteState {
  name: string;
  percentage: number;
  match: { method?: { exact?: string; prefix?: string; regex?: string }; path?: { exact?: string; prefix?: string; regex?: string }; headers?: Record<string, { exact?: string; prefix?: string; regex?: string }> }[];
}

export interface ReleaseState {
  service: string;
  strategy: 'canary' | 'blueGreen';
  phase: ReleasePhase;
  /** Revision hash serving before the release (what an abort returns to). */
  stableRevision: string;
  /** Revision hash being released. */
  canaryRevision: string;
  /** History numbers of both (the canary's entry is `progressing` until promoted). */
  stableNumber?: number;
  canaryNumber?: number;
  /** Index of the current step (steps.length: every step done). */
  step: number;
  /** Percent of the requests the canary gets (blue-green: 0 before the switch, 100 after). */
  weight: number;
  /** Epoch ms of the last weight change (throttle.slowStart ramps from there). */
  weightAt?: number;
  /** setCanaryScale in force (absent: canary instances follow the weight). */
  canaryScale?: { replicas?: number; weight?: number };
  headerRoutes: HeaderRouteState[];
  /** setMirrorRoute steps in force (absent in states stored before mirror routes). */
  mirrorRoutes?: MirrorRouteState[];
  /** Epoch ms: when the current step began, and when a timed pause ends (wall clock, as Argo's pauseStartTime). */
  stepStartedAt: number;
  pauseUntil?: number;
  /** Why the release is paused or degraded. */
  message?: string;
  /** Analysis runs (ids into the store): the current step's, and the background one. */
  stepRun?: string;
  backgroundRun?: string;
  /** Runs of this release, oldest first (for `berth release status`). */
  runs: string[];
  startedAt: number;
  /** Epoch ms of the abort decision / the promotion. */
  abortedAt?: number;
  promotedAt?: number;
  /** Blue-green: when the preview was first fully ready; after the switch, when the old revision scales down. */
  previewReadyAt?: number;
  scaleDownAt?: number;
  /** Blue-green: the post-promotion analysis passed. */
  postDone?: boolean;
  /** Blue-green: the switch happened (weight 100 to the new revision). */
  switched?: boolean;
  /** Promotion under way: the new revision scales to the service's replicas before the switch. */
  promoting?: boolean;
  /** A setWeight step waiting for its canary instances. */
  pendingWeight?: number;
  /** Replaced a release in progress (a new apply during a release). */
  replaced?: string;
}

const KEY = (service: string): string => `release:${service}`;

export function loadRelease(world: World, service: string): ReleaseState | undefined {
  const text = world.getMeta(KEY(service));
  if (!text) return undefined;
  try {
    return JSON.parse(text) as ReleaseState;
  } catch {
    return undefined; // written by this module only; a damaged value is treated as no release
  }
}

export function saveRelease(world: World, state: ReleaseState): void {
  world.setMeta(KEY(state.service), JSON.stringify(state));
}

export function deleteRelease(world: World, service: string): void {
  world.setMeta(KEY(service), '');
}

/** A release whose two revisions both matter now (Healthy keeps the old one only until its scale-down). */
export function isActive(s: ReleaseState | undefined): s is ReleaseState {
  return s !== undefined && (s.phase === 'Progressing' || s.phase === 'Paused' || s.phase === 'Degraded' || (s.phase === 'Healthy' && s.scaleDownAt !== undefined && s.scaleDownAt > Date.now()));
}

/** The variant an instance is routed and measured as: `canary` for a release's new revision. */
export function endpointVariant(world: World, rec: InstanceRecord): string {
  if (!rec.service.includes('.')) {
    const s = loadRelease(world, rec.service);
    // Healthy until the old revision scaled down: the routes still name `canary` (100 %).
    if (isActive(s) && rec.revision === s.canaryRevision) return CANARY_VARIANT;
  }
  return variantOf(rec.service);
}

/** Canary instances wanted at a weight: setCanaryScale, else ceil(replicas × weight); at least one while progressing. */
export function canaryReplicas(state: ReleaseState, replicas: number): number {
  if (state.phase === 'Degraded') return 0;
  if (state.strategy === 'blueGreen' || state.promoting) return replicas;
  const scale = state.canaryScale;
  // A setWeight waiting for its instances already asks for them.
  const n = scale?.replicas !== undefined ? scale.replicas : Math.ceil((replicas * (scale?.weight ?? Math.max(state.weight, state.pendingWeight ?? 0))) / 100);
  return Math.max(1, Math.min(n, Math.max(replicas, 1)));
}

/** Blue-green previews to serve: `<service>-preview` on previewPort until the switch (or an abort). */
export function previewServices(world: World): { name: string; service: string; port: number; servicePort: number }[] {
  const out: { name: string; service: string; port: number; servicePort: number }[] = [];
  for (const s of world.desired?.services ?? []) {
    const port = s.release?.blueGreen?.previewPort;
    if (port === undefined || s.port === undefined || s.name.includes('.')) continue;
    const state = loadRelease(world, s.name);
    if (!isActive(state) || state.strategy !== 'blueGreen' || state.canaryRevision !== s.revision || state.phase === 'Healthy' || state.phase === 'Degraded') continue;
    out.push({ name: `${s.name}-preview`, service: s.name, port, servicePort: s.port });
  }
  return out;
}

/** `berth ps`: an instance's side in a release in progress (`stable`, `canary`, or blue-green's `preview`). */
export function releaseRole(world: World, rec: InstanceRecord): { release?: 'stable' | 'canary' | 'preview' } {
  if (rec.service.includes('.')) return {};
  const s = loadRelease(world, rec.service);
  if (!isActive(s)) return {};
  if (rec.revision === s.stableRevision) return { release: 'stable' };
  if (rec.revision === s.canaryRevision) return { release: s.strategy === 'blueGreen' && s.phase !== 'Healthy' ? 'preview' : 'canary' };
  return {};
}

/** For `status`: a service in a release runs two revisions (`berth up --wait` counts stable's, and the canary is no leftover). */
export function releaseRevisions(world: World, spec: DesiredService): { release?: { stableRevision: string; canaryRevision: string } } {
  const s = loadRelease(world, spec.name);
  if (!isActive(s) || s.canaryRevision !== spec.revision || s.phase === 'Healthy') return {};
  return { release: { stableRevision: s.stableRevision, canaryRevision: s.canaryRevision } };
}

/** What the deployment controller runs for a service in a release: stable at full scale, the canary beside it. */
export interface ReleasePlan {
  stable: string;
  /** Replicas of stable (0 once a blue-green switch's scale-down delay passed: then no plan at all). */
  stableReplicas: number;
  canary: string;
  canaryReplicas: number;
}

export function releasePlan(world: World, spec: DesiredService): ReleasePlan | undefined {
  const s = loadRelease(world, spec.name);
  if (!isActive(s) || s.canaryRevision !== spec.revision) return undefined;
  const replicas = effectiveReplicas(world, spec);
  if (s.phase === 'Healthy') return { stable: s.stableRevision, stableReplicas: replicas, canary: s.canaryRevision, canaryReplicas: replicas };
  return { stable: s.stableRevision, stableReplicas: replicas, canary: s.canaryRevision, canaryReplicas: canaryReplicas(s, replicas) };
}

/** slowStart: the canary's budget (rps, concurrency, or without either the weight itself) grows linearly from the last weight change, in tenths (1: full). */
export function throttleRamp(slowStartMs: number | undefined, weightAt: number | undefined, now: number): number {
  return slowStartMs !== undefined && weightAt !== undefined ? Math.min(1, Math.max(0.1, Math.ceil(((now - weightAt) / slowStartMs) * 10) / 10)) : 1;
}

/**
 * The mesh config with every release applied: the service's routes to itself become a weighted
 * split between `default` (stable) and `canary`, header routes go first, and the canary's throttle
 * becomes a variant limit whose overflow is served by stable.
 */
export function releaseMeshConfig(world: World, config: MeshConfig, now = Date.now()): MeshConfig {
  let out = config;
  for (const s of world.desired?.services ?? []) {
    if (s.name.includes('.') || s.port === undefined) continue;
    const state = loadRelease(world, s.name);
    if (!isActive(state) || state.canaryRevision !== s.revision) continue;
    const throttle = state.strategy === 'canary' && state.phase !== 'Healthy' ? s.release?.canary?.throttle : undefined;
    const ramp = throttleRamp(throttle?.slowStart, state.weightAt, now);
    const target = state.phase === 'Degraded' ? 0 : state.phase === 'Healthy' ? 100 : state.weight;
    const weight = throttle && throttle.rps === undefined && throttle.concurrency === undefined ? Math.round(target * ramp) : target;
    const own = config.services?.[s.name] ?? {};
    const split = (): MeshRoute['to'] => [
      { service: s.name, variant: 'default', weight: 100 - weight },
      { service: s.name, variant: CANARY_VARIANT, weight },
    ];
    const base: MeshRoute[] = own.routes && own.routes.length > 0 ? own.routes : [{}];
    const routes: MeshRoute[] = [
      ...(state.phase === 'Degraded' || state.phase === 'Healthy'
        ? []
        : state.headerRoutes.map((h) => ({
            name: `release-${h.name}`,
            match: { headers: Object.fromEntries(h.match.map((m) => [m.headerName.toLowerCase(), m.headerValue])) },
            to: [{ service: s.name, variant: CANARY_VARIANT, weight: 100 }],
          }))),
      ...(state.phase === 'Degraded' || state.phase === 'Healthy' ? [] : (state.mirrorRoutes ?? []).flatMap((m) => mirrorRoutes(s.name, m, split(), state.canaryRevision))),
      ...base.map((r) => (r.to === undefined || r.to === s.name ? { ...r, to: split() } : r)),
    ];
    const policy = own.policy ?? { balancer: 'round_robin' as const };
    const canaryLimit =
      throttle && (throttle.rps !== undefined || throttle.concurrency !== undefined)
        ? {
            ...(throttle.rps !== undefined ? { rateLimit: { requestsPerSecond: Math.max(1, Math.round(throttle.rps * ramp * 100) / 100), burst: Math.max(1, Math.ceil((throttle.rps * ramp) / 10)) } } : {}),
            ...(throttle.concurrency !== undefined ? { concurrencyLimit: Math.max(1, Math.ceil(throttle.concurrency * ramp)) } : {}),
            overflowTo: 'default',
          }
        : undefined;
    out = {
      ...out,
      services: {
        ...out.services,
        [s.name]: { ...own, routes, ...(canaryLimit ? { policy: { ...policy, variants: { ...policy.variants, [CANARY_VARIANT]: canaryLimit } } } : own.policy ? { policy } : {}) },
      },
    };
  }
  return out;
}

/** A setMirrorRoute's mesh route names: `release-mirror-<name>-<index of the match entry>`. */
export const MIRROR_ROUTE_PREFIX = 'release-mirror-';

/**
 * A setMirrorRoute as mesh routes: one per match entry (any may hold), served by the weighted split,
 * copied to the canary. The canary revision keys the copies' shadow diffs (this release's own counts).
 */
function mirrorRoutes(service: string, m: MirrorRouteState, to: MeshRoute['to'], key: string): MeshRoute[] {
  return m.match.map((x, i) => {
    const match: NonNullable<MeshRoute['match']> = {};
    if (x.path) match.path = { ...x.path };
    // The mesh matches methods exactly; a prefix or regex method is matched on its exact value only when given.
    if (x.method?.exact !== undefined) match.method = x.method.exact;
    if (x.headers) match.headers = Object.fromEntries(Object.entries(x.headers).map(([k, v]) => [k.toLowerCase(), { ...v }]));
    return { name: `${MIRROR_ROUTE_PREFIX}${m.name}-${i}`, match, to, mirror: { service, variant: CANARY_VARIANT, percent: m.percentage, key } };
  });
}
