// `berth render --target kubernetes`: the spec as Kubernetes manifests — one YAML stream on stdout
// (warnings on stderr), or with --out a Kustomize base + overlays, Dockerfiles and GitOps objects.
// Loaded only when the command runs: the renderer and its schema packages stay out of `berth ps`.
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { formatSpecErrors, loadSpec, type AppSpec } from '../../contract/index.js';
import {
  kustomizeLayout,
  OptionError,
  RENDER_MARKER,
  renderKubernetes,
  SchemaValidationError,
  toYamlStream,
  validateObjects,
  type MeshKind,
  type RenderResult,
  type RenderWarning,
} from '../../targets/kubernetes/index.js';
import { resolveContext } from '../context.js';
import { errors } from '../errors.js';
import { green, useColor, yellow } from '../output.js';
import { enforcePolicies } from '../policy-gate.js';

export interface RenderFlags {
  file?: string;
  env?: string;
  target?: string;
  mesh?: string;
  out?: string;
  repoUrl?: string;
  gatewayClass?: string;
  set?: string[];
  probeProfile?: string;
  secrets?: string;
  json?: boolean;
}

/** The render options the flags give, as `key=value` pairs (the shorthands first, so --set wins). */
export function setPairs(o: { gatewayClass?: string; probeProfile?: string; secrets?: string; set?: string[] }): string[] {
  return [
    ...(o.gatewayClass !== undefined ? [`gatewayClass=${o.gatewayClass}`] : []),
    ...(o.probeProfile !== undefined ? [`probeProfile=${o.probeProfile}`] : []),
    ...(o.secrets !== undefined ? [`secrets=${o.secrets}`] : []),
    ...(o.set ?? []),
  ];
}

const MESHES: readonly MeshKind[] = ['istio', 'gateway-api'];
/** Marks a directory as written by `berth render --out`, so a re-render may replace its contents. */
const MARKER = RENDER_MARKER;
const OWNED_DIRS = ['base', 'overlays', 'images', 'gitops'];

export function checkTargetFlags(o: { target?: string; mesh?: string }): MeshKind {
  if ((o.target ?? 'kubernetes') !== 'kubernetes') throw errors.usage(`unknown target \`${o.target}\``, 'the only target is kubernetes');
  const mesh = (o.mesh ?? 'istio') as MeshKind;
  if (!MESHES.includes(mesh)) throw errors.usage(`unknown mesh \`${o.mesh}\``, 'use --mesh istio or --mesh gateway-api');
  return mesh;
}

/** Loads the spec (with an environment overlay); an invalid spec prints its errors and exits 2 before anything is rendered. */
export async function loadForTarget(file: string, env: string | undefined): Promise<{ spec: AppSpec; dir: string; file: string }> {
  const res = await loadSpec(file, { env });
  if (!res.ok) throw errors.invalidSpec(formatSpecErrors(res.errors, { color: useColor(process.stderr) }));
  if (res.warnings.length) process.stderr.write(formatSpecErrors(res.warnings, { color: useColor(process.stderr) }) + '\n');
  // The policies in force (the spec's and the files'), so the renderer emits them as Kyverno ClusterPolicies too.
  const check = enforcePolicies(res, env);
  return { spec: { ...res.spec, policies: check.policies.map((p) => p.policy) }, dir: res.dir, file: res.file };
}

export async function renderValidated(spec: AppSpec, dir: string, env: string | undefined, mesh: MeshKind, set: readonly string[] = []): Promise<RenderResult> {
  try {
    return await renderKubernetes({ spec, dir, env, mesh, set });
  } catch (err) {
    if (err instanceof SchemaValidationError) throw errors.failed(err.message);
    if (err instanceof OptionError) throw errors.usage(err.message, 'see the render options in docs/kubernetes.md');
    throw err;
  }
}

export function printWarnings(warnings: readonly RenderWarning[]): void {
  for (const w of warnings) process.stderr.write(`${yellow('warning', process.stderr)}: ${w.path}: ${w.message}\n`);
}

function gitRoot(from: string): string | undefined {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, '.git'))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

const posixRel = (from: string, to: string) => relative(from, to).split(sep).join('/') || '.';

function prepareOutDir(out: string): void {
  if (existsSync(out)) {
    const entries = readdirSync(out);
    if (entries.length && !entries.includes(MARKER)) {
      throw errors.usage(`${out} is not empty and was not written by \`berth render\``, 'choose an empty or new directory for --out');
    }
    for (const d of OWNED_DIRS) rmSync(join(out, d), { recursive: true, force: true });
  }
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, MARKER), 'Written by `berth render --target kubernetes --out`; re-rendering replaces base/, overlays/, images/ and gitops/.\n');
}

async function renderOut(o: RenderFlags, specFile: string, mesh: MeshKind): Promise<void> {
  if (o.env !== undefined) throw errors.usage('--env cannot be combined with --out', 'with --out every environment of the spec gets its own overlay under overlays/<env>/');
  const base = await loadForTarget(specFile, undefined);
  const baseRender = await renderValidated(base.spec, base.dir, undefined, mesh, setPairs(o));
  const envs: Record<string, RenderResult> = {};
  for (const env of Object.keys(base.spec.environments).sort()) {
    const loaded = await loadForTarget(specFile, env);
    envs[env] = await renderValidated(loaded.spec, loaded.dir, env, mesh, setPairs(o));
  }
  const out = resolve(o.out!);
  const root = gitRoot(dirname(out));
  const repoPath = root !== undefined ? posixRel(root, out) : basename(out);
  const layout = kustomizeLayout({ base: baseRender, envs, specDirFromOut: posixRel(out, base.dir), outDirFromSpec: posixRel(base.dir, out), repoUrl: o.repoUrl, repoPath });
  const problems = await validateObjects(layout.gitops);
  if (problems.length) throw errors.failed(new SchemaValidationError(problems).message);
  prepareOutDir(out);
  for (const [path, content] of layout.files) {
    mkdirSync(dirname(join(out, path)), { recursive: true });
    writeFileSync(join(out, path), content);
  }
  const warnings = [...baseRender.warnings, ...Object.entries(envs).flatMap(([env, r]) => r.warnings.filter((w) => !baseRender.warnings.some((b) => b.path === w.path && b.message === w.message)).map((w) => ({ ...w, message: `${w.message} (env ${env})` }))), ...layout.warnings];
  if (o.json) {
    process.stdout.write(JSON.stringify({ app: baseRender.app, mesh, out, files: [...layout.files.keys()], objects: baseRender.objects.map(ref), environments: Object.keys(envs), warnings }) + '\n');
    return;
  }
  printWarnings(warnings);
  process.stdout.write(`${green('ok', process.stdout)}: wrote ${layout.files.size} files to ${o.out} (base/, ${Object.keys(envs).map((e) => `overlays/${e}/`).join(', ') || 'no overlays'}${layout.files.has('gitops/flux/source.yaml') ? ', gitops/' : ''}${baseRender.images.some((i) => i.build) ? ', images/' : ''})\n`);
}

const ref = (o: { apiVersion: string; kind: string; metadata: { name: string } }) => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name });

export async function render(o: RenderFlags): Promise<void> {
  const mesh = checkTargetFlags(o);
  const ctx = resolveContext(o.file, true);
  if (o.out !== undefined) return renderOut(o, ctx.specFile!, mesh);
  const loaded = await loadForTarget(ctx.specFile!, o.env);
  const result = await renderValidated(loaded.spec, loaded.dir, o.env, mesh, setPairs(o));
  if (o.json) {
    process.stdout.write(JSON.stringify({ app: result.app, env: result.env ?? null, mesh, objects: result.objects, images: result.images.map((i) => ({ service: i.service, image: i.image, build: i.build ? i.build.context : null })), warnings: result.warnings }) + '\n');
    return;
  }
  printWarnings(result.warnings);
  process.stdout.write(toYamlStream(result.objects));
}
