// Apply: server-side apply (field manager `berth`, application/apply-patch+yaml) of the rendered
// objects through @kubernetes/client-node, in dependency order; prune what Berth applied before for
// this app and no longer renders (found by label); then wait for every Deployment's rollout,
// reporting progress. With dryRun the API server checks everything and persists nothing.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig, KubernetesObjectApi, PatchStrategy, VersionApi, type KubernetesObject } from '@kubernetes/client-node';
import { diffLive, type ObjectDiff } from './live-diff.js';
import { ApplyError } from './apply-error.js';
import { FIELD_MANAGER, pruneSelector } from './labels.js';
import { KIND_ORDER } from './render.js';
import type { K8sObject } from './types.js';

/**
 * apiVersion of every kind Berth renders into a namespace (what prune looks for) — except
 * PersistentVolumeClaim: a claim holds data, so removing a volume from the spec never deletes it.
 */
const PRUNABLE: readonly [string, string][] = [
  ['v1', 'Secret'],
  ['external-secrets.io/v1', 'ExternalSecret'],
  ['v1', 'ConfigMap'],
  ['v1', 'Service'],
  ['apps/v1', 'Deployment'],
  ['policy/v1', 'PodDisruptionBudget'],
  ['autoscaling/v2', 'HorizontalPodAutoscaler'],
  ['keda.sh/v1alpha1', 'ScaledObject'],
  ['networking.istio.io/v1', 'DestinationRule'],
  ['networking.istio.io/v1', 'VirtualService'],
  ['gateway.networking.k8s.io/v1', 'Gateway'],
  ['gateway.networking.k8s.io/v1', 'HTTPRoute'],
  ['telemetry.istio.io/v1', 'Telemetry'],
  ['argoproj.io/v1alpha1', 'Rollout'],
  ['argoproj.io/v1alpha1', 'AnalysisTemplate'],
  ['dapr.io/v1alpha1', 'Component'],
  ['dapr.io/v2alpha1', 'Subscription'],
];

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
}

export interface ApplyOptions {
  app: string;
  objects: readonly K8sObject[];
  /** Kubeconfig context (default: the current one). */
  context?: string;
  /** Namespace (default: the context's namespace, else `default`). */
  namespace?: string;
  /** Apply the namespace itself first (a Namespace object labelled as Berth's). */
  createNamespace?: boolean;
  /** Server-side dry run: nothing is persisted, nothing is pruned or waited for. */
  dryRun?: boolean;
  /** Show what would change: a server-side apply dry run of every object compared with the live one (implies dryRun). */
  diff?: boolean;
  /** Deployment names in the order to wait for their rollouts (dependencies first); others follow. */
  rolloutOrder?: readonly string[];
  /** Wait for rollouts (default true unless dryRun). */
  wait?: boolean;
  timeoutMs?: number;
  pollMs?: number;
  progress?: (line: string) => void;
  /** For tests: a ready KubeConfig instead of the default loading rules (KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeConfig?: KubeConfig;
}

export interface ApplyReport {
  context: string;
  namespace: string;
  dryRun: boolean;
  applied: ObjectRef[];
  pruned: ObjectRef[];
  rollouts: { name: string; replicas: number; ready: number }[];
  /** With `diff`: each object that would change (created, changed or pruned). */
  diffs?: ObjectDiff[];
}

/** Where the kubeconfig comes from, as `kubectl` would look: $KUBECONFIG, ~/.kube/config, the pod's service account. */
function kubeconfigSource(): string | undefined {
  if (process.env.KUBECONFIG) return process.env.KUBECONFIG.split(delimiter).filter(Boolean).join(delimiter);
  const home = join(process.env.HOME ?? homedir(), '.kube', 'config');
  if (existsSync(home)) return home;
  if (existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token')) return 'in-cluster service account';
  return undefined;
}


function loadConfig(opts: ApplyOptions): { kc: KubeConfig; source: string } {
  const kc = opts.kubeConfig ?? new KubeConfig();
  let source = 'the given kubeconfig';
  if (!opts.kubeConfig) {
    const found = kubeconfigSource();
    // Without this check the client falls back to http://localhost:8080 and fails with a TLS message.
    if (found === undefined) throw new ApplyError('no kubeconfig: KUBECONFIG is not set and ~/.kube/config does not exist (and this is not a pod); set KUBECONFIG or create ~/.kube/config');
    source = found;
    try {
      kc.loadFromDefault();
    } catch (err) {
      throw new ApplyError(`cannot load the kubeconfig ${source}: ${(err as Error).message}`);
    }
  }
  if (opts.context !== undefined) {
    if (!kc.getContextObject(opts.context)) {
      throw new ApplyError(`no context \`${opts.context}\` in the kubeconfig`, `known contexts: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'}`);
    }
    kc.setCurrentContext(opts.context);
  }
  if (!kc.getCurrentCluster()) throw new ApplyError(`the kubeconfig ${source} has no current cluster`, 'pass --context, or set current-context in the kubeconfig');
  return { kc, source };
}

/** The first network-level cause of an error (a refused connection, an unknown host, a TLS failure). */
function networkCause(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; message?: string; cause?: unknown; errno?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'number') return undefined; // an HTTP answer: the server is reachable
    if (typeof e.code === 'string') return `${e.code}${e.message && !e.message.includes(e.code) ? ` (${e.message})` : ''}`;
  }
  return (err as Error | undefined)?.message ?? String(err);
}

/** Fails in one line naming the kubeconfig, context and server when the API server cannot be reached. */
async function checkReachable(kc: KubeConfig, source: string): Promise<void> {
  try {
    await kc.makeApiClient(VersionApi).getCode();
  } catch (err) {
    let cause = networkCause(err);
    if (cause === undefined) return;
    if (/HTTP protocol is not allowed/.test(cause)) cause = 'the server address is plain http://, which the client only uses when the cluster entry sets insecure-skip-tls-verify: true';
    throw new ApplyError(`cannot reach the cluster of context \`${kc.getCurrentContext()}\` (server ${kc.getCurrentCluster()?.server ?? '?'}) from kubeconfig ${source}: ${cause.replace(/\s+/g, ' ')}`);
  }
}

const refOf = (o: KubernetesObject, namespace: string): ObjectRef => ({
  apiVersion: o.apiVersion ?? '',
  kind: o.kind ?? '',
  name: o.metadata?.name ?? '',
  namespace,
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function describe(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  let detail = e.message ?? String(err);
  if (typeof e.body === 'string') {
    try {
      detail = (JSON.parse(e.body) as { message?: string }).message ?? detail;
    } catch {
      /* keep the message */
    }
  } else if (e.body && typeof e.body === 'object' && 'message' in e.body) detail = String((e.body as { message: unknown }).message);
  return e.code ? `${detail} (HTTP ${e.code})` : detail;
}

/** Is the kind served by this cluster? (Unserved kinds — e.g. no KEDA installed — cannot hold anything to prune.) */
function isUnserved(err: unknown): boolean {
  const e = err as { code?: number; message?: string };
  return e.code === 404 || /Unrecognized API version and kind/i.test(e.message ?? '');
}

export async function applyObjects(opts: ApplyOptions): Promise<ApplyReport> {
  const { kc, source } = loadConfig(opts);
  await checkReachable(kc, source);
  if (opts.diff) opts = { ...opts, dryRun: true };
  const namespace = opts.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  const client = KubernetesObjectApi.makeApiClient(kc);
  const progress = opts.progress ?? (() => {});
  const dryRun = opts.dryRun ? 'All' : undefined;
  const report: ApplyReport = { context: kc.getCurrentContext(), namespace, dryRun: !!opts.dryRun, applied: [], pruned: [], rollouts: [] };
  const diffs: ObjectDiff[] = [];

  const ordered = [...opts.objects].sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind));
  if (opts.createNamespace) {
    const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { 'app.kubernetes.io/managed-by': FIELD_MANAGER } } } as KubernetesObject;
    try {
      await client.patch(ns, undefined, dryRun, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (err) {
      throw new ApplyError(`applying Namespace/${namespace} failed: ${describe(err)}`, 'creating a namespace needs cluster-level rights; drop --create-namespace to use an existing one');
    }
    progress(`${opts.dryRun ? 'would apply' : 'applied'} Namespace/${namespace}`);
  }
  for (const obj of ordered) {
    const clusterScoped = obj.kind === 'ClusterPolicy';
    const body = (clusterScoped ? { ...obj } : { ...obj, metadata: { ...obj.metadata, namespace } }) as unknown as KubernetesObject;
    let after: KubernetesObject;
    try {
      after = await client.patch(body, undefined, dryRun, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (err) {
      // Policies are checked by Berth before anything is applied; a cluster without Kyverno just cannot enforce them too.
      if (obj.kind === 'ClusterPolicy' && isUnserved(err)) {
        progress(`skipped ${obj.kind}/${obj.metadata.name}: the cluster does not serve kyverno.io/v1 (Kyverno is not installed); Berth checked the policy before applying`);
        continue;
      }
      throw new ApplyError(`applying ${obj.kind}/${obj.metadata.name} failed: ${describe(err)}`);
    }
    if (opts.diff) {
      let live: KubernetesObject | undefined;
      try {
        live = await client.read({ apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: obj.metadata.name, ...(clusterScoped ? {} : { namespace }) } });
      } catch (err) {
        if ((err as { code?: number }).code !== 404) throw new ApplyError(`reading ${obj.kind}/${obj.metadata.name} for --diff failed: ${describe(err)}`);
      }
      const d = diffLive(`${obj.kind}/${obj.metadata.name}`, live, after);
      if (d) diffs.push(d);
    }
    report.applied.push(refOf(body, namespace));
    progress(`${opts.dryRun ? 'would apply' : 'applied'} ${obj.kind}/${obj.metadata.name}`);
  }

  const wanted = new Set(opts.objects.map((o) => `${o.kind}/${o.metadata.name}`));
  for (const [apiVersion, kind] of [...PRUNABLE].reverse()) {
    let items: KubernetesObject[];
    try {
      items = (await client.list(apiVersion, kind, namespace, undefined, undefined, undefined, undefined, pruneSelector(opts.app))).items;
    } catch (err) {
      if (isUnserved(err)) continue;
      throw new ApplyError(`listing ${kind} to prune failed: ${describe(err)}`);
    }
    for (const item of items) {
      const name = item.metadata?.name ?? '';
      if (wanted.has(`${kind}/${name}`)) continue;
      const ref = { apiVersion, kind, name, namespace };
      if (!opts.dryRun) {
        try {
          await client.delete({ apiVersion, kind, metadata: { name, namespace } }, undefined, undefined, undefined, undefined, 'Background');
        } catch (err) {
          if ((err as { code?: number }).code !== 404) throw new ApplyError(`pruning ${kind}/${name} failed: ${describe(err)}`);
        }
      }
      report.pruned.push(ref);
      if (opts.diff) diffs.push({ object: `${kind}/${name}`, change: 'pruned', lines: [] });
      progress(`${opts.dryRun ? 'would prune' : 'pruned'} ${kind}/${name} (no longer rendered)`);
    }
  }

  if (opts.diff) report.diffs = diffs;
  if (opts.dryRun || opts.wait === false) return report;
  const deadline = performance.now() + (opts.timeoutMs ?? 300_000);
  const rank = (name: string) => {
    const i = opts.rolloutOrder?.indexOf(name) ?? -1;
    return i === -1 ? Number.MAX_SAFE_INTEGER : i;
  };
  const deployments = ordered.filter((o) => o.kind === 'Deployment').sort((a, b) => rank(a.metadata.name) - rank(b.metadata.name));
  for (const d of deployments) {
    report.rollouts.push(await waitForRollout(client, d.metadata.name, namespace, deadline, opts.pollMs ?? 1000, progress));
  }
  return report;
}

interface DeploymentStatus {
  metadata?: { generation?: number };
  spec?: { replicas?: number };
  status?: { observedGeneration?: number; replicas?: number; updatedReplicas?: number; readyReplicas?: number; availableReplicas?: number };
}

/** Waits as `kubectl rollout status` does: the new generation observed, every replica updated and available, no old ones left. */
async function waitForRollout(
  client: KubernetesObjectApi,
  name: string,
  namespace: string,
  deadline: number,
  pollMs: number,
  progress: (line: string) => void,
): Promise<{ name: string; replicas: number; ready: number }> {
  let last = '';
  for (;;) {
    let d: DeploymentStatus;
    try {
      d = (await client.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace } })) as DeploymentStatus;
    } catch (err) {
      throw new ApplyError(`reading Deployment/${name} failed: ${describe(err)}`);
    }
    const want = d.spec?.replicas ?? 1;
    const s = d.status ?? {};
    const updated = s.updatedReplicas ?? 0;
    const available = s.availableReplicas ?? 0;
    const observed = (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1);
    const done = observed && updated >= want && available >= want && (s.replicas ?? 0) <= want;
    const line = `Deployment/${name}: ${updated}/${want} updated, ${available}/${want} available${done ? ' — rolled out' : ''}`;
    if (line !== last) progress(line);
    last = line;
    if (done) return { name, replicas: want, ready: available };
    if (performance.now() > deadline) throw new ApplyError(`timed out waiting for Deployment/${name} to roll out (${updated}/${want} updated, ${available}/${want} available)`, 'see `kubectl describe deployment` and its pods\' events');
    await sleep(pollMs);
  }
}
