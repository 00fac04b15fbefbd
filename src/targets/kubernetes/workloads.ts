// Workloads: a Deployment per service (container command from `run`, env, resources, probes,
// rollout strategy, grace period, the user's sidecars as native sidecar containers), and the
// `envFile` as a ConfigMap the containers read with envFrom.
import { posix } from 'node:path';
import { envVarName, splitCommand, type SidecarSpec } from '../../contract/index.js';
import { envValue, INSTANCE_VARS, noExpand } from './escape.js';
import { renderProbes } from './probes.js';
import { readScale } from './scaling.js';
import { envFileSecret, envFileSecretName } from './secrets.js';
import { appResources, containerSecurityContext, podSecurityContext, tmpMount, tmpVolume } from './security.js';
import type { Json, JsonObject, K8sObject, ServiceContext, ServiceRenderer } from './types.js';

const APP_DIR = '/app';


function sortedEntries<T>(rec: Record<string, T>): [string, T][] {
  return Object.entries(rec).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The URL a service is reached at inside the cluster: its Service name resolves in the same namespace. */
export function clusterServiceUrl(service: string, port: number): string {
  return `http://${service}:${port}`;
}

/**
 * Env entries in Kubernetes order: the per-instance variables first (a later value may refer to
 * them as `$(HOST)` and Kubernetes only expands variables defined earlier), then the rest by name.
 */
export function orderEnv(entries: JsonObject[]): JsonObject[] {
  const rank = (e: JsonObject) => {
    const i = (INSTANCE_VARS as readonly string[]).indexOf(String(e.name));
    return i === -1 ? INSTANCE_VARS.length : i;
  };
  return [...entries].sort((a, b) => rank(a) - rank(b) || (String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0));
}

/** The app container's environment, as the local runtime builds it (envFile < env < BERTH_*). */
function appEnv(ctx: ServiceContext): JsonObject[] {
  const { app, spec, name } = ctx;
  const plain: Record<string, string> = { ...spec.env, BERTH_APP: app.app, BERTH_SERVICE: name, BERTH_REVISION: ctx.revision, BERTH_VARIANT: ctx.variant };
  for (const used of spec.uses) {
    const port = app.services[used]?.port;
    if (port !== undefined) plain[`BERTH_${envVarName(used)}_URL`] = clusterServiceUrl(used, port);
    else ctx.warn(`services.${name}.uses`, `\`${used}\` has no port, so there is no URL to give (no BERTH_${envVarName(used)}_URL)`);
  }
  if (spec.port !== undefined) plain.PORT = String(spec.port);
  // HOST: the pod's own address, as locally the instance's own address (listen on it, be reached at it).
  const fromPod: Record<string, string> = { HOST: 'status.podIP', BERTH_INSTANCE: 'metadata.name', BERTH_NODE: 'spec.nodeName' };
  for (const k of Object.keys(fromPod)) delete plain[k];
  const secret = ctx.pod.flatMap((p) => p.appEnv ?? []);
  for (const e of secret) delete plain[String(e.name)];
  return orderEnv([
    ...secret,
    ...Object.entries(plain).map(([k, v]): JsonObject => ({ name: k, value: envValue(v) })),
    ...Object.entries(fromPod).map(([k, f]): JsonObject => ({ name: k, valueFrom: { fieldRef: { fieldPath: f } } })),
  ]);
}

function workingDir(ctx: ServiceContext, sidecar?: SidecarSpec): string | undefined {
  if (!ctx.image.build) {
    if (sidecar?.cwd !== undefined) {
      ctx.warn(`${ctx.path}.sidecars`, `sidecar \`${sidecar.name}\`: cwd is not rendered with a custom image (its layout is unknown); the image's working directory is used`);
    }
    return undefined;
  }
  if (sidecar?.cwd === undefined) return APP_DIR;
  const dir = posix.join(APP_DIR, sidecar.cwd.split('\\').join('/'));
  if (dir !== APP_DIR && !dir.startsWith(`${APP_DIR}/`)) {
    ctx.warn(`${ctx.path}.sidecars`, `sidecar \`${sidecar.name}\`: cwd ${sidecar.cwd} is outside the service's directory, which is all the image holds; ${APP_DIR} is used`);
    return APP_DIR;
  }
  return dir;
}

function envFrom(ctx: ServiceContext): JsonObject[] | undefined {
  return ctx.envFileVars ? [{ secretRef: { name: envFileSecretName(ctx.deployment) } }] : undefined;
}

function container(fields: Record<string, Json | undefined>): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v;
  return out;
}

function appContainer(ctx: ServiceContext): JsonObject {
  const { spec } = ctx;
  return container({
    name: 'app',
    image: ctx.image.image,
    command: splitCommand(spec.run).map(noExpand),
    workingDir: workingDir(ctx),
    env: appEnv(ctx),
    envFrom: envFrom(ctx),
    ports: spec.port !== undefined ? [{ name: 'http', containerPort: spec.port, protocol: 'TCP' }] : undefined,
    resources: appResources(ctx, { cpuMillis: ctx.options.defaultCpuMillis, memoryMiB: ctx.options.defaultMemoryMiB }),
    ...renderProbes(spec, ctx.path, ctx.warn, ctx.options.probeProfile),
    securityContext: containerSecurityContext(),
  });
}

/** A user sidecar as a native sidecar container: an init container that keeps running (restartPolicy Always). */
function sidecarContainer(ctx: ServiceContext, s: SidecarSpec, env: JsonObject[]): JsonObject {
  const own = new Set(Object.keys(s.env));
  const merged = orderEnv([...env.filter((e) => !own.has(String(e.name))), ...sortedEntries(s.env).map(([k, v]): JsonObject => ({ name: k, value: envValue(v) }))]);
  return container({
    name: s.name,
    image: ctx.image.image,
    command: splitCommand(s.run).map(noExpand),
    workingDir: workingDir(ctx, s),
    env: merged,
    envFrom: envFrom(ctx),
    restartPolicy: 'Always',
    securityContext: containerSecurityContext(),
    volumeMounts: [tmpMount(), ...ctx.pod.flatMap((p) => p.sidecarVolumeMounts ?? [])],
  });
}

function restartWarnings(ctx: ServiceContext): void {
  const { restart } = ctx.spec;
  const path = `${ctx.path}.restart`;
  if (restart.policy !== 'always') {
    ctx.warn(`${path}.policy`, `\`${restart.policy}\` cannot be expressed by a Deployment (its pods always restart, restartPolicy: Always); rendered as always`);
  }
  const b = restart.backoff;
  if (b.initialSeconds !== 0.5 || b.maxSeconds !== 30 || b.resetAfterSeconds !== 60) {
    ctx.warn(`${path}.backoff`, "not rendered: the kubelet's CrashLoopBackOff is fixed (10 s, doubling, at most 300 s, reset after 10 min)");
  }
}

/**
 * Locally every service with a port runs behind its mesh proxy; with --mesh istio its pods ask for
 * Istio's sidecar (injected even where the namespace is not labelled for injection).
 */
function podLabels(ctx: ServiceContext): Record<string, string> {
  return ctx.mesh === 'istio' && ctx.spec.port !== undefined ? { ...ctx.labels, 'sidecar.istio.io/inject': 'true' } : ctx.labels;
}

/** Nested fields this module renders; any other that is set is a warning, never a silent drop. */
const NESTED_FIELDS: Record<string, readonly string[]> = {
  resources: ['memoryMiB', 'cpuMillis'],
  rollout: ['maxSurge', 'maxUnavailable'],
  restart: ['policy', 'backoff'],
  probes: ['startup', 'readiness', 'liveness'],
};
const PROBE_FIELDS = ['http', 'tcp', 'exec', 'grpc', 'initialDelaySeconds', 'periodSeconds', 'timeoutSeconds', 'successThreshold', 'failureThreshold'];
const SIDECAR_FIELDS = ['name', 'run', 'cwd', 'env'];

function nestedWarnings(ctx: ServiceContext): void {
  const warnUnknown = (path: string, value: unknown, known: readonly string[]) => {
    if (!value || typeof value !== 'object') return;
    for (const [k, v] of Object.entries(value)) if (v !== undefined && !known.includes(k)) ctx.warn(`${path}.${k}`, 'not rendered yet for Kubernetes (no renderer handles this field)');
  };
  const spec = ctx.spec as unknown as Record<string, unknown>;
  for (const [field, known] of Object.entries(NESTED_FIELDS)) warnUnknown(`${ctx.path}.${field}`, spec[field], known);
  for (const [kind, probe] of Object.entries(ctx.spec.probes)) warnUnknown(`${ctx.path}.probes.${kind}`, probe, PROBE_FIELDS);
  ctx.spec.sidecars.forEach((s, i) => warnUnknown(`${ctx.path}.sidecars.${i}`, s, SIDECAR_FIELDS));
}

/** Annotations the pod families asked for (dapr.io/*), when there are any. */
function podAnnotations(ctx: ServiceContext): { annotations?: Record<string, string> } {
  const a = Object.assign({}, ...ctx.pod.map((p) => p.annotations ?? {})) as Record<string, string>;
  return Object.keys(a).length ? { annotations: a } : {};
}

function deployment(ctx: ServiceContext): K8sObject {
  const { spec, name } = ctx;
  nestedWarnings(ctx);
  restartWarnings(ctx);
  if (Object.keys(spec.dependsOn).length) {
    ctx.warn(
      `services.${name}.dependsOn`,
      'not rendered: Kubernetes has no start order between Deployments, so the app must retry calls until its dependencies answer (its readiness probe keeps it out of traffic meanwhile)',
    );
  }
  const grace = Math.ceil(spec.stopGracePeriodSeconds - 1e-9);
  if (grace !== spec.stopGracePeriodSeconds) {
    ctx.warn(`services.${name}.stopGracePeriodSeconds`, `${spec.stopGracePeriodSeconds} s rounded up to ${grace} s (Kubernetes takes whole seconds)`);
  }
  const app = appContainer(ctx);
  const missing = [app.readinessProbe ? '' : 'readiness', app.livenessProbe ? '' : 'liveness'].filter(Boolean);
  if (missing.length) {
    ctx.warn(`${ctx.path}.probes`, `no ${missing.join(' or ')} probe: a cluster enforcing Kyverno's require-pod-probes refuses the pod, and the kubelet cannot tell a hung or unready instance`);
  }
  const env = app.env as JsonObject[];
  // Nothing Berth renders calls the Kubernetes API, so pods get no service account token.
  const podSpec: JsonObject = { automountServiceAccountToken: false, containers: [app], securityContext: podSecurityContext(), terminationGracePeriodSeconds: grace };
  const initContainers = [...ctx.pod.flatMap((p) => p.sidecars ?? []), ...spec.sidecars.map((s) => sidecarContainer(ctx, s, env))];
  if (initContainers.length) podSpec.initContainers = initContainers;
  podSpec.volumes = [tmpVolume(), ...ctx.pod.flatMap((p) => p.volumes ?? [])];
  app.volumeMounts = [tmpMount(), ...ctx.pod.flatMap((p) => p.appVolumeMounts ?? [])];
  for (const p of ctx.pod) Object.assign(podSpec, p.spec ?? {});
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: ctx.deployment, labels: ctx.labels },
    spec: {
      // With an autoscaler, it owns the replica count: leaving it out keeps server-side apply from fighting it.
      ...(readScale(ctx) ? {} : { replicas: spec.replicas }),
      revisionHistoryLimit: 10,
      selector: { matchLabels: ctx.podSelector },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: spec.rollout.maxSurge, maxUnavailable: spec.rollout.maxUnavailable } },
      template: { metadata: { labels: podLabels(ctx), ...podAnnotations(ctx) }, spec: podSpec },
    },
  };
}


export const workloadRenderer: ServiceRenderer = {
  family: 'workloads',
  scope: 'deployment',
  handles: ['run', 'cwd', 'env', 'envFile', 'image', 'variants', 'port', 'replicas', 'uses', 'dependsOn', 'sidecars', 'probes', 'restart', 'resources', 'stopGracePeriodSeconds', 'rollout', 'labels'],
  render(ctx) {
    return [envFileSecret(ctx), deployment(ctx)].filter((o): o is K8sObject => o !== undefined);
  },
};
