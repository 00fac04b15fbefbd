// Dockerfiles that build: the service's runtime and package manager are detected from its directory
// (Node with an npm, pnpm or yarn lockfile; Python with requirements.txt or pyproject.toml; else a
// static binary), dependencies install in their own cached layer before the sources are copied, a
// build step gets a separate build stage, the base image is a pinned slim one, and the image runs as
// an unprivileged user (the uid the pods run as). The `.dockerignore` keeps Berth's state directory
// (its token and databases), git metadata, installed modules and `.env*` files out of the image.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RUN_AS_USER } from './security.js';

/** Pinned slim bases (full versions, never a floating tag); bump them deliberately. */
export const BASE_IMAGES = {
  node: 'node:20.18.1-bookworm-slim',
  python: 'python:3.12.8-slim-bookworm',
  binary: 'debian:12.8-slim',
} as const;

/** Marks a directory written by `berth render --out`: never part of an image or its tag. */
export const RENDER_MARKER = '.berth-render';

/** What the `.dockerignore` excludes (and what the image tag's source hash skips). */
export const IGNORED = ['.berth', '.git', 'node_modules', '.env*'] as const;

export const DOCKERIGNORE = [
  '# Written by Berth: never copy the state directory (API token, databases), git metadata,',
  '# installed modules or environment files into the image.',
  ...IGNORED.flatMap((p) => [p, `**/${p}`]),
  '',
].join('\n');

export type Runtime =
  | { kind: 'node'; manager: 'npm' | 'pnpm' | 'yarn'; packageJson: boolean; lockfile?: string; build: boolean }
  | { kind: 'python'; deps: 'requirements.txt' | 'pyproject.toml' | 'none' }
  | { kind: 'binary' };

const NODE_PROGRAMS = /^(node|npm|npx|pnpm|yarn|tsx)$/;
const PYTHON_PROGRAMS = /^python[0-9.]*$|^(pip|uv|gunicorn|uvicorn)$/;

/** Detects the runtime from the build context's files, then from the command's program. */
export function detectRuntime(contextDir: string, argv: readonly string[]): Runtime {
  const has = (f: string) => existsSync(join(contextDir, f));
  const program = (argv[0] ?? '').split('/').pop() ?? '';
  if (has('package.json') || NODE_PROGRAMS.test(program)) {
    let build = false;
    if (has('package.json')) {
      try {
        const pkg = JSON.parse(readFileSync(join(contextDir, 'package.json'), 'utf8')) as { scripts?: Record<string, unknown> };
        build = typeof pkg.scripts?.build === 'string';
      } catch {
        // An unreadable package.json: npm reports it when the image is built; render without a build step.
        build = false;
      }
    }
    const packageJson = has('package.json');
    if (!packageJson) return { kind: 'node', manager: 'npm', packageJson, build };
    if (has('pnpm-lock.yaml')) return { kind: 'node', manager: 'pnpm', packageJson, lockfile: 'pnpm-lock.yaml', build };
    if (has('yarn.lock')) return { kind: 'node', manager: 'yarn', packageJson, lockfile: 'yarn.lock', build };
    if (has('package-lock.json')) return { kind: 'node', manager: 'npm', packageJson, lockfile: 'package-lock.json', build };
    if (has('npm-shrinkwrap.json')) return { kind: 'node', manager: 'npm', packageJson, lockfile: 'npm-shrinkwrap.json', build };
    return { kind: 'node', manager: 'npm', packageJson, build };
  }
  if (has('requirements.txt')) return { kind: 'python', deps: 'requirements.txt' };
  if (has('pyproject.toml')) return { kind: 'python', deps: 'pyproject.toml' };
  if (PYTHON_PROGRAMS.test(program)) return { kind: 'python', deps: 'none' };
  return { kind: 'binary' };
}

function nodeInstall(r: Extract<Runtime, { kind: 'node' }>, production: boolean): string[] {
  if (!r.packageJson) return [];
  const copy = `COPY package.json ${r.lockfile ? `${r.lockfile} ` : ''}./`;
  const cache = (target: string) => `--mount=type=cache,target=${target}`;
  if (r.manager === 'pnpm') {
    return [copy, `RUN ${cache('/root/.local/share/pnpm/store')} corepack enable && pnpm install --frozen-lockfile${production ? ' --prod' : ''}`];
  }
  if (r.manager === 'yarn') return [copy, `RUN ${cache('/usr/local/share/.cache/yarn')} corepack enable && yarn install --frozen-lockfile${production ? ' --production' : ''}`];
  const cmd = r.lockfile ? 'npm ci' : 'npm install --no-package-lock';
  return [copy, `RUN ${cache('/root/.npm')} ${cmd}${production ? ' --omit=dev' : ''} --no-audit --no-fund`];
}

const USER_LINES = [
  `RUN groupadd --system --gid ${RUN_AS_USER} app && useradd --system --uid ${RUN_AS_USER} --gid app --no-create-home --shell /usr/sbin/nologin app`,
  `USER ${RUN_AS_USER}:${RUN_AS_USER}`,
];

/** The body of the Dockerfile (after its comment header) for a detected runtime. */
export function dockerfileBody(r: Runtime): string[] {
  if (r.kind === 'node' && r.build) {
    return [
      `FROM ${BASE_IMAGES.node} AS build`,
      'WORKDIR /app',
      ...nodeInstall(r, false),
      'COPY . .',
      `RUN ${r.manager === 'npm' ? 'npm run build' : `${r.manager} run build`}`,
      '',
      `FROM ${BASE_IMAGES.node}`,
      'ENV NODE_ENV=production',
      'WORKDIR /app',
      ...nodeInstall(r, true),
      'COPY --from=build /app .',
      ...USER_LINES,
    ];
  }
  if (r.kind === 'node') return [`FROM ${BASE_IMAGES.node}`, 'ENV NODE_ENV=production', 'WORKDIR /app', ...nodeInstall(r, true), 'COPY . .', ...USER_LINES];
  if (r.kind === 'python') {
    const env = 'ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1';
    if (r.deps === 'requirements.txt') return [`FROM ${BASE_IMAGES.python}`, env, 'WORKDIR /app', 'COPY requirements.txt ./', 'RUN pip install --no-cache-dir -r requirements.txt', 'COPY . .', ...USER_LINES];
    if (r.deps === 'pyproject.toml') {
      return [
        `FROM ${BASE_IMAGES.python} AS build`,
        env,
        'WORKDIR /app',
        'COPY . .',
        'RUN pip wheel --no-cache-dir --wheel-dir /wheels .',
        '',
        `FROM ${BASE_IMAGES.python}`,
        env,
        'WORKDIR /app',
        'COPY --from=build /wheels /wheels',
        'RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels',
        'COPY . .',
        ...USER_LINES,
      ];
    }
    return [`FROM ${BASE_IMAGES.python}`, env, 'WORKDIR /app', 'COPY . .', ...USER_LINES];
  }
  return [`FROM ${BASE_IMAGES.binary}`, 'WORKDIR /app', 'COPY . .', ...USER_LINES];
}
