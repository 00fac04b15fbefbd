// Placement: `placement.nodeSelector` → nodeSelector, `placement.antiAffinity` → pod anti-affinity
// on the node (hostname) topology, and — as the local scheduler spreads a service's instances over
// nodes — a soft topologySpreadConstraint on the hostname whenever more than one replica runs.
import type { JsonObject, PodContribution, ServiceContext, ServiceRenderer } from './types.js';

interface PlacementFields {
  nodeSelector?: Record<string, string>;
  antiAffinity?: 'required' | 'preferred';
}

const HOSTNAME = 'kubernetes.io/hostname';

/** Reads `placement` without depending on its exact type (the field belongs to the scheduling work). */
function readPlacement(ctx: Omit<ServiceContext, 'pod'>): PlacementFields {
  const raw = (ctx.spec as unknown as Record<string, unknown>).placement;
  if (raw === undefined || raw === null || typeof raw !== 'object') return {};
  const out: PlacementFields = {};
  const { nodeSelector, antiAffinity, ...rest } = raw as Record<string, unknown>;
  if (nodeSelector && typeof nodeSelector === 'object') {
    out.nodeSelector = Object.fromEntries(Object.entries(nodeSelector as Record<string, unknown>).map(([k, v]) => [k, String(v)]).sort(([a], [b]) => (a < b ? -1 : 1)));
  }
  if (antiAffinity === 'required' || antiAffinity === 'preferred') out.antiAffinity = antiAffinity;
  else if (antiAffinity !== undefined) ctx.warn(`${ctx.path}.placement.antiAffinity`, `\`${String(antiAffinity)}\` is not rendered yet for Kubernetes`);
  for (const key of Object.keys(rest).sort()) ctx.warn(`${ctx.path}.placement.${key}`, 'not rendered yet for Kubernetes (no renderer handles this field)');
  return out;
}

function pod(ctx: Omit<ServiceContext, 'pod'>): PodContribution | undefined {
  const p = readPlacement(ctx);
  const spec: JsonObject = {};
  if (p.nodeSelector && Object.keys(p.nodeSelector).length) spec.nodeSelector = p.nodeSelector;
  const term = { labelSelector: { matchLabels: ctx.selector }, topologyKey: HOSTNAME };
  if (p.antiAffinity === 'required') spec.affinity = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } };
  if (p.antiAffinity === 'preferred') spec.affinity = { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }] } };
  if (ctx.spec.replicas > 1 || readScaleMax(ctx) > 1) {
    spec.topologySpreadConstraints = [{ maxSkew: 1, topologyKey: HOSTNAME, whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: ctx.selector } }];
  }
  return Object.keys(spec).length ? { spec } : undefined;
}

function readScaleMax(ctx: Omit<ServiceContext, 'pod'>): number {
  const scale = (ctx.spec as unknown as Record<string, unknown>).scale;
  if (scale && typeof scale === 'object' && typeof (scale as Record<string, unknown>).max === 'number') return (scale as { max: number }).max;
  return 0;
}

export const placementRenderer: ServiceRenderer = { family: 'placement', scope: 'deployment', handles: ['placement'], pod };
