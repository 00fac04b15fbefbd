// `berth render` as a user runs it: YAML on stdout and warnings on stderr, --json, --out, --help,
// and usage / spec errors exiting 2 before anything is rendered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { BERTH, ROOT, tempApp } from './helpers.js';

const SHOP = join(ROOT, 'examples/shop/berth.yaml');
const berth = (args: string[], cwd = ROOT) => spawnSync(process.execPath, [BERTH, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

test('render prints one multi-document YAML stream; warnings go to stderr', () => {
  const r = berth(['render', '--target', 'kubernetes', '-f', SHOP]);
  assert.equal(r.status, 0, r.stderr);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as { kind: string });
  assert.deepEqual(docs.map((d) => d.kind), ['Service', 'Service', 'Service', 'Deployment', 'Deployment', 'Deployment', 'PodDisruptionBudget']);
  assert.match(r.stderr, /warning: services\.web\.probes\.startup\.periodSeconds/);
  assert.equal(r.stdout, readFileSync(join(ROOT, 'test/fixtures/kubernetes/shop/stream.yaml'), 'utf8'));
});

test('render --json lists objects, images and warnings', () => {
  const r = berth(['render', '-f', SHOP, '--env', 'prod', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { env: string; objects: { kind: string; spec: { replicas?: number } }[]; images: { service: string; image: string }[]; warnings: unknown[] };
  assert.equal(out.env, 'prod');
  assert.equal(out.images.length, 3);
  assert.ok(out.warnings.length > 0);
  assert.equal(out.objects.filter((o) => o.kind === 'Deployment').map((o) => o.spec.replicas).join(','), '1,1,4');
});

test('render --out writes the layout, refuses a foreign non-empty directory, and re-renders its own', () => {
  const dir = tempApp({});
  const out = join(dir, 'deploy');
  const r = berth(['render', '-f', SHOP, '--out', out, '--repo-url', 'https://git.example.com/acme/shop.git']);
  assert.equal(r.status, 0, r.stderr);
  for (const f of ['base/kustomization.yaml', 'overlays/prod/kustomization.yaml', 'images/web/Dockerfile', 'gitops/argocd/shop-prod.yaml', 'gitops/flux/shop.yaml']) assert.ok(existsSync(join(out, f)), f);
  const again = berth(['render', '-f', SHOP, '--out', out]);
  assert.equal(again.status, 0, again.stderr);
  const foreign = join(dir, 'mine');
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'notes.txt'), 'keep me');
  const refused = berth(['render', '-f', SHOP, '--out', foreign]);
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /not written by `berth render`/);
  assert.equal(readFileSync(join(foreign, 'notes.txt'), 'utf8'), 'keep me');
});

test('an invalid spec exits 2 with file:line:col, and nothing is rendered', () => {
  const dir = tempApp({ 'berth.yaml': 'app: shop\nservices:\n  web: { run: node w.js, port: 99999, image: "Not An Image" }\n' });
  const r = berth(['render', '-f', join(dir, 'berth.yaml')]);
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /berth\.yaml:3:\d+/);
  assert.match(r.stderr, /image/);
});

test('usage errors exit 2; --help exits 0', () => {
  assert.equal(berth(['render', '-f', SHOP, '--target', 'nomad']).status, 2);
  assert.equal(berth(['render', '-f', SHOP, '--mesh', 'linkerd']).status, 2);
  assert.equal(berth(['render', '-f', SHOP, '--env', 'nope']).status, 2);
  const outAndEnv = berth(['render', '-f', SHOP, '--env', 'prod', '--out', join(tempApp({}), 'o')]);
  assert.equal(outAndEnv.status, 2);
  for (const cmd of ['render', 'deploy']) {
    const h = berth([cmd, '--help']);
    assert.equal(h.status, 0);
    assert.match(h.stdout, /--target/);
  }
});

test('render --out inside the service directory: the tag does not depend on the previous render, and the .dockerignore excludes the output', () => {
  const app = tempApp({ 'berth.yaml': 'app: x\nservices:\n  web: { run: node web.js, port: 8080 }\n', 'web.js': '1' });
  const first = berth(['render', '--out', 'deploy'], app);
  assert.equal(first.status, 0, first.stderr);
  const dep = () => readFileSync(join(app, 'deploy/base/deployment-web.yaml'), 'utf8');
  const before = dep();
  const again = berth(['render', '--out', 'deploy'], app);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(dep(), before, 'a re-render names the same tag');
  assert.match(readFileSync(join(app, 'deploy/images/web/Dockerfile.dockerignore'), 'utf8'), /^\/deploy$/m);
});
