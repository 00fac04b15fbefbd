// A service's `release` as Argo Rollouts (issue 14 point 5): its Deployment becomes a Rollout with the
// same pod template and the canary or blue-green strategy (the same fields, the same meaning); with
// Istio the canary's weights move through a VirtualService route and DestinationRule subsets Argo
// manages; `analysisTemplates` become AnalysisTemplates, the `berth` provider's measures Prometheus
// queries over Istio's standard metrics (the Prometheus address is the `prometheusUrl` option).
import type { AppSpec, AnalysisMetricSpec, CanaryStepSpec, ReleaseSpec } from '../../contract/index.js';
import type { KubernetesOptions } from './options.js';
import type { JsonObject, K8sObject, MeshKind } from './types.js';
import { parseExpression, type ExprNode } from '../../lib/expr.js';

const ROLLOUT_API = 'argoproj.io/v1alpha1';
/** The Istio route Argo moves the weights on, and the subsets it labels with the pod-template hash. */
export const ROLLOUT_ROUTE = 'primary';
/** Istio reads a pod's canonical revision from this label: the berth provider's canary/stable split in the queries. */
const REVISION_LABEL = 'service.istio.io/canonical-revision';

const seconds = (ms: number): string => `${Math.max(1, Math.round(ms / 1000))}s`;
const templates = (names: string[]) => names.map((templateName) => ({ templateName }));

function step(s: CanaryStepSpec): JsonObject {
  if (s.setWeight !== undefined) return { setWeight: s.setWeight };
  if (s.pause) return { pause: s.pause.duration !== undefined ? { duration: seconds(s.pause.duration) } : {} };
  if (s.setCanaryScale) return { setCanaryScale: { ...s.setCanaryScale } };
  if (s.setHeaderRoute) return { setHeaderRoute: { name: s.setHeaderRoute.name, ...(s.setHeaderRoute.match ? { match: s.setHeaderRoute.match.map((m) => ({ headerName: m.headerName, headerValue: { ...m.headerValue } })) } : {}) } };
  if (s.setMirrorRoute) {
    const m = s.setMirrorRoute;
    return { setMirrorRoute: { name: m.name, ...(m.percentage !== undefined ? { percentage: m.percentage } : {}), ...(m.match ? { match: m.match.map((x) => JSON.parse(JSON.stringify(x)) as JsonObject) } : {}) } };
  }
  return { analysis: { templates: templates(s.analysis!.templates) } };
}

function canaryStrategy(name: string, r: ReleaseSpec, routed: boolean): JsonObject {
  const c = r.canary ?? { steps: [] };
  const managed = [...new Set(c.steps.flatMap((s) => [s.setHeaderRoute?.name, s.setMirrorRoute?.name]).filter((n): n is string => n !== undefined))];
  return {
    canary: {
      steps: c.steps.map(step),
      ...(c.analysis ? { analysis: { templates: templates(c.analysis.templates), ...(c.analysis.startingStep !== undefined ? { startingStep: c.analysis.startingStep } : {}) } } : {}),
      canaryMetadata: { labels: { [REVISION_LABEL]: 'canary' } },
      stableMetadata: { labels: { [REVISION_LABEL]: 'stable' } },
      ...(routed
        ? {
            trafficRouting: {
              ...(managed.length ? { managedRoutes: managed.map((n) => ({ name: n })) } : {}),
              istio: { virtualService: { name, routes: [ROLLOUT_ROUTE] }, destinationRule: { name, canarySubsetName: 'canary', stableSubsetName: 'stable' } },
            },
          }
        : {}),
    },
  };
}

function blueGreenStrategy(name: string, r: ReleaseSpec): JsonObject {
  const b = r.blueGreen!;
  return {
    blueGreen: {
      activeService: name,
      ...(b.previewPort !== undefined ? { previewService: `${name}-preview` } : {}),
      autoPromotionEnabled: b.autoPromotionEnabled,
      ...(b.autoPromotionSeconds !== undefined ? { autoPromotionSeconds: b.autoPromotionSeconds } : {}),
      scaleDownDelaySeconds: b.scaleDownDelaySeconds,
      ...(b.prePromotionAnalysis ? { prePromotionAnalysis: { templates: templates(b.prePromotionAnalysis.templates) } } : {}),
      ...(b.postPromotionAnalysis ? { postPromotionAnalysis: { templates: templates(b.postPromotionAnalysis.templates) } } : {}),
    },
  };
}

/**
 * Replaces the Deployment of every service with a canary or blue-green release by a Rollout, and adds
 * what the strategy refers to (the Istio route and subsets, the preview Service). Returns the new list.
 */
export function toRollouts(objects: K8sObject[], spec: AppSpec, mesh: MeshKind, warn: (path: string, message: string) => void): K8sObject[] {
  let out = [...objects];
  for (const [name, svc] of Object.entries(spec.services)) {
    const r = svc.release;
    if (!r || r.strategy === 'rolling') continue;
    const path = `services.${name}.release`;
    const i = out.findIndex((o) => o.kind === 'Deployment' && o.metadata.name === name);
    if (i < 0) continue;
    const dep = out[i];
    const depSpec = dep.spec as JsonObject;
    const vs = out.find((o) => o.kind === 'VirtualService' && o.metadata.name === name);
    const dr = out.find((o) => o.kind === 'DestinationRule' && o.metadata.name === name);
    let routed = false;
    if (r.strategy === 'canary') {
      if (mesh !== 'istio') warn(path, 'with --mesh gateway-api the Rollout has no traffic routing (Argo needs its Gateway API plugin): the canary share follows the replica count');
      else if (vs || (dr && (dr.spec as JsonObject).subsets)) warn(path, "the service's own routes or variants keep their VirtualService: the Rollout has no traffic routing, the canary share follows the replica count");
      else routed = true;
      if (r.canary?.throttle) warn(`${path}.canary.throttle`, 'not rendered: Argo Rollouts has no release-time throttle (Berth only)');
    }
    const { strategy: _strategy, ...rest } = depSpec;
    const rollout: K8sObject = {
      apiVersion: ROLLOUT_API,
      kind: 'Rollout',
      metadata: dep.metadata,
      spec: {
        ...rest,
        revisionHistoryLimit: r.revisionHistoryLimit,
        ...(r.rollbackWindow ? { rollbackWindow: { revisions: r.rollbackWindow.revisions } } : {}),
        strategy: r.strategy === 'canary' ? canaryStrategy(name, r, routed) : blueGreenStrategy(name, r),
      },
    };
    out[i] = rollout;
    // Something that scales the Deployment scales the Rollout.
    out = out.map((o) => {
      const ref = (o.spec as JsonObject | undefined)?.scaleTargetRef as JsonObject | undefined;
      if (!ref || ref.kind !== 'Deployment' || ref.name !== name) return o;
      return { ...o, spec: { ...(o.spec as JsonObject), scaleTargetRef: { ...ref, apiVersion: ROLLOUT_API, kind: 'Rollout' } } };
    });
    if (routed) {
      out.push({
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name, labels: dep.metadata.labels ?? {} },
        spec: { hosts: [name], http: [{ name: ROLLOUT_ROUTE, route: [{ destination: { host: name, subset: 'stable' }, weight: 100 }, { destination: { host: name, subset: 'canary' }, weight: 0 }] }] },
      });
      const subsets = [{ name: 'stable' }, { name: 'canary' }];
      if (dr) (dr.spec as JsonObject).subsets = subsets;
      else out.push({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name, labels: dep.metadata.labels ?? {} }, spec: { host: name, subsets } });
    }
    if (r.strategy === 'blueGreen' && r.blueGreen?.previewPort !== undefined) {
      const active = out.find((o) => o.kind === 'Service' && o.metadata.name === name);
      if (active) out.push({ ...active, metadata: { ...active.metadata, name: `${name}-preview` }, spec: JSON.parse(JSON.stringify(active.spec)) as JsonObject });
      warn(`${path}.blueGreen.previewPort`, `rendered as the Service ${name}-preview (the cluster's port is the service's; reach it with a port-forward or a route)`);
    }
  }
  return out;
}

// --- analysis templates ----------------------------------------------------------------------

type Measure = 'requests' | 'rps' | 'errorRate' | 'successRate' | 'p50Ms' | 'p90Ms' | 'p99Ms';

/** PromQL over Istio's standard metrics for one side's measure of the berth provider. */
export function berthQuery(service: string, side: 'canary' | 'stable', measure: Measure, window: string, namespace: string): string {
  const sel = `reporter="destination",destination_service_name="${service}"${namespace ? `,destination_service_namespace="${namespace}"` : ''},destination_canonical_revision="${side}"`;
  const total = `sum(rate(istio_requests_total{${sel}}[${window}]))`;
  const errors = `sum(rate(istio_requests_total{${sel},response_code=~"5.."}[${window}]))`;
  switch (measure) {
    case 'requests':
      return `sum(increase(istio_requests_total{${sel}}[${window}]))`;
    case 'rps':
      return total;
    case 'errorRate':
      return `(${errors} or vector(0)) / ${total}`;
    case 'successRate':
      return `1 - (${errors} or vector(0)) / ${total}`;
    default: {
      const q = measure === 'p50Ms' ? '0.5' : measure === 'p90Ms' ? '0.9' : '0.99';
      return `histogram_quantile(${q}, sum(rate(istio_request_duration_milliseconds_bucket{${sel}}[${window}])) by (le))`;
    }
  }
}

const REF = /result\.(canary|stable)\.(requests|rps|errorRate|successRate|p50Ms|p90Ms|p99Ms)\b/g;

/**
 * One Argo metric from a Berth metric. A berth metric whose conditions read one measure
 * (`result.canary.errorRate`) becomes one Prometheus query with `result[0]` in the conditions;
 * one reading several (canary against stable) cannot be one query: undefined, and a warning.
 */
function argoMetric(m: AnalysisMetricSpec, service: string | undefined, options: KubernetesOptions, path: string, warn: (path: string, message: string) => void): JsonObject | undefined {
  const base: JsonObject = {
    name: m.name,
    ...(m.interval !== undefined ? { interval: seconds(m.interval) } : {}),
    ...(m.count !== undefined ? { count: m.count } : {}),
    ...(m.initialDelay !== undefined && m.initialDelay > 0 ? { initialDelay: seconds(m.initialDelay) } : {}),
    failureLimit: m.failureLimit,
    ...(m.inconclusiveLimit > 0 ? { inconclusiveLimit: m.inconclusiveLimit } : {}),
    consecutiveErrorLimit: m.consecutiveErrorLimit,
  };
  const p = m.provider;
  if (p.prometheus) {
    return { ...base, ...conditions(m), provider: { prometheus: { address: p.prometheus.address, query: p.prometheus.query, ...(p.prometheus.timeoutSeconds !== undefined ? { timeout: p.prometheus.timeoutSeconds } : {}) } } };
  }
  if (p.web) {
    return { ...base, ...conditions(m), provider: { web: { url: p.web.url, ...(p.web.headers.length ? { headers: p.web.headers } : {}), ...(p.web.timeoutSeconds !== undefined ? { timeoutSeconds: p.web.timeoutSeconds } : {}), ...(p.web.jsonPath !== undefined ? { jsonPath: p.web.jsonPath } : {}) } } };
  }
  if (p.replay) {
    // Argo Rollouts has no provider that replays Berth's recordings; the gate runs in Berth's local releases.
    warn(path, 'not rendered: the replay provider (Berth\'s replay gate) runs in the local control plane only; Argo Rollouts has no equivalent');
    return undefined;
  }
  const text = `${m.successCondition ?? ''} ${m.failureCondition ?? ''}`;
  const refs = [...new Set([...text.matchAll(REF)].map((x) => `${x[1]}.${x[2]}`))];
  if (service === undefined) {
    warn(path, 'not rendered: no service with a release uses this template (the berth provider measures a release\'s canary)');
    return undefined;
  }
  const window = seconds(p.berth!.window ?? m.interval ?? 10_000);
  if (refs.length !== 1 || /result(?!\.(canary|stable)\.)/.test(text.replace(REF, ''))) {
    // Several measures (canary against stable): the conditions themselves become one PromQL query.
    const combined = combinedQuery(m, service, window, options.namespace);
    if (typeof combined === 'string') {
      warn(path, combined);
      return undefined;
    }
    return { ...base, ...combined.conditions, provider: { prometheus: { address: options.prometheusUrl, query: combined.query } } };
  }
  const [side, measure] = refs[0].split('.') as ['canary' | 'stable', Measure];
  const swap = (c: string | undefined) => (c === undefined ? undefined : c.replace(REF, 'result[0]'));
  const success = swap(m.successCondition);
  const failure = swap(m.failureCondition);
  return {
    ...base,
    ...(success !== undefined ? { successCondition: success } : {}),
    ...(failure !== undefined ? { failureCondition: failure } : {}),
    provider: { prometheus: { address: options.prometheusUrl, query: berthQuery(service, side, measure, window, options.namespace) } },
  };
}

function conditions(m: AnalysisMetricSpec): JsonObject {
  return { ...(m.successCondition !== undefined ? { successCondition: m.successCondition } : {}), ...(m.failureCondition !== undefined ? { failureCondition: m.failureCondition } : {}) };
}

/** Which service's release uses a template (the berth provider's queries name it); the first in spec order. */
function userOf(spec: AppSpec, template: string): string | undefined {
  for (const [name, svc] of Object.entries(spec.services)) {
    const r = svc.release;
    if (!r || r.strategy === 'rolling') continue;
    const names = [
      ...(r.canary?.steps.flatMap((s) => s.analysis?.templates ?? []) ?? []),
      ...(r.canary?.analysis?.templates ?? []),
      ...(r.blueGreen?.prePromotionAnalysis?.templates ?? []),
      ...(r.blueGreen?.postPromotionAnalysis?.templates ?? []),
    ];
    if (names.includes(template)) return name;
  }
  return undefined;
}

/** `analysisTemplates` as Argo AnalysisTemplates (a template with no renderable metric is left out, with a warning). */
export function analysisTemplateObjects(spec: AppSpec, options: KubernetesOptions, warn: (path: string, message: string) => void): K8sObject[] {
  const out: K8sObject[] = [];
  for (const [name, t] of Object.entries(spec.analysisTemplates ?? {})) {
    const service = userOf(spec, name);
    const metrics = t.metrics.map((m, i) => argoMetric(m, service, options, `analysisTemplates.${name}.metrics[${i}]`, warn)).filter((m): m is JsonObject => m !== undefined);
    if (metrics.length === 0) continue;
    out.push({ apiVersion: ROLLOUT_API, kind: 'AnalysisTemplate', metadata: { name, labels: { 'app.kubernetes.io/part-of': spec.app, 'app.kubernetes.io/managed-by': 'berth' } }, spec: { metrics } });
  }
  return out;
}


// --- conditions over several measures as one PromQL query ----------------------------------------

class Untranslatable extends Error {}

const MEASURE_NAMES = new Set(['requests', 'rps', 'errorRate', 'successRate', 'p50Ms', 'p90Ms', 'p99Ms']);

/**
 * A condition as a PromQL expression of scalars: each `result.<side>.<measure>` is `scalar(<query>)`,
 * comparisons use `bool` (1 or 0), `&&` is a product, `||` a clamped sum, `!` is 1 − x. Returns the
 * expression and whether it is a 0/1 truth value.
 */
function promql(node: ExprNode, service: string, window: string, namespace: string): { q: string; truth: boolean } {
  const num = (n: ExprNode) => {
    const r = promql(n, service, window, namespace);
    return r.q;
  };
  switch (node.kind) {
    case 'literal':
      if (typeof node.value === 'number') return { q: String(node.value), truth: false };
      if (typeof node.value === 'boolean') return { q: node.value ? '1' : '0', truth: true };
      throw new Untranslatable(`the value ${JSON.stringify(node.value)}`);
    case 'member': {
      const side = node.object.kind === 'member' && node.object.object.kind === 'ident' && node.object.object.name === 'result' && node.object.key.kind === 'literal' ? node.object.key.value : undefined;
      const measure = node.key.kind === 'literal' ? node.key.value : undefined;
      if ((side === 'canary' || side === 'stable') && typeof measure === 'string' && MEASURE_NAMES.has(measure)) return { q: `scalar(${berthQuery(service, side, measure as Measure, window, namespace)})`, truth: false };
      throw new Untranslatable('a field other than result.<canary|stable>.<measure>');
    }
    case 'unary':
      if (node.op === '!') return { q: `(1 - ${truthOf(node.arg, service, window, namespace)})`, truth: true };
      return { q: node.op === '-' ? `(-${num(node.arg)})` : num(node.arg), truth: false };
    case 'binary': {
      if (node.op === '&&') return { q: `(${truthOf(node.left, service, window, namespace)} * ${truthOf(node.right, service, window, namespace)})`, truth: true };
      if (node.op === '||') return { q: `clamp_max(vector(${truthOf(node.left, service, window, namespace)} + ${truthOf(node.right, service, window, namespace)}), 1)`, truth: true };
      if (['<', '<=', '>', '>=', '==', '!='].includes(node.op)) return { q: `(${num(node.left)} ${node.op} bool ${num(node.right)})`, truth: true };
      return { q: `(${num(node.left)} ${node.op} ${num(node.right)})`, truth: false };
    }
    case 'call':
      if (node.name === 'abs' && node.args.length === 1) return { q: `scalar(abs(vector(${num(node.args[0])})))`, truth: false };
      throw new Untranslatable(`${node.name}()`);
    default:
      throw new Untranslatable('a bare name');
  }
}

function truthOf(node: ExprNode, service: string, window: string, namespace: string): string {
  const r = promql(node, service, window, namespace);
  if (!r.truth) throw new Untranslatable('a number where a truth value is needed');
  // A clamped sum is a vector: back to a scalar.
  return r.q.startsWith('clamp_max(') ? `scalar(${r.q})` : r.q;
}

/**
 * Both conditions in one query whose value is success + 2 × failure (each 0 or 1): Argo's conditions
 * then read `result % 2 == 1` and `result >= 2`, which keeps Argo's rules (failure first, neither:
 * Inconclusive). A string: why it cannot be translated (the warning).
 */
function combinedQuery(m: AnalysisMetricSpec, service: string, window: string, namespace: string): { query: string; conditions: JsonObject } | string {
  try {
    const part = (c: string | undefined) => (c === undefined ? undefined : truthOf(parseExpression(c).tree, service, window, namespace));
    const success = part(m.successCondition);
    const failure = part(m.failureCondition);
    const terms = [success, failure !== undefined ? `2 * ${failure}` : undefined].filter((t): t is string => t !== undefined);
    if (terms.length === 0) return 'not rendered: a berth metric without conditions measures nothing on a cluster';
    return {
      query: terms.join(' + '),
      conditions: { ...(success !== undefined ? { successCondition: 'result % 2 == 1' } : {}), ...(failure !== undefined ? { failureCondition: 'result >= 2' } : {}) },
    };
  } catch (err) {
    if (err instanceof Untranslatable) return `not rendered: its conditions use ${err.message}, which has no PromQL form (measures, numbers, arithmetic, comparisons, && || ! and abs() translate)`;
    throw err;
  }
}
