// The --out layout: a Kustomize base (one file per object), one overlay per environment holding
// only what differs from the base (RFC 6902 patches, added objects, deletions), a Dockerfile per
// service without `image:`, and GitOps objects (an Argo CD Application and a Flux Kustomization
// per target) pointing at the layout. Pure: returns the files; the CLI writes them.
import { posix } from 'node:path';
import { DOCKERIGNORE } from './dockerfile.js';
import { dockerfile } from './images.js';
import { appLabels } from './labels.js';
import { diffJson } from './json-patch.js';
import type { RenderResult } from './render.js';
import type { K8sObject, RenderWarning } from './types.js';
import { toYaml } from './yaml.js';

export const PLACEHOLDER_REPO = 'https://git.example.invalid/REPLACE-WITH-YOUR-REPO.git';

export interface LayoutOptions {
  base: RenderResult;
  /** The spec rendered with each environment overlay, by environment name. */
  envs: Record<string, RenderResult>;
  /** Path of the spec's directory, relative to the output directory (Dockerfile build contexts). */
  specDirFromOut: string;
  /** Path of the output directory relative to the spec's directory: when it is inside a build context, the .dockerignore excludes it. */
  outDirFromSpec?: string;
  /** Git repository the layout is committed to (GitOps source). */
  repoUrl?: string;
  /** Path of the output directory inside that repository. */
  repoPath: string;
}

export interface Layout {
  /** Relative path → content, in a stable order. */
  files: Map<string, string>;
  /** The GitOps objects (validated like every rendered object). */
  gitops: K8sObject[];
  warnings: RenderWarning[];
}

const KUSTOMIZATION = { apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization' };

export function objectFileName(o: K8sObject): string {
  return `${o.kind.toLowerCase()}-${o.metadata.name}.yaml`;
}

const key = (o: K8sObject) => `${o.apiVersion}|${o.kind}|${o.metadata.name}`;

function target(o: K8sObject): Record<string, string> {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  return group ? { group, version, kind: o.kind, name: o.metadata.name } : { version, kind: o.kind, name: o.metadata.name };
}

function overlay(base: RenderResult, env: RenderResult, dir: string, files: Map<string, string>): void {
  const baseByKey = new Map(base.objects.map((o) => [key(o), o]));
  const envKeys = new Set(env.objects.map(key));
  const resources: string[] = ['../../base'];
  const patches: Record<string, unknown>[] = [];
  for (const o of env.objects) {
    const b = baseByKey.get(key(o));
    if (!b) {
      files.set(`${dir}/${objectFileName(o)}`, toYaml(o));
      resources.push(objectFileName(o));
      continue;
    }
    const ops = diffJson(b, o);
    if (!ops.length) continue;
    const path = `patches/${objectFileName(o)}`;
    files.set(`${dir}/${path}`, toYaml(ops));
    patches.push({ path, target: target(o) });
  }
  for (const b of base.objects) {
    if (envKeys.has(key(b))) continue;
    const path = `patches/delete-${objectFileName(b)}`;
    files.set(`${dir}/${path}`, toYaml({ apiVersion: b.apiVersion, kind: b.kind, metadata: { name: b.metadata.name }, $patch: 'delete' }));
    patches.push({ path });
  }
  const k: Record<string, unknown> = { ...KUSTOMIZATION, resources };
  if (patches.length) k.patches = patches;
  files.set(`${dir}/kustomization.yaml`, toYaml(k));
}

function gitopsTargets(opts: LayoutOptions): { name: string; path: string; namespace: string }[] {
  const app = opts.base.app;
  const join = (p: string) => [opts.repoPath, p].filter((s) => s && s !== '.').join('/');
  return [
    { name: app, path: join('base'), namespace: app },
    ...Object.keys(opts.envs)
      .sort()
      .map((env) => ({ name: `${app}-${env}`, path: join(`overlays/${env}`), namespace: `${app}-${env}` })),
  ];
}

function argoApplication(app: string, t: { name: string; path: string; namespace: string }, repoUrl: string): K8sObject {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name: t.name, namespace: 'argocd', labels: appLabels(app) },
    spec: {
      project: 'default',
      source: { repoURL: repoUrl, targetRevision: 'HEAD', path: t.path },
      destination: { server: 'https://kubernetes.default.svc', namespace: t.namespace },
      syncPolicy: { automated: { prune: true, selfHeal: true }, syncOptions: ['CreateNamespace=true', 'ServerSideApply=true'] },
    },
  };
}

function fluxSource(app: string, repoUrl: string): K8sObject {
  return {
    apiVersion: 'source.toolkit.fluxcd.io/v1',
    kind: 'GitRepository',
    metadata: { name: app, namespace: 'flux-system', labels: appLabels(app) },
    spec: { interval: '1m', url: repoUrl, ref: { branch: 'main' } },
  };
}

function fluxKustomization(app: string, t: { name: string; path: string; namespace: string }): K8sObject {
  return {
    apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
    kind: 'Kustomization',
    metadata: { name: t.name, namespace: 'flux-system', labels: appLabels(app) },
    spec: {
      interval: '5m',
      path: `./${t.path}`,
      prune: true,
      wait: true,
      timeout: '5m',
      targetNamespace: t.namespace,
      sourceRef: { kind: 'GitRepository', name: app },
    },
  };
}

export function kustomizeLayout(opts: LayoutOptions): Layout {
  const files = new Map<string, string>();
  const warnings: RenderWarning[] = [];
  const { base } = opts;
  for (const o of base.objects) files.set(`base/${objectFileName(o)}`, toYaml(o));
  files.set('base/kustomization.yaml', toYaml({ ...KUSTOMIZATION, resources: base.objects.map(objectFileName) }));
  for (const env of Object.keys(opts.envs).sort()) overlay(base, opts.envs[env], `overlays/${env}`, files);

  for (const img of base.images) {
    if (!img.build) continue;
    files.set(`images/${img.service}/Dockerfile`, dockerfile(base.app, img, opts.specDirFromOut));
    const out = opts.outDirFromSpec;
    const inside = out !== undefined ? posix.relative(img.build.context, out) : '..';
    const ownOut = inside !== '' && !inside.startsWith('..') && !posix.isAbsolute(inside) ? `# the render output itself\n/${inside}\n` : '';
    files.set(`images/${img.service}/Dockerfile.dockerignore`, DOCKERIGNORE + ownOut);
  }

  const repoUrl = opts.repoUrl ?? PLACEHOLDER_REPO;
  if (opts.repoUrl === undefined) warnings.push({ path: 'gitops', message: `no --repo-url: the Argo CD Applications and the Flux GitRepository point at ${PLACEHOLDER_REPO}; replace it with the repository this layout is committed to` });
  const gitops: K8sObject[] = [fluxSource(base.app, repoUrl)];
  files.set('gitops/flux/source.yaml', toYaml(gitops[0]));
  for (const t of gitopsTargets(opts)) {
    const application = argoApplication(base.app, t, repoUrl);
    const kustomization = fluxKustomization(base.app, t);
    gitops.push(application, kustomization);
    files.set(`gitops/argocd/${t.name}.yaml`, toYaml(application));
    files.set(`gitops/flux/${t.name}.yaml`, toYaml(kustomization));
  }
  return { files: new Map([...files.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))), gitops, warnings };
}
