// Secrets: the spec's `secrets:` and a service's envFile render as Secret objects (or ExternalSecret
// references), never into a ConfigMap; services get them as secretKeyRef variables or read-only files;
// the local runtime gives the same variables; the state directory's token never enters a rendered file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSpec } from '../../../../src/contract/index.js';
import { compile } from '../../../../src/plan/index.js';
import { kustomizeLayout, toYamlStream, validateObjects } from '../../../../src/targets/kubernetes/index.js';
import { renderAll } from './fixtures.js';
import { find, renderFile, tempApp } from './helpers.js';

const SPEC = `
app: x
secrets:
  api-key: { env: BERTH_TEST_API_KEY }
  tls: { file: certs/tls.pem }
  db-password: { value: "hunter2-in-spec" }
services:
  web:
    run: node web.js
    port: 8080
    envFile: .env
    env: { MODE: plain }
    secrets:
      - { name: api-key, env: API_KEY }
      - { name: db-password, env: DB_PASSWORD }
      - { name: tls, file: /run/secrets/tls.pem }
`;
const FILES = { '.env': 'STRIPE_KEY=sk_live_dotenv\nOTHER=dotenv-plain\n', 'certs/tls.pem': '-----BEGIN CERT-----\n', 'web.js': '' };
const VALUES = ['sk_live_dotenv', 'dotenv-plain', 'from-shell-123', 'hunter2-in-spec', 'BEGIN CERT'];

async function render(set: string[] = []) {
  process.env.BERTH_TEST_API_KEY = 'from-shell-123';
  const dir = tempApp({ 'berth.yaml': SPEC, ...FILES });
  return { dir, r: await renderFile(join(dir, 'berth.yaml'), { set }) };
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('secrets and envFile values render as Secrets used by secretKeyRef, secretRef and a read-only file; none in a ConfigMap', async () => {
  const { r } = await render();
  assert.deepEqual(await validateObjects(r.objects), []);
  assert.deepEqual(find(r, 'Secret', 'api-key').data, { value: b64('from-shell-123') });
  assert.deepEqual(find(r, 'Secret', 'tls').data, { value: b64('-----BEGIN CERT-----\n') });
  assert.deepEqual(find(r, 'Secret', 'web-env').data, { OTHER: b64('dotenv-plain'), STRIPE_KEY: b64('sk_live_dotenv') });
  const pod = find(r, 'Deployment', 'web').spec.template.spec;
  const app = pod.containers[0];
  assert.deepEqual(app.envFrom, [{ secretRef: { name: 'web-env' } }]);
  assert.deepEqual(app.env.find((e: { name: string }) => e.name === 'API_KEY'), { name: 'API_KEY', valueFrom: { secretKeyRef: { name: 'api-key', key: 'value' } } });
  assert.ok(app.volumeMounts.some((m: Record<string, unknown>) => m.mountPath === '/run/secrets/tls.pem' && m.subPath === 'value' && m.readOnly === true));
  assert.ok(pod.volumes.some((v: Record<string, { secretName?: string }>) => v.secret?.secretName === 'tls'));
  // The app finds the mounted file through the same variable as locally.
  assert.deepEqual(app.env.find((e: { name: string }) => e.name === 'BERTH_SECRET_FILE_TLS'), { name: 'BERTH_SECRET_FILE_TLS', value: '/run/secrets/tls.pem' });
  for (const cm of r.objects.filter((o) => o.kind === 'ConfigMap')) for (const v of VALUES) assert.ok(!JSON.stringify(cm).includes(v), `${cm.metadata.name} holds ${v}`);
  assert.ok(!r.objects.some((o) => o.kind === 'ConfigMap' && o.metadata.name === 'web-env'));
  for (const v of VALUES) assert.ok(!JSON.stringify(find(r, 'Deployment', 'web')).includes(v), `the Deployment holds ${v}`);
});

test('--secrets external-secrets: ExternalSecret references only, no value in any rendered object', async () => {
  const { r } = await render(['secrets=external-secrets', 'secretStore=vault']);
  assert.deepEqual(await validateObjects(r.objects), []);
  assert.ok(!r.objects.some((o) => o.kind === 'Secret'));
  const es = find(r, 'ExternalSecret', 'api-key');
  assert.deepEqual(es.spec.secretStoreRef, { name: 'vault', kind: 'ClusterSecretStore' });
  assert.deepEqual(es.spec.data, [{ secretKey: 'value', remoteRef: { key: 'x/api-key' } }]);
  assert.deepEqual(find(r, 'ExternalSecret', 'web-env').spec.dataFrom, [{ extract: { key: 'x/web-env' } }]);
  const all = toYamlStream(r.objects);
  for (const v of VALUES) assert.ok(!all.includes(v) && !all.includes(b64(v)), v);
});

test('locally the instance gets the same secret variables', async () => {
  process.env.BERTH_TEST_API_KEY = 'from-shell-123';
  const dir = tempApp({ 'berth.yaml': SPEC, ...FILES });
  const loaded = await loadSpec(join(dir, 'berth.yaml'));
  assert.ok(loaded.ok, JSON.stringify(!loaded.ok && loaded.errors));
  const state = compile(loaded.spec, { dir: loaded.dir, specFile: join(dir, 'berth.yaml') });
  const env = JSON.stringify(state);
  assert.ok(env.includes('"API_KEY":"from-shell-123"'));
  assert.ok(env.includes('"DB_PASSWORD":"hunter2-in-spec"'));
  // A `file` use carries the secret to the node agent, which writes it for the instance (secret-files.test.ts).
  const web = state.services.find((s) => s.name === 'web')!;
  assert.deepEqual(web.template.main.secretFiles, [{ name: 'tls', env: 'BERTH_SECRET_FILE_TLS', content: '-----BEGIN CERT-----\n' }]);
  assert.ok(!env.includes(join(dir, 'certs/tls.pem')), 'the source file path is not handed to the app');
});

test('an unset secret variable is a spec warning, and the instance goes without it (no crash)', async () => {
  delete process.env.BERTH_TEST_UNSET_KEY;
  const dir = tempApp({ 'berth.yaml': 'app: x\nsecrets:\n  k: { env: BERTH_TEST_UNSET_KEY }\nservices:\n  web: { run: node w.js, secrets: [{ name: k, env: K }] }\n' });
  const loaded = await loadSpec(join(dir, 'berth.yaml'));
  assert.ok(loaded.ok);
  assert.ok(loaded.warnings.some((w) => /BERTH_TEST_UNSET_KEY is not set/.test(w.message)));
  const state = compile(loaded.spec, { dir: loaded.dir, specFile: join(dir, 'berth.yaml') });
  assert.ok(!JSON.stringify(state).includes('"K":'));
});

test('an undeclared secret and a missing secret file are spec errors', async () => {
  const dir = tempApp({ 'berth.yaml': 'app: x\nsecrets:\n  a: { file: nope.pem }\nservices:\n  web: { run: node w.js, secrets: [{ name: b, env: B }] }\n' });
  const loaded = await loadSpec(join(dir, 'berth.yaml'));
  assert.ok(!loaded.ok);
  const messages = loaded.errors.map((e) => e.message).join('\n');
  assert.match(messages, /secret file not found/);
  assert.match(messages, /no secret `b`/);
});

test("the state directory's token never enters a rendered file (stream, --out layout, Dockerfiles)", async () => {
  const { dir, r } = await render();
  mkdirSync(join(dir, '.berth'), { recursive: true });
  writeFileSync(join(dir, '.berth/token'), 'state-dir-token-zzz');
  const again = await renderFile(join(dir, 'berth.yaml'));
  const layout = kustomizeLayout({ base: again, envs: {}, specDirFromOut: '.', repoPath: 'deploy' });
  const text = [toYamlStream(again.objects), ...layout.files.values()].join('\n');
  assert.ok(!text.includes('state-dir-token-zzz'));
  assert.ok(!text.includes(b64('state-dir-token-zzz')));
  assert.deepEqual(again.images, r.images, 'the state directory does not feed the image tag either');
});

test('secrets never in ConfigMaps, on every example and fixture (envFile values included)', async () => {
  for (const { label, result } of await renderAll()) {
    for (const o of result.objects.filter((x) => x.kind === 'ConfigMap')) assert.ok(!o.metadata.name.endsWith('-env'), `${label}: ${o.metadata.name}`);
    for (const d of result.objects.filter((x) => x.kind === 'Deployment')) {
      const c = (d.spec as { template: { spec: { containers: { envFrom?: Record<string, unknown>[] }[] } } }).template.spec.containers[0];
      for (const f of c.envFrom ?? []) assert.ok(!('configMapRef' in f), `${label}: ${d.metadata.name} reads env from a ConfigMap`);
    }
  }
});
