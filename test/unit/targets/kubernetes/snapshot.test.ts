// Snapshot of the rendered example (examples/shop): the YAML stream for the default environment and
// for prod, and the whole --out layout, compared byte for byte with test/fixtures/kubernetes/shop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSpec } from '../../../../src/contract/index.js';
import { kustomizeLayout, toYamlStream, validateObjects, type RenderResult } from '../../../../src/targets/kubernetes/index.js';
import { ROOT, matchSnapshot, renderFile } from './helpers.js';

const SHOP = join(ROOT, 'examples/shop/berth.yaml');

test('examples/shop renders to the committed YAML stream (default and prod)', async () => {
  matchSnapshot('shop/stream.yaml', toYamlStream((await renderFile(SHOP)).objects));
  matchSnapshot('shop/stream-prod.yaml', toYamlStream((await renderFile(SHOP, { env: 'prod' })).objects));
  matchSnapshot('shop/stream-gateway-api.yaml', toYamlStream((await renderFile(SHOP, { mesh: 'gateway-api' })).objects));
});

test('examples/shop renders to the committed --out layout', async () => {
  const base = await renderFile(SHOP);
  const loaded = await loadSpec(SHOP);
  assert.ok(loaded.ok);
  const envs: Record<string, RenderResult> = {};
  for (const env of Object.keys(loaded.spec.environments)) envs[env] = await renderFile(SHOP, { env });
  const layout = kustomizeLayout({ base, envs, specDirFromOut: '../examples/shop', repoUrl: 'https://git.example.com/acme/shop.git', repoPath: 'deploy' });
  assert.deepEqual(await validateObjects(layout.gitops), []);
  for (const [path, content] of layout.files) matchSnapshot(`shop/out/${path}`, content);
  matchSnapshot('shop/out-files.txt', [...layout.files.keys()].join('\n') + '\n');
});

test('rendering is deterministic and independent of where the spec lives', async () => {
  const a = toYamlStream((await renderFile(SHOP)).objects);
  const b = toYamlStream((await renderFile(SHOP)).objects);
  assert.equal(a, b);
  const copy = mkdtempSync(join(tmpdir(), 'berth-shop-copy-'));
  cpSync(join(ROOT, 'examples/shop'), copy, { recursive: true, filter: (src) => !src.includes('.berth') });
  assert.equal(toYamlStream((await renderFile(join(copy, 'berth.yaml'))).objects), a);
  assert.equal(readFileSync(SHOP, 'utf8').length > 0, true);
});
