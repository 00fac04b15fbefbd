// Scaling: a service's `scale:` as a HorizontalPodAutoscaler (cpu/memory) or, when it scales on
// request metrics (rps, concurrency, latency) or to zero, a KEDA ScaledObject with Prometheus
// queries over Istio's standard metrics (KEDA then owns the HPA). The behaviour (stabilization
// windows, step limits) keeps Kubernetes' names, with Berth's effective values written out. The
// field belongs to the autoscaling work and is read defensively: a shape this module does not know
// is a warning, never a silent drop.
import type { Json, JsonObject, K8sObject, ServiceContext, ServiceRenderer } from './types.js';

/** The HPA controller's sync period: Berth's local autoscaler evaluates every second. */
const HPA_PERIOD_SECONDS = 15;

interface Step {
  stabilizationSeconds?: number;
  maxStepPercent?: number;
  maxStepInstances?: number;
}
export interface ScaleFields {
  min: number;
  max: number;
  metrics: Record<string, number>[];
  idleSeconds?: number;
  behavior?: { scaleUp?: Step; scaleDown?: Step };
}

const RESOURCE_METRICS: Record<string, 'cpu' | 'memory'> = { cpuPercent: 'cpu', memoryPercent: 'memory' };
const REQUEST_METRICS = new Set(['rps', 'concurrency', 'p99Ms']);

/** `scale` as this module understands it, or undefined (with warnings) when it is absent or unknown. */
export function readScale(ctx: Omit<ServiceContext, 'pod'>): ScaleFields | undefined {
  const raw = (ctx.spec as unknown as Record<string, unknown>).scale;
  if (raw === undefined || raw === null) return undefined;
  const path = `${ctx.path}.scale`;
  const s = raw as Record<string, unknown>;
  if (typeof s !== 'object' || typeof s.max !== 'number') {
    ctx.warn(path, 'not rendered yet for Kubernetes (a shape without `max` is unknown to the renderer)');
    return undefined;
  }
  const metrics = Array.isArray(s.metrics) ? (s.metrics as Record<string, number>[]) : [];
  for (const key of Object.keys(s).filter((k) => !['min', 'max', 'metrics', 'idleSeconds', 'behavior'].includes(k)).sort()) {
    ctx.warn(`${path}.${key}`, 'not rendered yet for Kubernetes (no renderer handles this field)');
  }
  return { min: typeof s.min === 'number' ? s.min : 1, max: s.max, metrics, idleSeconds: typeof s.idleSeconds === 'number' ? s.idleSeconds : undefined, behavior: s.behavior as ScaleFields['behavior'] };
}

function promQuery(metric: string, service: string): string {
  const sel = `reporter="destination",destination_workload="${service}"`;
  if (metric === 'rps') return `sum(rate(istio_requests_total{${sel}}[1m]))`;
  // Little's law: requests in flight = arrival rate × mean duration = summed durations per second.
  if (metric === 'concurrency') return `sum(rate(istio_request_duration_milliseconds_sum{${sel}}[1m])) / 1000`;
  return `histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{${sel}}[1m])) by (le))`;
}

function rules(step: Step | undefined): JsonObject | undefined {
  if (!step) return undefined;
  const policies: Json[] = [];
  if (step.maxStepPercent !== undefined) policies.push({ type: 'Percent', value: step.maxStepPercent, periodSeconds: HPA_PERIOD_SECONDS });
  if (step.maxStepInstances !== undefined) policies.push({ type: 'Pods', value: step.maxStepInstances, periodSeconds: HPA_PERIOD_SECONDS });
  const out: JsonObject = {};
  if (step.stabilizationSeconds !== undefined) out.stabilizationWindowSeconds = step.stabilizationSeconds;
  if (policies.length) {
    out.policies = policies;
    out.selectPolicy = 'Max'; // the larger step wins, as Kubernetes' default and Berth's autoscaler
  }
  return Object.keys(out).length ? out : undefined;
}

function behavior(scale: ScaleFields): JsonObject | undefined {
  const up = rules(scale.behavior?.scaleUp);
  const down = rules(scale.behavior?.scaleDown);
  if (!up && !down) return undefined;
  const out: JsonObject = {};
  if (up) out.scaleUp = up;
  if (down) out.scaleDown = down;
  return out;
}

function render(ctx: ServiceContext): K8sObject[] {
  const scale = readScale(ctx);
  if (!scale) return [];
  const path = `${ctx.path}.scale`;
  const target = { apiVersion: 'apps/v1', kind: 'Deployment', name: ctx.deployment };
  const resource: [string, 'cpu' | 'memory', number][] = [];
  const request: [string, number][] = [];
  scale.metrics.forEach((m, i) => {
    for (const [k, v] of Object.entries(m)) {
      if (RESOURCE_METRICS[k]) resource.push([k, RESOURCE_METRICS[k], v]);
      else if (REQUEST_METRICS.has(k)) request.push([k, v]);
      else ctx.warn(`${path}.metrics.${i}.${k}`, 'metric not rendered yet for Kubernetes');
    }
  });
  for (const [k, res] of resource) {
    const requested = res === 'cpu' ? ctx.spec.resources.cpuMillis : ctx.spec.resources.memoryMiB;
    if (requested === undefined) ctx.warn(`${path}.metrics`, `${k} is a percentage of the container's ${res} request, and the service sets no resources.${res === 'cpu' ? 'cpuMillis' : 'memoryMiB'}: the autoscaler cannot compute it`);
  }
  ctx.warn(path, `the cluster evaluates every ${HPA_PERIOD_SECONDS} s (HPA sync; 1 s locally)${request.length ? ' and measures request rates over 1 m in Prometheus (a 3 s window locally)' : ''}`);
  const useKeda = request.length > 0 || scale.min === 0;
  if (!useKeda) {
    const hpa: JsonObject = {
      scaleTargetRef: target,
      minReplicas: Math.max(1, scale.min),
      maxReplicas: scale.max,
      metrics: resource.map(([, res, v]) => ({ type: 'Resource', resource: { name: res, target: { type: 'Utilization', averageUtilization: v } } })),
    };
    const b = behavior(scale);
    if (b) hpa.behavior = b;
    return [{ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: ctx.deployment, labels: ctx.labels }, spec: hpa }];
  }
  if (ctx.mesh !== 'istio' && request.length) ctx.warn(`${path}.metrics`, 'request metrics come from Istio\'s standard metrics: with --mesh gateway-api the queries need a mesh that exports istio_requests_total');
  if (scale.min === 0 && request.length === 0) ctx.warn(`${path}.min`, 'KEDA cannot scale to zero on cpu/memory alone: add an rps or concurrency metric');
  const triggers: Json[] = [
    ...request.map(([k, v]): JsonObject => ({
      type: 'prometheus',
      name: k,
      metricType: k === 'p99Ms' ? 'Value' : 'AverageValue',
      metadata: { serverAddress: ctx.options.prometheusUrl, query: promQuery(k, ctx.deployment), threshold: String(v) },
    })),
    ...resource.map(([k, res, v]): JsonObject => ({ type: res, name: k, metricType: 'Utilization', metadata: { value: String(v) } })),
  ];
  const spec: JsonObject = { scaleTargetRef: target, minReplicaCount: scale.min, maxReplicaCount: scale.max, pollingInterval: HPA_PERIOD_SECONDS, triggers };
  if (scale.min === 0) spec.cooldownPeriod = scale.idleSeconds ?? 60; // Berth's default idle time before going to zero
  const b = behavior(scale);
  if (b) spec.advanced = { horizontalPodAutoscalerConfig: { behavior: b } };
  return [{ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: ctx.deployment, labels: ctx.labels }, spec }];
}

export const scalingRenderer: ServiceRenderer = { family: 'scaling', scope: 'deployment', handles: ['scale'], render };
