// Images: one per service and source revision — the tag follows the code and build inputs, never
// the environment settings, so the base and every overlay run the same tag; `image:` wins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { join } from 'node:path';
import { kustomizeLayout, type RenderResult } from '../../../../src/targets/kubernetes/index.js';
import { renderAll } from './fixtures.js';
import { find, renderFile, tempApp } from './helpers.js';

const SPEC = `
app: x
services:
  web:
    run: node web.js
    port: 8080
    env: { MODE: dev }
  api:
    run: node api.js
    cwd: api
    port: 8081
  db:
    run: postgres
    image: postgres:16.4
environments:
  prod:
    services:
      web: { replicas: 3, env: { MODE: prod, API_URL: "https://api.example.com" }, resources: { memoryMiB: 512 } }
      api: { env: { LOG: debug } }
      db: { replicas: 2 }
`;

const images = (r: RenderResult) => Object.fromEntries(r.objects.filter((o) => o.kind === 'Deployment').map((o) => [o.metadata.name, find(r, 'Deployment', o.metadata.name).spec.template.spec.containers[0].image as string]));

test('an overlay that changes env, replicas and resources runs the same image tag as the base', async () => {
  const dir = tempApp({ 'berth.yaml': SPEC, 'web.js': 'console.log(1)\n', 'api/api.js': 'console.log(2)\n' });
  const base = await renderFile(join(dir, 'berth.yaml'));
  const prod = await renderFile(join(dir, 'berth.yaml'), { env: 'prod' });
  assert.deepEqual(images(prod), images(base));
  assert.match(images(base).web, /^x-web:[0-9a-f]{12}$/);
  assert.equal(images(base).db, 'postgres:16.4', '`image:` wins');
  const layout = kustomizeLayout({ base, envs: { prod }, specDirFromOut: '..', repoPath: 'deploy' });
  const patches = [...layout.files].filter(([p]) => p.startsWith('overlays/prod/patches/'));
  assert.ok(patches.length > 0);
  for (const [path, content] of patches) assert.ok(!/\/image$|image:/m.test(content.replace(/^.*imagePull.*$/gm, '')), `${path} must not change the image:\n${content}`);
});

test('the tag follows the sources: a changed file makes a new tag, .env, .berth and node_modules do not', async () => {
  const dir = tempApp({ 'berth.yaml': SPEC, 'web.js': 'console.log(1)\n', 'api/api.js': 'console.log(2)\n' });
  const file = join(dir, 'berth.yaml');
  const first = images(await renderFile(file));
  writeFileSync(join(dir, '.env'), 'SECRET=1\n');
  for (const [p, content] of Object.entries({ '.berth/token': 'abc', 'node_modules/x/index.js': '1', '.git/HEAD': 'ref', 'api/.env.local': 'K=v' })) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), content);
  }
  assert.deepEqual(images(await renderFile(file)), first);
  writeFileSync(join(dir, 'web.js'), 'console.log(3)\n');
  const second = images(await renderFile(file));
  assert.notEqual(second.web, first.web);
  assert.equal(second.api, first.api, "api's own directory did not change");
});

test('--set registry=… prefixes every built image, not the spec\'s own', async () => {
  const dir = tempApp({ 'berth.yaml': SPEC, 'web.js': '', 'api/api.js': '' });
  const r = await renderFile(join(dir, 'berth.yaml'), { set: ['registry=registry.example.com/team'] });
  assert.match(images(r).web, /^registry\.example\.com\/team\/x-web:[0-9a-f]{12}$/);
  assert.equal(images(r).db, 'postgres:16.4');
});

test('image tags agree across the base and every overlay of every example and fixture', async () => {
  const byFile = new Map<string, Record<string, string>>();
  for (const { label, result } of await renderAll()) {
    const file = label.split(' ')[0];
    const seen = byFile.get(file);
    if (!seen) byFile.set(file, images(result));
    else assert.deepEqual(images(result), seen, label);
  }
});


test('a variant with its own cwd runs its own image, built from that directory; others share the service image', async () => {
  const dir = tempApp({
    'berth.yaml': 'app: x\nservices:\n  web:\n    run: node web.js\n    port: 8080\n    variants:\n      v2: { cwd: v2, replicas: 1 }\n      v3: { env: { A: b } }\n',
    'web.js': '1',
    'v2/web.js': '2',
  });
  const r = await renderFile(join(dir, 'berth.yaml'));
  const img = images(r);
  assert.match(img['web.v2'], /^x-web-v2:[0-9a-f]{12}$/);
  assert.equal(img['web.v3'], img.web);
  assert.notEqual(img['web.v2'].split(':')[1], img.web.split(':')[1]);
  assert.deepEqual(r.images.map((i) => i.service), ['web', 'web.v2']);
  assert.ok(!r.warnings.some((w) => /needs its own image/.test(w.message)));
  const layout = kustomizeLayout({ base: r, envs: {}, specDirFromOut: '.', repoPath: 'deploy' });
  assert.ok(layout.files.has('images/web.v2/Dockerfile'));
});
