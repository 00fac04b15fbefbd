// Images: the spec's `image:` when set; otherwise one image per service and source revision,
// `[<registry>/]<app>-<service>:<source hash>`. The tag hashes the build context's files (minus what
// the .dockerignore excludes) and the generated Dockerfile — the code and build inputs, never the
// service's environment settings — so the base and every overlay run the same tag, and a tag is only
// ever named for sources that exist. The container's command always comes from `run`, so the image
// only has to hold the files, their dependencies and the runtime.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { splitCommand, type ServiceSpec } from '../../contract/index.js';
import { detectRuntime, dockerfileBody, IGNORED, RENDER_MARKER } from './dockerfile.js';
import type { ServiceImage } from './types.js';

const ignoredName = (name: string) => IGNORED.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));

/** Hash of the context's files (path and content, sorted), skipping what the .dockerignore excludes. */
export function sourceHash(contextDir: string, extra: string): string {
  const h = createHash('sha256');
  h.update(extra);
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      // A missing or unreadable directory contributes nothing; the build reports it.
      return;
    }
    for (const name of names) {
      if (ignoredName(name)) continue;
      const p = join(dir, name);
      const st = lstatSync(p);
      const rel = relative(contextDir, p).split(sep).join('/');
      // A `berth render --out` directory inside the context holds the tags themselves: hashing it would never settle.
      if (st.isDirectory()) {
        if (!existsSync(join(p, RENDER_MARKER))) walk(p);
      }
      else if (st.isFile()) h.update(`\0${rel}\0${st.size}\0`).update(readFileSync(p));
      else if (st.isSymbolicLink()) h.update(`\0${rel}\0link\0`);
    }
  };
  walk(contextDir);
  return h.digest('hex').slice(0, 12);
}

export function serviceImage(app: string, name: string, svc: ServiceSpec, dir: string, registry = ''): ServiceImage {
  if (svc.image !== undefined) return { service: name, image: svc.image };
  const contextDir = resolve(dir, svc.cwd ?? '.');
  const context = relative(dir, contextDir).split(sep).join('/') || '.';
  const argv = splitCommand(svc.run);
  const body = dockerfileBody(detectRuntime(contextDir, argv));
  const repo = `${registry ? `${registry}/` : ''}${app}-${name}`;
  return { service: name, image: `${repo}:${sourceHash(contextDir, body.join('\n'))}`, build: { context, argv, dockerfile: body } };
}

/**
 * A Dockerfile that builds a service's image from its cwd (see dockerfile.ts). The Deployment sets
 * the command; the header names the build command and the image it produces.
 */
export function dockerfile(app: string, img: ServiceImage, specDirFromOut: string): string {
  if (!img.build) throw new Error(`service ${img.service} has an image; no Dockerfile needed`);
  const contextFromOut = [specDirFromOut, img.build.context].filter((p) => p !== '.' && p !== '').join('/') || '.';
  return [
    '# syntax=docker/dockerfile:1',
    `# Image for service "${img.service}" of app "${app}", written by \`berth render --target kubernetes --out\`.`,
    `# \`berth build ${img.service}\` builds it; by hand, from the output directory (BuildKit reads Dockerfile.dockerignore beside it):`,
    `#   docker build -f images/${img.service}/Dockerfile -t ${img.image} ${contextFromOut}`,
    `# The Deployment sets the command (${JSON.stringify(img.build.argv)}).`,
    ...img.build.dockerfile,
    '',
  ].join('\n');
}
