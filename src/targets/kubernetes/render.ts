// The renderer: contract → manifests. Builds one context per service (revision, image, labels),
// lets each resource family add to the pod and render its objects, checks that every set spec
// field was covered, orders the objects for applying, and validates them against their schemas.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { variantDeploymentName, variantSpec, type AppSpec, type ServiceSpec } from '../../contract/index.js';
import { shortHash, startOrder } from '../../plan/index.js';
import { coverageWarnings, explicitServiceFields } from './coverage.js';
import { serviceImage } from './images.js';
import { selectorLabels, serviceLabels, VARIANT_LABEL } from './labels.js';
import { placementRenderer } from './placement.js';
import { serviceRenderer } from './services.js';
import { SchemaValidationError, validateObjects } from './validate.js';
import { workloadRenderer } from './workloads.js';
import { ingressRenderer } from './ingress.js';
import { logsRenderer } from './logs.js';
import { meshSettingsRenderer } from './mesh-settings.js';
import { scalingRenderer } from './scaling.js';
import { trafficRenderer } from './traffic.js';
import { appSecretsRenderer, serviceSecretsRenderer } from './secrets.js';
import { volumesRenderer } from './volumes.js';
import { resolveOptions, type KubernetesOptions } from './options.js';
import { kyvernoRenderer } from './kyverno.js';
import { analysisTemplateObjects, toRollouts } from './rollouts.js';
import { daprComponentsRenderer, daprRenderer } from './dapr.js';
import type { AppRenderer, K8sObject, MeshKind, RenderWarning, ServiceContext, ServiceImage, ServiceRenderer } from './types.js';

/** Every resource family, in the order they contribute to a service's pod. */
export const RENDERERS: readonly ServiceRenderer[] = [placementRenderer, logsRenderer, serviceSecretsRenderer, volumesRenderer, daprRenderer, workloadRenderer, serviceRenderer, scalingRenderer, trafficRenderer];

/** Renderers of app-level fields. */
export const APP_RENDERERS: readonly AppRenderer[] = [ingressRenderer, meshSettingsRenderer, appSecretsRenderer, daprComponentsRenderer, kyvernoRenderer];

/** Apply order: what others refer to first (namespaces, config, services), then workloads, then what acts on them. */
export const KIND_ORDER: readonly string[] = [
  'Namespace',
  'ClusterPolicy',
  'Secret',
  'ExternalSecret',
  'ConfigMap',
  'Component',
  'Subscription',
  'PersistentVolumeClaim',
  'Service',
  'AnalysisTemplate',
  'Deployment',
  'Rollout',
  'PodDisruptionBudget',
  'HorizontalPodAutoscaler',
  'ScaledObject',
  'DestinationRule',
  'VirtualService',
  'Gateway',
  'HTTPRoute',
  'Telemetry',
];

/** Kinds without a namespace. */
const CLUSTER_SCOPED: ReadonlySet<string> = new Set(['Namespace', 'ClusterPolicy']);

const APP_NOTES: Record<string, string> = {
  nodes: "not rendered: simulated nodes are a local-runtime feature; on a cluster the cluster's own nodes run the pods (placement.nodeSelector must match their labels)",
};

export interface RenderOptions {
  spec: AppSpec;
  /** Directory of the spec file (envFile and cwd resolve against it). */
  dir: string;
  /** The environment overlay already applied to `spec`, if any (for messages and GitOps names). */
  env?: string;
  mesh?: MeshKind;
  /** GatewayClass of the ingress Gateway (default: istio); shorthand for `set: ['gatewayClass=…']`. */
  gatewayClass?: string;
  /** `--set key=value` render options; they win over the spec's `kubernetes:` block (throws OptionError). */
  set?: readonly string[];
}

export interface RenderResult {
  app: string;
  env?: string;
  mesh: MeshKind;
  /** The render options in effect. */
  options: KubernetesOptions;
  /** Services in start order (dependencies first): the order `berth deploy` waits for rollouts. */
  services: string[];
  /** In apply order. */
  objects: K8sObject[];
  /** Sorted by path, deduplicated. */
  warnings: RenderWarning[];
  images: ServiceImage[];
}

function compareObjects(a: K8sObject, b: K8sObject): number {
  const ka = KIND_ORDER.indexOf(a.kind);
  const kb = KIND_ORDER.indexOf(b.kind);
  const ra = ka === -1 ? KIND_ORDER.length : ka;
  const rb = kb === -1 ? KIND_ORDER.length : kb;
  if (ra !== rb) return ra - rb;
  if (a.kind !== b.kind) return a.kind < b.kind ? -1 : 1;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

function readEnvFile(dir: string, file: string | undefined): Record<string, string> | undefined {
  if (file === undefined) return undefined;
  return parseDotenv(readFileSync(resolve(dir, file), 'utf8'));
}

/** The context of one Deployment: the service itself (variant `default`) or one of its variants. */
function unitContext(
  opts: RenderOptions,
  options: KubernetesOptions,
  mesh: MeshKind,
  warn: (path: string, message: string) => void,
  name: string,
  variant: string,
  svc: ServiceSpec,
  base: Omit<ServiceContext, 'pod'> | undefined,
): Omit<ServiceContext, 'pod'> {
  const { spec, dir } = opts;
  const path = base ? `services.${name}.variants.${variant}` : `services.${name}`;
  const envFileVars = readEnvFile(dir, svc.envFile);
  // Like the local runtime, the revision names what the pods run: scaling alone is not a new revision.
  const { replicas: _replicas, ...template } = explicitServiceFields(svc);
  const revision = shortHash({ service: template, envFile: envFileVars ?? null });
  let image: ServiceImage;
  if (!base) {
    image = serviceImage(spec.app, name, svc, dir, options.registry);
    if (image.build) warn(`${path}.image`, `not set: the Deployment runs ${image.image} (tagged by its source and build inputs); \`berth build ${name}${options.registry ? ' --push' : ''}\` builds it (with --out, images/${name}/Dockerfile)`);
  } else if (svc.image !== undefined) image = { service: name, image: svc.image };
  else if (svc.cwd !== base.spec.cwd) {
    // A variant with its own directory runs its own image, `<app>-<service>-<variant>`, built like the service's.
    const unit = variantDeploymentName(name, variant);
    image = { ...serviceImage(spec.app, `${name}-${variant}`, svc, dir, options.registry), service: unit };
    warn(`${path}.image`, `not set: the variant runs ${image.image} (its own cwd); \`berth build ${unit}\` builds it (with --out, images/${unit}/Dockerfile)`);
  } else image = base.image;
  const selector = selectorLabels(spec.app, name);
  return {
    app: spec,
    name,
    dir,
    variant,
    deployment: base ? variantDeploymentName(name, variant) : name,
    path,
    spec: svc,
    revision,
    image,
    // The service's own labels first: Berth's (selectors, part-of, managed-by) cannot be overridden.
    labels: { ...(svc.labels ?? {}), ...serviceLabels(spec.app, name, revision), [VARIANT_LABEL]: variant },
    selector,
    podSelector: { ...selector, [VARIANT_LABEL]: variant },
    envFileVars,
    mesh,
    options,
    warn,
  };
}

/** Renders without validating (pure apart from reading env files). */
export function renderObjects(opts: RenderOptions): RenderResult {
  const { spec } = opts;
  const mesh = opts.mesh ?? 'istio';
  const block = (spec as { kubernetes?: Record<string, unknown> }).kubernetes;
  const options = resolveOptions(block, [...(opts.gatewayClass !== undefined ? [`gatewayClass=${opts.gatewayClass}`] : []), ...(opts.set ?? [])]);
  const warnings: RenderWarning[] = [];
  const warn = (path: string, message: string) => warnings.push({ path, message });
  const objects: K8sObject[] = [];
  const images: ServiceImage[] = [];
  const contexts = new Map<string, ServiceContext>();

  for (const name of startOrder(spec)) {
    const svc = spec.services[name];
    const baseCtx = unitContext(opts, options, mesh, warn, name, 'default', svc, undefined);
    images.push(baseCtx.image);
    const units = [
      baseCtx,
      ...Object.entries(svc.variants ?? {})
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([variant, override]) => unitContext(opts, options, mesh, warn, name, variant, variantSpec(svc, override), baseCtx)),
    ];
    for (const u of units) if (u.image.build && !images.includes(u.image)) images.push(u.image);
    for (const unit of units) {
      const pod = RENDERERS.filter((r) => r.scope === 'deployment').map((r) => r.pod?.(unit)).filter((p) => p !== undefined);
      const ctx: ServiceContext = { ...unit, pod };
      if (unit.variant === 'default') contexts.set(name, ctx);
      for (const r of RENDERERS) if (r.scope === 'deployment') objects.push(...(r.render?.(ctx) ?? []));
    }
    // Service-level objects carry the service's labels, not the default variant's.
    const { [VARIANT_LABEL]: _variant, ...labels } = contexts.get(name)!.labels;
    const ctx: ServiceContext = { ...contexts.get(name)!, labels };
    for (const r of RENDERERS) if (r.scope === 'service') objects.push(...(r.render?.(ctx) ?? []));
  }
  const appCtx = { app: spec, dir: opts.dir, mesh, gatewayClass: options.gatewayClass, options, services: contexts, env: opts.env, warn };
  for (const r of APP_RENDERERS) objects.push(...r.render(appCtx));

  // `watch:` is local development (berth up --watch): a cluster runs built images, so nothing is rendered for it, by design.
  // Releases (issue 14): a canary or blue-green service runs as an Argo Rollout, its analyses as AnalysisTemplates.
  const rolled = toRollouts(objects, spec, mesh, warn);
  objects.splice(0, objects.length, ...rolled, ...analysisTemplateObjects(spec, options, warn));
  const handled = new Set([...RENDERERS.flatMap((r) => r.handles), 'release', 'watch']);
  const handledApp = new Set([...APP_RENDERERS.flatMap((r) => r.handles), 'analysisTemplates']);
  warnings.push(...coverageWarnings(spec, handled, APP_NOTES, handledApp));
  if (options.namespace) for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata = { ...o.metadata, namespace: options.namespace };
  return { app: spec.app, env: opts.env, mesh, options, services: [...contexts.keys()], objects: objects.sort(compareObjects), warnings: dedupeWarnings(warnings), images };
}

function dedupeWarnings(warnings: RenderWarning[]): RenderWarning[] {
  const seen = new Map<string, RenderWarning>();
  for (const w of warnings) seen.set(`${w.path}\u0000${w.message}`, w);
  return [...seen.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
}

/** Renders and validates every object against its published schema (throws SchemaValidationError). */
export async function renderKubernetes(opts: RenderOptions): Promise<RenderResult> {
  const result = renderObjects(opts);
  const problems = await validateObjects(result.objects);
  if (problems.length) throw new SchemaValidationError(problems);
  return result;
}
