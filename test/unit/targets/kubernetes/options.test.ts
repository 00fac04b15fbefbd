// Render options, not constants: the KEDA/Prometheus address, Gateway class, namespace, registry,
// probe profile… come from the spec's `kubernetes:` block or `--set key=value` (which wins), with
// the defaults docs/kubernetes.md states; a bad option is a usage error (exit 2), never a crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_OPTIONS, OptionError, resolveOptions, validateObjects } from '../../../../src/targets/kubernetes/index.js';
import { BERTH, ROOT, find, renderYaml, tempApp } from './helpers.js';

const SPEC = `
app: x
kubernetes:
  namespace: shop-prod
  prometheusUrl: http://prom.monitoring.svc:9090
  gatewayClass: eg
services:
  web:
    run: node w.js
    port: 8080
    scale: { min: 0, max: 3, metrics: [{ rps: 10 }] }
ingress:
  port: 9000
  routes:
    - { match: { path: { prefix: / } }, to: web }
`;

test('the kubernetes: block sets the Prometheus address, Gateway class and namespace; --set wins', async () => {
  const r = await renderYaml(SPEC);
  assert.deepEqual(await validateObjects(r.objects), []);
  const so = find(r, 'ScaledObject', 'web');
  assert.equal(so.spec.triggers[0].metadata.serverAddress, 'http://prom.monitoring.svc:9090');
  for (const o of r.objects) assert.equal(o.metadata.namespace, 'shop-prod', `${o.kind}/${o.metadata.name}`);
  assert.equal(find(r, 'Gateway', 'x-ingress').spec.gatewayClassName, 'eg');
  const over = await renderYaml(SPEC, { set: ['prometheusUrl=http://other:9090', 'namespace=ns2'] });
  assert.equal(find(over, 'ScaledObject', 'web').spec.triggers[0].metadata.serverAddress, 'http://other:9090');
  assert.equal(find(over, 'Deployment', 'web').metadata.namespace, 'ns2');
});

test('defaults: the ones docs/kubernetes.md states', async () => {
  const r = await renderYaml('app: x\nservices:\n  web: { run: node w.js, port: 8080, scale: { min: 0, max: 3, metrics: [{ rps: 10 }] } }\n');
  assert.equal(find(r, 'ScaledObject', 'web').spec.triggers[0].metadata.serverAddress, DEFAULT_OPTIONS.prometheusUrl);
  assert.equal(find(r, 'Deployment', 'web').metadata.namespace, undefined);
  const docs = readFileSync(join(ROOT, 'docs/kubernetes.md'), 'utf8');
  for (const [k, v] of Object.entries(DEFAULT_OPTIONS)) {
    assert.ok(docs.includes(`\`${k}\``), `docs/kubernetes.md names the option ${k}`);
    if (v !== '') assert.ok(docs.includes(String(v)), `docs/kubernetes.md states the default of ${k} (${v})`);
  }
});

test('bad options: unknown key, bad value, no = — an OptionError, and exit 2 from the CLI', () => {
  assert.throws(() => resolveOptions({}, ['nope=1']), (e: Error) => e instanceof OptionError && /unknown option `nope`/.test(e.message));
  assert.throws(() => resolveOptions({}, ['probeProfile=fast']), OptionError);
  assert.throws(() => resolveOptions({}, ['defaultMemoryMiB=-3']), OptionError);
  assert.throws(() => resolveOptions({}, ['namespace']), /expected key=value/);
  assert.throws(() => resolveOptions({ namespace: 'Bad_NS' }), /kubernetes: namespace must be a DNS-1123 label/);
  const dir = tempApp({ 'berth.yaml': 'app: x\nservices:\n  web: { run: node w.js }\n' });
  const r = spawnSync(process.execPath, [BERTH, 'render', '--set', 'nope=1'], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^error: --set nope: unknown option `nope`/m);
  const bad = spawnSync(process.execPath, [BERTH, 'render'], { cwd: tempApp({ 'berth.yaml': 'app: x\nkubernetes: { probeProfile: fast }\nservices:\n  web: { run: node w.js }\n' }), encoding: 'utf8' });
  assert.equal(bad.status, 2, 'the spec block is validated with the spec');
});
