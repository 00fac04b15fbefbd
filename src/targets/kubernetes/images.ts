// Images: the spec's `image:` when set; otherwise `<app>-<service>:<revision>`, with a warning
// naming the image to build, and (with --out) a Dockerfile per service that builds it from the
// service's `cwd`. The container's command always comes from `run`, so the image only has to hold
// the files and the runtime.
import { relative, resolve, sep } from 'node:path';
import { splitCommand, type ServiceSpec } from '../../contract/index.js';
import type { ServiceImage } from './types.js';

export function serviceImage(app: string, name: string, svc: ServiceSpec, revision: string, dir: string): ServiceImage {
  if (svc.image !== undefined) return { service: name, image: svc.image };
  const context = relative(dir, resolve(dir, svc.cwd ?? '.')).split(sep).join('/') || '.';
  return { service: name, image: `${app}-${name}:${revision}`, build: { context, argv: splitCommand(svc.run) } };
}

/** The runtime image a command most likely needs; the Dockerfile says to change it otherwise. */
function baseImage(argv: readonly string[]): string {
  const program = (argv[0] ?? '').split('/').pop() ?? '';
  if (/^(node|npm|npx|pnpm|yarn|tsx)$/.test(program)) return 'node:20-bookworm-slim';
  if (/^python[0-9.]*$|^(pip|uv|gunicorn|uvicorn)$/.test(program)) return 'python:3.12-slim-bookworm';
  return 'debian:bookworm-slim';
}

/**
 * A Dockerfile that builds a service's image from its cwd. The Deployment sets the command, so
 * CMD here only documents it (and makes `docker run` of the image behave the same).
 */
export function dockerfile(app: string, img: ServiceImage, specDirFromOut: string): string {
  if (!img.build) throw new Error(`service ${img.service} has an image; no Dockerfile needed`);
  const contextFromOut = [specDirFromOut, img.build.context].filter((p) => p !== '.' && p !== '').join('/') || '.';
  return [
    `# Image for service "${img.service}" of app "${app}", written by \`berth render --target kubernetes --out\`.`,
    `# Build it from the service's directory (the build context), e.g. from the output directory:`,
    `#   docker build -f images/${img.service}/Dockerfile -t ${img.image} ${contextFromOut}`,
    `# then push it where the cluster can pull it, or set \`image:\` on the service in the spec.`,
    `FROM ${baseImage(img.build.argv)}`,
    'WORKDIR /app',
    'COPY . /app',
    `CMD ${JSON.stringify(img.build.argv)}`,
    '',
  ].join('\n');
}
