// What applying a desired state would change (`berth diff`): services added and removed, fields
// old → new under the spec's names, routes and app settings, secret values never shown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateSpecText } from '../../../src/contract/index.js';
import { compile, diffStates, type DesiredState } from '../../../src/plan/index.js';

function desired(yaml: string, env: Record<string, string> = {}): DesiredState {
  const dir = mkdtempSync(join(tmpdir(), 'berth-diff-'));
  const file = join(dir, 'berth.yaml');
  writeFileSync(file, yaml);
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const r = validateSpecText(yaml, file);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    // The same path for both sides, as one spec file compiled twice.
    return compile(r.spec, { dir: '/app', specFile: '/app/berth.yaml' });
  } finally {
    process.env = saved;
  }
}

const BASE = `app: shop
services:
  web:
    run: node web.js
    port: 8080
    replicas: 2
    env: { GREETING: hi }
  orders:
    run: node orders.js
    port: 8081
`;

test('the same spec: nothing would change', () => {
  const d = diffStates(desired(BASE), desired(BASE), { compareRevisions: true });
  assert.equal(d.changed, false);
  assert.deepEqual(d.services, []);
  assert.deepEqual(d.settings, []);
});

test('nothing applied yet: every service is added, with its replicas and port', () => {
  const d = diffStates(undefined, desired(BASE));
  assert.equal(d.changed, true);
  assert.deepEqual(
    d.services.map((s) => [s.service, s.change, s.fields]),
    [
      ['orders', 'added', [{ path: 'replicas', to: 1 }, { path: 'port', to: 8081 }]],
      ['web', 'added', [{ path: 'replicas', to: 2 }, { path: 'port', to: 8080 }]],
    ],
  );
});

test('fields changed per service, old → new, under the spec names; added and removed services', () => {
  const next = BASE.replace('replicas: 2', 'replicas: 3').replace('GREETING: hi', 'GREETING: hello').replace('  orders:\n    run: node orders.js\n    port: 8081\n', '  api:\n    run: node api.js\n    resources: { memoryMiB: 128 }\n');
  const d = diffStates(desired(BASE), desired(next), { compareRevisions: true });
  const web = d.services.find((s) => s.service === 'web')!;
  assert.equal(web.change, 'changed');
  assert.notEqual(web.revision.from, web.revision.to);
  assert.deepEqual(web.fields, [
    { path: 'env.GREETING', from: 'hi', to: 'hello' },
    { path: 'replicas', from: 2, to: 3 },
  ]);
  assert.deepEqual(d.services.find((s) => s.service === 'api')?.change, 'added');
  assert.deepEqual(d.services.find((s) => s.service === 'orders')?.change, 'removed');
});

test('replicas alone: the same revision, one field', () => {
  const d = diffStates(desired(BASE), desired(BASE.replace('replicas: 2', 'replicas: 5')), { compareRevisions: true });
  assert.equal(d.services.length, 1);
  assert.equal(d.services[0].revision.from, d.services[0].revision.to);
  assert.deepEqual(d.services[0].fields, [{ path: 'replicas', from: 2, to: 5 }]);
});

test('routes and app settings (ingress) are compared', () => {
  const withRoutes = `${BASE}ingress: { port: 9000, routes: [{ match: { path: { prefix: / } }, to: web }] }\n`;
  const d = diffStates(desired(withRoutes), desired(withRoutes.replace('port: 9000', 'port: 9001').replace('  orders:\n', '    routes: [{ timeout: 2s }]\n  orders:\n')));
  assert.deepEqual(d.settings.map((f) => [f.path, f.from, f.to]), [['ingress.port', 9000, 9001]]);
  const web = d.services.find((s) => s.service === 'web')!;
  assert.deepEqual(web.fields.map((f) => f.path), ['routes']);
});

test('a secret value never appears: its variable shows as (secret)', () => {
  const spec = `app: shop
secrets:
  token: { env: DIFF_TEST_TOKEN }
services:
  web:
    run: node web.js
    secrets: [{ name: token, env: TOKEN }]
`;
  const before = desired(spec, { DIFF_TEST_TOKEN: 's3cret-one' });
  const after = desired(spec, { DIFF_TEST_TOKEN: 's3cret-two' });
  const d = diffStates(before, after, { secretEnv: { web: ['TOKEN'] } });
  assert.equal(d.changed, true);
  assert.deepEqual(d.services[0].fields, [{ path: 'env.TOKEN', from: '(secret)', to: '(secret)' }]);
  assert.doesNotMatch(JSON.stringify(d), /s3cret/);
});
