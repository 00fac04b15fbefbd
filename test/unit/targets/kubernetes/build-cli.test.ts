// `berth build` as a user runs it: no builder on PATH is one clear error; with one (here a stub
// `podman` script that records its argv — no container runtime runs in CI) it builds exactly the
// image `berth render` names, from the generated Dockerfile and .dockerignore, and pushes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { BERTH, tempApp } from './helpers.js';

const SPEC = 'app: x\nservices:\n  web: { run: node web.js, port: 8080 }\n  db: { run: postgres, image: "postgres:16.4" }\n';
const berth = (args: string[], path: string, cwd: string) => spawnSync(process.execPath, [BERTH, ...args], { cwd, encoding: 'utf8', env: { ...process.env, PATH: path, NO_COLOR: '1' } });

test('berth build with no docker, podman or buildah on PATH says so in one line, exit 1', () => {
  const app = tempApp({ 'berth.yaml': SPEC, 'web.js': '' });
  const empty = mkdtempSync(join(tmpdir(), 'berth-nopath-'));
  const r = berth(['build'], empty, app);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^error: no container builder found: looked for docker, podman, buildah on PATH$/m);
  assert.match(r.stderr, /hint: install one/);
});

test('berth build with a stub podman: builds the rendered tag with the generated Dockerfile and .dockerignore, then pushes', () => {
  const app = tempApp({ 'berth.yaml': SPEC, 'web.js': 'console.log(1)\n', 'package.json': '{"name":"web"}', 'package-lock.json': '{}' });
  const bin = mkdtempSync(join(tmpdir(), 'berth-stub-'));
  const log = join(bin, 'calls.log');
  // The stub records each call and keeps a copy of the Dockerfile and ignore file it was given.
  writeFileSync(
    join(bin, 'podman'),
    `#!/bin/sh\necho "$@" >> ${log}\nprev=""\nfor a in "$@"; do if [ "$prev" = "-f" ]; then /bin/cp "$a" ${bin}/Dockerfile.seen; /bin/cp "$a.dockerignore" ${bin}/ignore.seen; fi; prev="$a"; done\nexit 0\n`,
  );
  chmodSync(join(bin, 'podman'), 0o755);
  const rendered = spawnSync(process.execPath, [BERTH, 'render', '--json', '--set', 'registry=registry.example.com/team'], { cwd: app, encoding: 'utf8' });
  assert.equal(rendered.status, 0, rendered.stderr);
  const image = (JSON.parse(rendered.stdout) as { images: { service: string; image: string }[] }).images.find((i) => i.service === 'web')!.image;
  const r = berth(['build', '--registry', 'registry.example.com/team', '--push', '--json'], bin, app);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { builder: 'podman', images: [{ service: 'web', image, pushed: true }] });
  assert.match(r.stderr, /db: has `image: postgres:16\.4` in the spec; nothing to build/);
  const calls = readFileSync(log, 'utf8').trim().split('\n');
  assert.equal(calls.length, 2);
  assert.match(calls[0], new RegExp(`^build --layers --ignorefile \\S+\\.dockerignore -f \\S+ -t ${image.replace(/[.]/g, '\\.')} ${app}$`));
  assert.equal(calls[1], `push ${image}`);
  assert.match(readFileSync(join(bin, 'Dockerfile.seen'), 'utf8'), /RUN --mount=type=cache,target=\/root\/\.npm npm ci --omit=dev/);
  assert.match(readFileSync(join(bin, 'ignore.seen'), 'utf8'), /^\.berth$/m);
  assert.ok(existsSync(app));
});

test('berth build: an unknown service and --push without a registry are usage errors (exit 2)', () => {
  const app = tempApp({ 'berth.yaml': SPEC, 'web.js': '' });
  const empty = mkdtempSync(join(tmpdir(), 'berth-nopath-'));
  const unknown = berth(['build', 'nope'], empty, app);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown service: nope/);
  const push = berth(['build', '--push'], empty, app);
  assert.equal(push.status, 2);
  assert.match(push.stderr, /--push needs a registry/);
});
