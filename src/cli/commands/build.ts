// `berth build [SERVICE…] [--push] [--registry R]`: builds the image of every service without
// `image:` — exactly the image and tag `berth render` names — with the container builder found on
// PATH (docker, podman or buildah, in that order, or --builder), from the generated Dockerfile and
// .dockerignore, and pushes it with --push. Says clearly when no builder is installed.
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { DOCKERIGNORE, dockerfile, OptionError, renderObjects, type ServiceImage } from '../../targets/kubernetes/index.js';
import { resolveContext } from '../context.js';
import { CliError, errors } from '../errors.js';
import { green } from '../output.js';
import { loadForTarget } from './render.js';

export const BUILDERS = ['docker', 'podman', 'buildah'] as const;
export type Builder = (typeof BUILDERS)[number];

export interface BuildFlags {
  file?: string;
  push?: boolean;
  registry?: string;
  builder?: string;
  set?: string[];
  json?: boolean;
}

/** The first of the builders that is an executable file on PATH. */
export function findBuilder(path = process.env.PATH ?? '', only?: Builder): { builder: Builder; bin: string } | undefined {
  for (const builder of only ? [only] : BUILDERS) {
    for (const dir of path.split(delimiter).filter(Boolean)) {
      const bin = join(dir, builder);
      try {
        accessSync(bin, constants.X_OK);
        return { builder, bin };
      } catch {
        // Not in this PATH entry (or not executable): keep looking.
      }
    }
  }
  return undefined;
}

/** argv of the build for one image: the Dockerfile and its ignore file beside it, the service's directory as context. */
export function buildArgv(builder: Builder, image: string, dockerfilePath: string, context: string): string[] {
  const ignore = `${dockerfilePath}.dockerignore`;
  if (builder === 'buildah') return ['bud', '--layers', '--ignorefile', ignore, '-f', dockerfilePath, '-t', image, context];
  if (builder === 'podman') return ['build', '--layers', '--ignorefile', ignore, '-f', dockerfilePath, '-t', image, context];
  // Docker's BuildKit reads <Dockerfile>.dockerignore beside the Dockerfile.
  return ['build', '-f', dockerfilePath, '-t', image, context];
}

function run(bin: string, argv: string[]): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(bin, argv, { stdio: ['ignore', process.stderr, process.stderr], env: { ...process.env, DOCKER_BUILDKIT: '1' } });
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise(code ?? (signal ? 128 : 1)));
  });
}

export async function build(services: string[], o: BuildFlags): Promise<void> {
  const ctx = resolveContext(o.file, true);
  const loaded = await loadForTarget(ctx.specFile!, undefined);
  const set = [...(o.registry !== undefined ? [`registry=${o.registry}`] : []), ...(o.set ?? [])];
  let images: ServiceImage[];
  let registry: string;
  try {
    const r = renderObjects({ spec: loaded.spec, dir: loaded.dir, set });
    images = r.images;
    registry = r.options.registry;
  } catch (err) {
    if (err instanceof OptionError) throw errors.usage(err.message);
    throw err;
  }
  const unknown = services.filter((s) => !images.some((i) => i.service === s));
  if (unknown.length) throw errors.usage(`unknown service${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`, `services in the spec: ${images.map((i) => i.service).join(', ')}`);
  const chosen = services.length ? images.filter((i) => services.includes(i.service)) : images;
  const toBuild = chosen.filter((i) => i.build);
  for (const i of chosen) if (!i.build) process.stderr.write(`${i.service}: has \`image: ${i.image}\` in the spec; nothing to build\n`);
  if (!toBuild.length) {
    if (o.json) process.stdout.write(JSON.stringify({ builder: null, images: [] }) + '\n');
    return;
  }
  if (o.push && !registry) throw errors.usage('--push needs a registry to push to', 'pass --registry registry.example.com/team (or set kubernetes.registry in the spec)');
  if (o.builder !== undefined && !(BUILDERS as readonly string[]).includes(o.builder)) throw errors.usage(`unknown builder \`${o.builder}\``, `use one of ${BUILDERS.join(', ')}`);
  const found = findBuilder(process.env.PATH, o.builder as Builder | undefined);
  if (!found) {
    throw new CliError(
      'BERTH_E_NO_BUILDER',
      `no container builder found: looked for ${o.builder ?? BUILDERS.join(', ')} on PATH`,
      1,
      `install one (e.g. \`apt-get install podman\`), or build images/<service>/Dockerfile from \`berth render --out\` where one is installed`,
    );
  }
  const work = mkdtempSync(join(tmpdir(), 'berth-build-'));
  const built: { service: string; image: string; pushed: boolean }[] = [];
  try {
    for (const img of toBuild) {
      const df = join(work, `${img.service}.Dockerfile`);
      writeFileSync(df, dockerfile(loaded.spec.app, img, '.'));
      writeFileSync(`${df}.dockerignore`, DOCKERIGNORE);
      const context = resolve(loaded.dir, img.build!.context);
      process.stderr.write(`${found.builder}: building ${img.image} from ${context}\n`);
      const code = await run(found.bin, buildArgv(found.builder, img.image, df, context));
      if (code !== 0) throw errors.failed(`${found.builder} could not build ${img.image} (exit ${code}); its output is above`);
      let pushed = false;
      if (o.push) {
        const pushCode = await run(found.bin, ['push', img.image]);
        if (pushCode !== 0) throw errors.failed(`${found.builder} could not push ${img.image} (exit ${pushCode}); its output is above`, 'log in to the registry first (`' + found.builder + ' login`)');
        pushed = true;
      }
      built.push({ service: img.service, image: img.image, pushed });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  if (o.json) {
    process.stdout.write(JSON.stringify({ builder: found.builder, images: built }) + '\n');
    return;
  }
  for (const b of built) process.stdout.write(`${green('ok', process.stdout)}: ${b.pushed ? 'built and pushed' : 'built'} ${b.image} (${b.service})\n`);
}
