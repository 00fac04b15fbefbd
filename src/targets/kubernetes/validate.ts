// Validation of every rendered object against its published schema (kubernetes-models and the
// @kubernetes-models packages for Istio, Gateway API, KEDA, Argo CD, Flux and Kyverno). A failure here is a
// Berth bug, never the user's: the renderer produced something the cluster would reject.
import type { K8sObject } from './types.js';

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: K8sObject) => Validatable;
type Loader = () => Promise<ModelClass>;

/**
 * An Istio model by the first version the installed @kubernetes-models/istio publishes. Istio
 * promoted these kinds to v1 with their schemas unchanged; the 2.x models (the last that support
 * Node 20) publish them only under the earlier version, so the object is checked as that version.
 */
async function istioModel(group: string, versions: readonly string[], kind: string): Promise<ModelClass> {
  for (const version of versions) {
    let mod: Record<string, unknown>;
    try {
      // A specifier held in a variable: which versions exist depends on the installed models.
      const specifier = `@kubernetes-models/istio/${group}/${version}/${kind}`;
      mod = (await import(specifier)) as Record<string, unknown>;
    } catch {
      continue; // Safe: this version is not published by the installed models; the next is tried.
    }
    const Model = mod[kind] as ModelClass;
    if (version === versions[0]) return Model;
    const apiVersion = `${group}/${version}`;
    return class {
      private readonly inner: Validatable;
      constructor(data: K8sObject) {
        this.inner = new Model({ ...data, apiVersion });
      }
      validate(): void {
        this.inner.validate();
      }
    } as unknown as ModelClass;
  }
  throw new Error(`@kubernetes-models/istio publishes no ${kind} under ${versions.map((v) => `${group}/${v}`).join(' or ')}`);
}

const models: Record<string, Loader> = {
  'v1/Secret': async () => (await import('kubernetes-models/v1/Secret')).Secret as unknown as ModelClass,
  'v1/ConfigMap': async () => (await import('kubernetes-models/v1/ConfigMap')).ConfigMap as unknown as ModelClass,
  'v1/PersistentVolumeClaim': async () => (await import('kubernetes-models/v1/PersistentVolumeClaim')).PersistentVolumeClaim as unknown as ModelClass,
  'v1/Service': async () => (await import('kubernetes-models/v1/Service')).Service as unknown as ModelClass,
  'v1/Namespace': async () => (await import('kubernetes-models/v1/Namespace')).Namespace as unknown as ModelClass,
  'apps/v1/Deployment': async () => (await import('kubernetes-models/apps/v1/Deployment')).Deployment as unknown as ModelClass,
  'policy/v1/PodDisruptionBudget': async () => (await import('kubernetes-models/policy/v1/PodDisruptionBudget')).PodDisruptionBudget as unknown as ModelClass,
  'autoscaling/v2/HorizontalPodAutoscaler': async () =>
    (await import('kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler')).HorizontalPodAutoscaler as unknown as ModelClass,
  'keda.sh/v1alpha1/ScaledObject': async () => (await import('@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject')).ScaledObject as unknown as ModelClass,
  'networking.istio.io/v1/VirtualService': () => istioModel('networking.istio.io', ['v1', 'v1beta1'], 'VirtualService'),
  'networking.istio.io/v1/DestinationRule': () => istioModel('networking.istio.io', ['v1', 'v1beta1'], 'DestinationRule'),
  'gateway.networking.k8s.io/v1/HTTPRoute': async () =>
    (await import('@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute')).HTTPRoute as unknown as ModelClass,
  'gateway.networking.k8s.io/v1/Gateway': async () =>
    (await import('@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway')).Gateway as unknown as ModelClass,
  'telemetry.istio.io/v1/Telemetry': () => istioModel('telemetry.istio.io', ['v1', 'v1alpha1'], 'Telemetry'),
  'argoproj.io/v1alpha1/Rollout': async () => (await import('@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Rollout')).Rollout as unknown as ModelClass,
  'argoproj.io/v1alpha1/AnalysisTemplate': async () => (await import('@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplate')).AnalysisTemplate as unknown as ModelClass,
  'argoproj.io/v1alpha1/Application': async () => (await import('@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application')).Application as unknown as ModelClass,
  'kustomize.toolkit.fluxcd.io/v1/Kustomization': async () =>
    (await import('@kubernetes-models/flux-cd/kustomize.toolkit.fluxcd.io/v1/Kustomization')).Kustomization as unknown as ModelClass,
  'kyverno.io/v1/ClusterPolicy': async () => (await import('@kubernetes-models/kyverno/kyverno.io/v1/ClusterPolicy')).ClusterPolicy as unknown as ModelClass,
  'source.toolkit.fluxcd.io/v1/GitRepository': async () =>
    (await import('@kubernetes-models/flux-cd/source.toolkit.fluxcd.io/v1/GitRepository')).GitRepository as unknown as ModelClass,
};

/** The kinds Berth renders and knows a published schema for. */
export const VALIDATED_KINDS: readonly string[] = Object.keys(models).sort();

export interface SchemaProblem {
  object: string;
  message: string;
}

/**
 * ExternalSecret (external-secrets.io/v1): no schema package is installed for it, so the fields
 * Berth writes are checked by hand (`@kubernetes-models/external-secrets` would replace this).
 */
function checkExternalSecret(obj: K8sObject): string | undefined {
  const spec = obj.spec as Record<string, unknown> | undefined;
  const store = spec?.secretStoreRef as Record<string, unknown> | undefined;
  if (!store || typeof store.name !== 'string' || !['SecretStore', 'ClusterSecretStore'].includes(String(store.kind))) return 'spec.secretStoreRef needs a name and kind SecretStore or ClusterSecretStore';
  const target = spec?.target as Record<string, unknown> | undefined;
  if (!target || typeof target.name !== 'string') return 'spec.target.name is required';
  const data = spec?.data as { secretKey?: unknown; remoteRef?: { key?: unknown } }[] | undefined;
  const dataFrom = spec?.dataFrom as { extract?: { key?: unknown } }[] | undefined;
  if (!data && !dataFrom) return 'spec.data or spec.dataFrom is required';
  if (data?.some((d) => typeof d.secretKey !== 'string' || typeof d.remoteRef?.key !== 'string')) return 'spec.data[] needs secretKey and remoteRef.key';
  if (dataFrom?.some((d) => typeof d.extract?.key !== 'string')) return 'spec.dataFrom[] needs extract.key';
  return undefined;
}

/**
 * Dapr's Component (dapr.io/v1alpha1) and Subscription (dapr.io/v2alpha1): no schema package is
 * published for them, so the fields Berth writes are checked by hand against Dapr's CRDs.
 */
function checkDapr(obj: K8sObject): string | undefined {
  const spec = obj.spec as Record<string, unknown> | undefined;
  if (!spec) return 'spec is required';
  const scopes = obj.scopes as unknown;
  if (scopes !== undefined && (!Array.isArray(scopes) || scopes.some((x) => typeof x !== 'string'))) return 'scopes must be a list of app IDs';
  if (obj.kind === 'Component') {
    if (typeof spec.type !== 'string' || typeof spec.version !== 'string') return 'spec.type and spec.version are required strings';
    const md = spec.metadata as { name?: unknown; value?: unknown; secretKeyRef?: { name?: unknown; key?: unknown } }[] | undefined;
    if (!Array.isArray(md)) return 'spec.metadata must be a list';
    for (const m of md) {
      if (typeof m.name !== 'string') return 'spec.metadata[].name is required';
      if (m.secretKeyRef !== undefined && (typeof m.secretKeyRef.name !== 'string' || typeof m.secretKeyRef.key !== 'string')) return `spec.metadata ${m.name}: secretKeyRef needs name and key`;
      if (m.secretKeyRef === undefined && typeof m.value !== 'string') return `spec.metadata ${m.name}: value must be a string`;
    }
    return undefined;
  }
  if (typeof spec.pubsubname !== 'string' || typeof spec.topic !== 'string') return 'spec.pubsubname and spec.topic are required';
  const routes = spec.routes as { rules?: { path?: unknown }[]; default?: unknown } | undefined;
  if (!routes || (routes.default === undefined && !(routes.rules ?? []).length)) return 'spec.routes needs default or rules';
  if ((routes.rules ?? []).some((r) => typeof r.path !== 'string')) return 'spec.routes.rules[].path is required';
  return undefined;
}

/** Validates each object; returns every problem (empty when all are valid). */
export async function validateObjects(objects: readonly K8sObject[]): Promise<SchemaProblem[]> {
  const problems: SchemaProblem[] = [];
  for (const obj of objects) {
    const id = `${obj.kind}/${obj.metadata.name}`;
    if (obj.apiVersion === 'external-secrets.io/v1' && obj.kind === 'ExternalSecret') {
      const message = checkExternalSecret(obj);
      if (message) problems.push({ object: id, message });
      continue;
    }
    if ((obj.apiVersion === 'dapr.io/v1alpha1' && obj.kind === 'Component') || (obj.apiVersion === 'dapr.io/v2alpha1' && obj.kind === 'Subscription')) {
      const message = checkDapr(obj);
      if (message) problems.push({ object: id, message });
      continue;
    }
    const load = models[`${obj.apiVersion}/${obj.kind}`];
    if (!load) {
      problems.push({ object: id, message: `no published schema known for ${obj.apiVersion} ${obj.kind}` });
      continue;
    }
    const Model = await load();
    try {
      new Model(JSON.parse(JSON.stringify(obj)) as K8sObject).validate();
    } catch (err) {
      problems.push({ object: id, message: (err as Error).message });
    }
  }
  return problems;
}

export class SchemaValidationError extends Error {
  constructor(readonly problems: SchemaProblem[]) {
    super(`rendered objects fail their published schemas (a Berth bug, please report it):\n${problems.map((p) => `  ${p.object}: ${p.message}`).join('\n')}`);
  }
}
